// JSON values: construction, typed access with errors naming where, comparison (core/json.h).
#include "core/json.h"

#include <charconv>
#include <cmath>
#include <cstdlib>

#include "core/error.h"

namespace dsa::json {

const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::kNull: return "null";
    case Kind::kBool: return "a boolean";
    case Kind::kNumber: return "a number";
    case Kind::kString: return "a string";
    case Kind::kArray: return "an array";
    case Kind::kObject: return "an object";
  }
  return "an unknown kind";
}

// ---- Value ----------------------------------------------------------------------------------

namespace {
template <std::floating_point T>
std::string shortest_text(T number) {
  if (std::isnan(number)) return "NaN";
  if (std::isinf(number)) return number > 0 ? "Infinity" : "-Infinity";
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), number);
  return std::string(buffer, result.ptr);
}
}  // namespace

std::string format_number(double number) { return shortest_text(number); }
std::string format_number(float number) { return shortest_text(number); }

Value Value::number_with_text(double number, std::string text) {
  Value value(Kind::kNumber);
  value.number_ = number;
  value.text_ = std::move(text);
  return value;
}

Value Value::number_from_integer(int64_t integer) {
  return number_with_text(static_cast<double>(integer), std::to_string(integer));
}

Value Value::number_from_unsigned(uint64_t integer) {
  return number_with_text(static_cast<double>(integer), std::to_string(integer));
}

Value Value::number_from_double(double number) { return number_with_text(number, format_number(number)); }

Value Value::number_from_float(float number) {
  std::string text = format_number(number);
  if (!std::isfinite(number)) return number_with_text(number, std::move(text));
  const double widened = std::strtod(text.c_str(), nullptr);  // before `text` is moved from
  return number_with_text(widened, std::move(text));
}

const std::string& Value::empty_text() {
  static const std::string empty;
  return empty;
}

void Value::fail_kind(std::string_view where, const char* expected) const {
  fail(where, ": expected ", expected, ", found ", kind_name(kind_));
}

bool Value::as_bool(std::string_view where) const {
  if (kind_ != Kind::kBool) fail_kind(where, "a boolean");
  return flag_;
}

double Value::as_number(std::string_view where) const {
  if (kind_ != Kind::kNumber) fail_kind(where, "a number");
  return number_;
}

int64_t Value::as_int(std::string_view where) const {
  if (kind_ != Kind::kNumber) fail_kind(where, "an integer");
  int64_t integer = 0;
  const char* end = text_.data() + text_.size();
  const auto result = std::from_chars(text_.data(), end, integer);
  if (result.ec == std::errc() && result.ptr == end) return integer;
  // "3.0", "1e3": integral doubles within the range where every integer is exact.
  constexpr double kExactLimit = 9007199254740992.0;  // 2^53
  if (std::trunc(number_) == number_ && std::fabs(number_) <= kExactLimit)
    return static_cast<int64_t>(number_);
  fail(where, ": expected an integer, found ", text_);
}

const std::string& Value::as_string(std::string_view where) const {
  if (kind_ != Kind::kString) fail_kind(where, "a string");
  return text_;
}

const std::vector<Value>& Value::items(std::string_view where) const {
  if (kind_ != Kind::kArray) fail_kind(where, "an array");
  return items_;
}

void Value::push_back(Value item) {
  if (kind_ == Kind::kNull) kind_ = Kind::kArray;
  DSA_CHECK(kind_ == Kind::kArray, "json: push_back on ", kind_name(kind_), ", not an array");
  items_.push_back(std::move(item));
}

const std::vector<Value::Member>& Value::members(std::string_view where) const {
  if (kind_ != Kind::kObject) fail_kind(where, "an object");
  return members_;
}

const Value* Value::find(std::string_view key) const {
  if (kind_ != Kind::kObject) return nullptr;
  for (const Member& member : members_)
    if (member.first == key) return &member.second;
  return nullptr;
}

const Value& Value::at(std::string_view key, std::string_view where) const {
  if (kind_ != Kind::kObject) fail_kind(where, "an object");
  const Value* value = find(key);
  DSA_CHECK(value != nullptr, where, ": missing key '", key, "'");
  return *value;
}

Value& Value::set(std::string_view key, Value value) {
  Value& slot = (*this)[key];
  slot = std::move(value);
  return slot;
}

Value& Value::operator[](std::string_view key) {
  if (kind_ == Kind::kNull) kind_ = Kind::kObject;
  DSA_CHECK(kind_ == Kind::kObject, "json: key '", key, "' set on ", kind_name(kind_),
            ", not an object");
  for (Member& member : members_)
    if (member.first == key) return member.second;
  members_.emplace_back(std::string(key), Value());
  return members_.back().second;
}

size_t Value::size() const {
  if (kind_ == Kind::kArray) return items_.size();
  if (kind_ == Kind::kObject) return members_.size();
  return 0;
}

bool operator==(const Value& a, const Value& b) {
  if (a.kind_ != b.kind_) return false;
  switch (a.kind_) {
    case Kind::kNull: return true;
    case Kind::kBool: return a.flag_ == b.flag_;
    case Kind::kNumber:
      return a.number_ == b.number_ || (std::isnan(a.number_) && std::isnan(b.number_));
    case Kind::kString: return a.text_ == b.text_;
    case Kind::kArray: return a.items_ == b.items_;
    case Kind::kObject: return a.members_ == b.members_;
  }
  return false;
}

}  // namespace dsa::json
