// The JSON parser (core/json.h): a recursive-descent reader with errors naming the origin and
// the byte offset.
#include "core/json.h"

#include <charconv>
#include <cstdlib>
#include <limits>
#include <unordered_set>

#include "core/error.h"

namespace dsa::json {

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

Value parse(std::string_view text, std::string_view origin) { return detail::Parser(text, origin).parse_document(); }

}  // namespace dsa::json
