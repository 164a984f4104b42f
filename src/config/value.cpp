#include "config/value.h"

#include <charconv>
#include <cmath>
#include <optional>

#include "core/error.h"

namespace dsa::config::schema {
namespace {

std::string_view without_plus(std::string_view text) {
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  return text;
}

// Parses the whole of `text` as a T (no hex, no octal, no trailing characters).
template <class T>
std::optional<T> parse_number(std::string_view text) {
  text = without_plus(text);
  T value{};
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<bool> parse_bool(const std::string& text) {
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  return std::nullopt;
}

[[noreturn]] void fail_type(const std::string& origin, const std::string& key,
                            const std::string& expected, const YAML::Node& node) {
  fail(origin, ": ", key, ": expected ", expected, ", got ", shown(node));
}

std::string range_text(const Rule& rule) {
  if (rule.min && rule.max) {
    return cat("in ", rule.min_exclusive ? "(" : "[", format_number(*rule.min), ", ",
               format_number(*rule.max), rule.max_exclusive ? ")" : "]");
  }
  if (rule.min) return cat(rule.min_exclusive ? "> " : ">= ", format_number(*rule.min));
  if (rule.max) return cat(rule.max_exclusive ? "< " : "<= ", format_number(*rule.max));
  return "";
}

bool in_range(const Rule& rule, double number) {
  if (rule.min && (rule.min_exclusive ? number <= *rule.min : number < *rule.min)) return false;
  if (rule.max && (rule.max_exclusive ? number >= *rule.max : number > *rule.max)) return false;
  return true;
}

void check_range(const Rule& rule, double number, const std::string& text, const std::string& key,
                 const std::string& origin) {
  if (in_range(rule, number)) return;
  fail(origin, ": ", key, " = ", text, " is out of range: must be ", range_text(rule));
}

std::string joined(const std::vector<std::string>& items, const std::string& separator) {
  std::string text;
  for (const std::string& item : items) text += (text.empty() ? "" : separator) + item;
  return text;
}

void check_string(const Rule& rule, const std::string& text, const std::string& key,
                  const std::string& origin) {
  DSA_CHECK(!rule.non_empty || !text.empty(), origin, ": ", key, " must not be empty");
  if (rule.choices.empty()) return;
  for (const std::string& choice : rule.choices) {
    if (text == choice) return;
  }
  fail(origin, ": ", key, " = '", text, "': allowed values are ", joined(rule.choices, ", "));
}

int64_t parse_int(const Rule& rule, const YAML::Node& node, const std::string& key,
                  const std::string& origin) {
  const auto number = node.IsScalar() ? parse_number<int64_t>(node.Scalar()) : std::nullopt;
  if (!number) fail_type(origin, key, "an integer", node);
  check_range(rule, static_cast<double>(*number), std::to_string(*number), key, origin);
  return *number;
}

// Negative values parse as int64 so that they get a range message, not a type message.
uint64_t parse_uint(const Rule& rule, const YAML::Node& node, const std::string& key,
                    const std::string& origin) {
  if (node.IsScalar()) {
    if (const auto number = parse_number<uint64_t>(node.Scalar())) return *number;
    if (const auto negative = parse_number<int64_t>(node.Scalar())) {
      check_range(rule, static_cast<double>(*negative), std::to_string(*negative), key, origin);
    }
  }
  fail_type(origin, key, "a non-negative integer", node);
}

double parse_float(const Rule& rule, const YAML::Node& node, const std::string& key,
                   const std::string& origin) {
  const auto number = node.IsScalar() ? parse_number<double>(node.Scalar()) : std::nullopt;
  if (!number || !std::isfinite(*number)) fail_type(origin, key, "a finite number", node);
  check_range(rule, *number, node.Scalar(), key, origin);
  return *number;
}

bool parse_flag(const YAML::Node& node, const std::string& key, const std::string& origin) {
  const auto flag = node.IsScalar() ? parse_bool(node.Scalar()) : std::nullopt;
  if (!flag) fail_type(origin, key, "true or false", node);
  return *flag;
}

// `key:` with nothing after it is an empty string.
std::string parse_string(const Rule& rule, const YAML::Node& node, const std::string& key,
                         const std::string& origin) {
  if (!node.IsScalar() && !node.IsNull()) fail_type(origin, key, "a string", node);
  std::string text = node.IsScalar() ? node.Scalar() : "";
  check_string(rule, text, key, origin);
  return text;
}

// A single string counts as a one-item list; nothing counts as an empty list.
std::vector<std::string> parse_string_list(const Rule& rule, const YAML::Node& node,
                                           const std::string& key, const std::string& origin) {
  std::vector<std::string> items;
  if (node.IsScalar()) {
    items.push_back(node.Scalar());
  } else if (node.IsSequence()) {
    for (size_t i = 0; i < node.size(); ++i) {
      if (!node[i].IsScalar()) fail_type(origin, cat(key, ".", i), "a string", node[i]);
      items.push_back(node[i].Scalar());
    }
  } else if (!node.IsNull()) {
    fail_type(origin, key, "a list of strings", node);
  }
  DSA_CHECK(!rule.non_empty || !items.empty(), origin, ": ", key, " must not be empty");
  return items;
}

// A float key's value reads as a float to humans too: "1.0", not "1".
std::string format_float(double number) {
  std::string text = format_number(number);
  if (text.find_first_of(".en") == std::string::npos) text += ".0";
  return text;
}

}  // namespace

Value parse_value(ValueType type, const Rule& rule, const YAML::Node& node, const std::string& key,
                  const std::string& origin) {
  switch (type) {
    case ValueType::Int:
      return parse_int(rule, node, key, origin);
    case ValueType::UInt:
      return parse_uint(rule, node, key, origin);
    case ValueType::Float:
      return parse_float(rule, node, key, origin);
    case ValueType::Bool:
      return parse_flag(node, key, origin);
    case ValueType::String:
      return parse_string(rule, node, key, origin);
    case ValueType::StringList:
      return parse_string_list(rule, node, key, origin);
    case ValueType::StageList:
    case ValueType::Include:
      break;
  }
  fail(origin, ": ", key, ": internal error: no scalar parser for this key");
}

std::string shown(const YAML::Node& node) {
  if (node.IsScalar()) return "'" + node.Scalar() + "'";
  if (node.IsSequence()) return "a list";
  if (node.IsMap()) return "a map";
  return "nothing";
}

std::string format_number(double number) {
  char text[64];
  const auto result = std::to_chars(text, text + sizeof(text), number);
  return std::string(text, result.ptr);
}

std::string format_value(const Value& value) {
  struct Formatter {
    std::string operator()(int64_t number) const { return std::to_string(number); }
    std::string operator()(uint64_t number) const { return std::to_string(number); }
    std::string operator()(double number) const { return format_float(number); }
    std::string operator()(bool flag) const { return flag ? "true" : "false"; }
    std::string operator()(const std::string& text) const { return text.empty() ? "\"\"" : text; }
    std::string operator()(const std::vector<std::string>& items) const {
      // Appends rather than operator+ chains: GCC 12 gives a false -Wrestrict on those.
      std::string text = "[";
      text += joined(items, ", ");
      text += "]";
      return text;
    }
  };
  return std::visit(Formatter{}, value);
}

std::string rule_text(const Rule& rule) {
  std::vector<std::string> parts;
  if (rule.required) parts.push_back("required");
  if (!range_text(rule).empty()) parts.push_back(range_text(rule));
  if (!rule.choices.empty()) parts.push_back(joined(rule.choices, " | "));
  if (rule.non_empty) parts.push_back("non-empty");
  if (!rule.note.empty()) parts.push_back(rule.note);
  return joined(parts, ", ");
}

}  // namespace dsa::config::schema
