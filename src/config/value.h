// One YAML value -> one typed schema value, with the key's rule checked. Every error names where
// the value came from (`origin`: "file:line" or "--set a.b=v"), the dotted key and what is allowed.
#pragma once
#include <yaml-cpp/yaml.h>

#include <string>

#include "config/schema.h"

namespace dsa::config::schema {

// `type` is a scalar or string-list type (not StageList/Include).
Value parse_value(ValueType type, const Rule& rule, const YAML::Node& node, const std::string& key,
                  const std::string& origin);

// For messages and describe_keys: "256", "1e-08", "auto", "\"\"" (empty string), "[a, b]".
std::string format_value(const Value& value);
// Shortest text that reads back to exactly `number` ("0.1", "1e-08", "10000").
std::string format_number(double number);
// How a YAML value looks in a message: "'four'", "a list", "a map", "nothing".
std::string shown(const YAML::Node& node);
// What the rule allows, for humans: ">= 1", "in [0, 1)", "auto | cpu | cuda", "non-empty", note.
std::string rule_text(const Rule& rule);

}  // namespace dsa::config::schema
