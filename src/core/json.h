// A small JSON value, parser and writer: enough for safetensors headers, config.json, summary.json,
// metrics.jsonl and meta.json, without an outside library (core/ depends on nothing of ours).
//
// - Objects keep insertion order (the order a file was written in, or the order members were set),
//   so a dump of a parsed file keeps its key order. Duplicate keys are a parse error.
// - Numbers keep their original text next to the double, so integers beyond 2^53 (offsets, counters)
//   read back exactly through as_int(), and a parsed file dumps its numbers unchanged.
// - Non-finite numbers are written as NaN / Infinity / -Infinity, as Python's json module writes
//   and reads them (strict JSON has no spelling for them); the parser accepts those words too.
// - Strings are UTF-8; \uXXXX escapes (with surrogate pairs) are decoded to UTF-8. The writer
//   escapes '"', '\\' and control characters and passes every other byte through.
#pragma once
#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace dsa::json {

namespace detail {
class Parser;
}

enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };

// Name of a kind for error messages: "null", "a boolean", "a number", ...
const char* kind_name(Kind kind);

class Value {
 public:
  using Member = std::pair<std::string, Value>;

  Value() = default;  // null
  Value(bool flag) : kind_(Kind::kBool), flag_(flag) {}
  template <std::integral T>
    requires(!std::same_as<T, bool>)
  Value(T integer)
      : Value(std::is_signed_v<T> ? number_from_integer(static_cast<int64_t>(integer))
                                  : number_from_unsigned(static_cast<uint64_t>(integer))) {}
  // A double is written in its shortest round-trip form (0.1 -> "0.1"). A float is written in the
  // shortest form that reads back as the same float (0.1f -> "0.1", not "0.10000000149011612"),
  // and its number() is that text read as a double — what a reader of the file will see.
  Value(double number) : Value(number_from_double(number)) {}
  Value(float number) : Value(number_from_float(number)) {}
  Value(const char* text) : Value(std::string(text)) {}
  Value(std::string_view text) : Value(std::string(text)) {}
  Value(std::string text) : kind_(Kind::kString), text_(std::move(text)) {}

  static Value array() { return Value(Kind::kArray); }
  static Value object() { return Value(Kind::kObject); }
  // A number with its source spelling (used by the parser; `text` must be a valid JSON number).
  static Value number_with_text(double number, std::string text);

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::kNull; }
  bool is_bool() const { return kind_ == Kind::kBool; }
  bool is_number() const { return kind_ == Kind::kNumber; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_array() const { return kind_ == Kind::kArray; }
  bool is_object() const { return kind_ == Kind::kObject; }

  // Typed reads. `where` names the value in the error ("config.json: hidden_size"), e.g.
  // "config.json: hidden_size: expected an integer, found a string".
  bool as_bool(std::string_view where = "json value") const;
  double as_number(std::string_view where = "json value") const;
  // Exact for any integer literal that fits int64 (also "3.0" and "1e3"); errors otherwise.
  int64_t as_int(std::string_view where = "json value") const;
  const std::string& as_string(std::string_view where = "json value") const;
  // The number's text as written ("0.1", "1e-05"); empty for non-numbers.
  const std::string& number_text() const { return kind_ == Kind::kNumber ? text_ : empty_text(); }

  // Arrays.
  const std::vector<Value>& items(std::string_view where = "json value") const;
  void push_back(Value item);  // a null value becomes an array first

  // Objects.
  const std::vector<Member>& members(std::string_view where = "json value") const;
  const Value* find(std::string_view key) const;  // nullptr when absent or not an object
  bool contains(std::string_view key) const { return find(key) != nullptr; }
  // Throws "<where>: missing key 'key'" (or "<where>: expected an object, found ...").
  const Value& at(std::string_view key, std::string_view where = "json value") const;
  // Replaces the member's value in place (keeping its position) or appends a new member;
  // a null value becomes an object first. Returns the stored value.
  Value& set(std::string_view key, Value value);
  // Like set(key, null) when absent; returns the member for assignment: obj["a"] = 3.
  Value& operator[](std::string_view key);

  size_t size() const;  // items of an array, members of an object, 0 otherwise

  friend bool operator==(const Value& a, const Value& b);

 private:
  friend class detail::Parser;  // appends members without the linear duplicate scan of set()
  explicit Value(Kind kind) : kind_(kind) {}
  static Value number_from_integer(int64_t integer);
  static Value number_from_unsigned(uint64_t integer);
  static Value number_from_double(double number);
  static Value number_from_float(float number);
  static const std::string& empty_text();
  [[noreturn]] void fail_kind(std::string_view where, const char* expected) const;

  Kind kind_ = Kind::kNull;
  bool flag_ = false;
  double number_ = 0;
  std::string text_;  // string value, or the number's spelling
  std::vector<Value> items_;
  std::vector<Member> members_;
};

// Parses one JSON document (surrounding whitespace allowed, nothing else after it). Errors read
// "<origin>:<line>:<column> (byte <offset>): <what is wrong>", e.g.
// "config.json:3:14 (byte 52): expected ',' or '}' after an object member".
Value parse(std::string_view text, std::string_view origin);

// Writes `value` as JSON. indent < 0: one line, no spaces ({"a":1,"b":[1,2]}), for metrics.jsonl
// and headers; indent >= 0: one member/item per line, nested `indent` spaces deeper each level.
std::string dump(const Value& value, int indent = -1);

// The shortest decimal text that reads back as exactly `number` ("0.1", "1e-05", "3");
// NaN / Infinity / -Infinity for non-finite values. The float overload: shortest for a float.
std::string format_number(double number);
std::string format_number(float number);

}  // namespace dsa::json
