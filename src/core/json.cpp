#include "core/json.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <unordered_set>

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

// ---- parser ---------------------------------------------------------------------------------

namespace detail {

// Deep nesting would overflow the stack of this recursive parser; no file of ours nests past ~5.
constexpr int kMaxDepth = 256;

class Parser {
 public:
  Parser(std::string_view text, std::string_view origin) : text_(text), origin_(origin) {}

  Value parse_document() {
    skip_whitespace();
    Value value = parse_value(0);
    skip_whitespace();
    if (pos_ != text_.size()) fail_here("unexpected text after the JSON value");
    return value;
  }

 private:
  [[noreturn]] void fail_here(std::string_view what) const { fail_at(pos_, what); }

  [[noreturn]] void fail_at(size_t offset, std::string_view what) const {
    size_t line = 1, column = 1;
    for (size_t i = 0; i < offset && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    fail(origin_, ":", line, ":", column, " (byte ", offset, "): ", what);
  }

  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return at_end() ? '\0' : text_[pos_]; }

  void skip_whitespace() {
    while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) ++pos_;
  }

  void expect(char wanted, std::string_view context) {
    if (peek() != wanted) fail_here(cat("expected '", wanted, "' ", context, found()));
    ++pos_;
  }

  // ", found 'x'" / ", found end of input": what stood where something else was expected.
  std::string found() const {
    if (at_end()) return ", found end of input";
    const unsigned char byte = static_cast<unsigned char>(peek());
    if (byte < 0x20 || byte >= 0x7f) return cat(", found byte 0x", hex_byte(byte));
    return cat(", found '", peek(), "'");
  }

  static std::string hex_byte(unsigned char byte) {
    const char* digits = "0123456789abcdef";
    return {digits[byte >> 4], digits[byte & 15]};
  }

  bool consume_word(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  Value parse_value(int depth) {
    if (depth > kMaxDepth) fail_here(cat("nesting deeper than ", kMaxDepth, " levels"));
    const char c = peek();
    if (c == '{') return parse_object(depth);
    if (c == '[') return parse_array(depth);
    if (c == '"') return Value(parse_string());
    if (c == '-' || (c >= '0' && c <= '9')) return parse_number();
    if (consume_word("true")) return Value(true);
    if (consume_word("false")) return Value(false);
    if (consume_word("null")) return Value();
    if (consume_word("NaN")) return Value::number_with_text(std::numeric_limits<double>::quiet_NaN(), "NaN");
    if (consume_word("Infinity"))
      return Value::number_with_text(std::numeric_limits<double>::infinity(), "Infinity");
    fail_here(cat("expected a JSON value", found()));
  }

  Value parse_object(int depth) {
    const size_t start = pos_;
    ++pos_;  // '{'
    Value object = Value::object();
    std::unordered_set<std::string> seen_keys;  // a safetensors header can hold thousands of keys
    skip_whitespace();
    if (peek() == '}') {
      ++pos_;
      return object;
    }
    while (true) {
      skip_whitespace();
      const size_t key_offset = pos_;
      if (peek() != '"') fail_here(cat("expected a string key in the object opened at byte ", start, found()));
      std::string key = parse_string();
      if (!seen_keys.insert(key).second) fail_at(key_offset, cat("duplicate key '", key, "'"));
      skip_whitespace();
      expect(':', "after an object key");
      skip_whitespace();
      object.members_.emplace_back(std::move(key), parse_value(depth + 1));
      skip_whitespace();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == '}') {
        ++pos_;
        return object;
      }
      fail_here(cat("expected ',' or '}' after an object member", found()));
    }
  }

  Value parse_array(int depth) {
    ++pos_;  // '['
    Value array = Value::array();
    skip_whitespace();
    if (peek() == ']') {
      ++pos_;
      return array;
    }
    while (true) {
      skip_whitespace();
      array.push_back(parse_value(depth + 1));
      skip_whitespace();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == ']') {
        ++pos_;
        return array;
      }
      fail_here(cat("expected ',' or ']' after an array item", found()));
    }
  }

  Value parse_number() {
    const size_t start = pos_;
    if (peek() == '-') {
      ++pos_;
      if (consume_word("Infinity"))
        return Value::number_with_text(-std::numeric_limits<double>::infinity(), "-Infinity");
    }
    if (peek() == '0') {
      ++pos_;
    } else if (!skip_digits()) {
      fail_here(cat("expected a digit in a number", found()));
    }
    if (peek() == '.') {
      ++pos_;
      if (!skip_digits()) fail_here(cat("expected a digit after '.'", found()));
    }
    if (peek() == 'e' || peek() == 'E') {
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (!skip_digits()) fail_here(cat("expected a digit in the exponent", found()));
    }
    const std::string_view spelling = text_.substr(start, pos_ - start);
    double number = 0;
    const auto result = std::from_chars(spelling.data(), spelling.data() + spelling.size(), number);
    // from_chars reports out-of-range for overflow (1e999) and underflow; JSON allows both, so
    // follow strtod: overflow becomes infinity, underflow zero.
    if (result.ec == std::errc::result_out_of_range) number = std::strtod(std::string(spelling).c_str(), nullptr);
    return Value::number_with_text(number, std::string(spelling));
  }

  bool skip_digits() {
    const size_t start = pos_;
    while (peek() >= '0' && peek() <= '9') ++pos_;
    return pos_ > start;
  }

  std::string parse_string() {
    const size_t start = pos_;
    ++pos_;  // opening quote
    std::string out;
    while (true) {
      if (at_end()) fail_at(start, "unterminated string");
      const char c = text_[pos_];
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (static_cast<unsigned char>(c) < 0x20) fail_here("control character in a string (must be escaped)");
      if (c != '\\') {
        out += c;
        ++pos_;
        continue;
      }
      ++pos_;
      parse_escape(out);
    }
  }

  void parse_escape(std::string& out) {
    const char c = peek();
    ++pos_;
    switch (c) {
      case '"': out += '"'; return;
      case '\\': out += '\\'; return;
      case '/': out += '/'; return;
      case 'b': out += '\b'; return;
      case 'f': out += '\f'; return;
      case 'n': out += '\n'; return;
      case 'r': out += '\r'; return;
      case 't': out += '\t'; return;
      case 'u': append_utf8(out, parse_code_point()); return;
      default: --pos_; fail_here(cat("invalid escape in a string", found()));
    }
  }

  uint32_t parse_hex4() {
    uint32_t value = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = peek();
      uint32_t digit = 0;
      if (c >= '0' && c <= '9') digit = c - '0';
      else if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') digit = c - 'A' + 10;
      else fail_here(cat("expected 4 hex digits after \\u", found()));
      value = value * 16 + digit;
      ++pos_;
    }
    return value;
  }

  // After "\u": one code unit, or a surrogate pair "\uD83D\uDE00" joined into one code point.
  uint32_t parse_code_point() {
    const size_t start = pos_;
    const uint32_t unit = parse_hex4();
    if (unit >= 0xDC00 && unit <= 0xDFFF) fail_at(start, "unpaired low surrogate in \\u escape");
    if (unit < 0xD800 || unit > 0xDBFF) return unit;
    if (!consume_word("\\u")) fail_at(start, "high surrogate in \\u escape not followed by a low one");
    const uint32_t low = parse_hex4();
    if (low < 0xDC00 || low > 0xDFFF) fail_at(start, "high surrogate in \\u escape not followed by a low one");
    return 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
  }

  static void append_utf8(std::string& out, uint32_t code_point) {
    if (code_point < 0x80) {
      out += static_cast<char>(code_point);
    } else if (code_point < 0x800) {
      out += static_cast<char>(0xC0 | (code_point >> 6));
      out += static_cast<char>(0x80 | (code_point & 0x3F));
    } else if (code_point < 0x10000) {
      out += static_cast<char>(0xE0 | (code_point >> 12));
      out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code_point & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (code_point >> 18));
      out += static_cast<char>(0x80 | ((code_point >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code_point & 0x3F));
    }
  }

  std::string_view text_;
  std::string_view origin_;
  size_t pos_ = 0;
};

}  // namespace detail

namespace {

// ---- writer ---------------------------------------------------------------------------------

void dump_string(const std::string& text, std::string& out) {
  out += '"';
  for (const char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          const char* digits = "0123456789abcdef";
          out += "\\u00";
          out += digits[(c >> 4) & 15];
          out += digits[c & 15];
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

class Writer {
 public:
  explicit Writer(int indent) : indent_(indent) {}

  void write(const Value& value, int level, std::string& out) const {
    switch (value.kind()) {
      case Kind::kNull: out += "null"; return;
      case Kind::kBool: out += value.as_bool() ? "true" : "false"; return;
      case Kind::kNumber: out += value.number_text(); return;
      case Kind::kString: dump_string(value.as_string(), out); return;
      case Kind::kArray: write_array(value, level, out); return;
      case Kind::kObject: write_object(value, level, out); return;
    }
  }

 private:
  void newline(int level, std::string& out) const {
    if (indent_ < 0) return;
    out += '\n';
    out.append(static_cast<size_t>(level * indent_), ' ');
  }

  void write_array(const Value& array, int level, std::string& out) const {
    const auto& items = array.items();
    out += '[';
    for (size_t i = 0; i < items.size(); ++i) {
      if (i) out += ',';
      newline(level + 1, out);
      write(items[i], level + 1, out);
    }
    if (!items.empty()) newline(level, out);
    out += ']';
  }

  void write_object(const Value& object, int level, std::string& out) const {
    const auto& members = object.members();
    out += '{';
    for (size_t i = 0; i < members.size(); ++i) {
      if (i) out += ',';
      newline(level + 1, out);
      dump_string(members[i].first, out);
      out += indent_ < 0 ? ":" : ": ";
      write(members[i].second, level + 1, out);
    }
    if (!members.empty()) newline(level, out);
    out += '}';
  }

  int indent_;
};

}  // namespace

Value parse(std::string_view text, std::string_view origin) { return detail::Parser(text, origin).parse_document(); }

std::string dump(const Value& value, int indent) {
  std::string out;
  Writer(indent).write(value, 0, out);
  return out;
}

}  // namespace dsa::json
