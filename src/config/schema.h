// The config schema (docs/design.md §4 "Config sections"): one row per key with its type, default, allowed
// values and a one-line description. The rows drive validation, describe_keys(), to_yaml() and
// docs/configs.md, so adding a key means adding one row here (and its struct field).
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "config/config.h"

namespace dsa::config::schema {

// UInt is a non-negative integer too wide for int64 (train.seed); it is shown as "int".
enum class ValueType { Int, UInt, Float, Bool, String, StringList, StageList, Include };

using Value = std::variant<int64_t, uint64_t, double, bool, std::string, std::vector<std::string>>;

// What a key accepts beyond its type. Constraints between keys are only described here (`note`);
// checks.cpp enforces them because they need the whole config.
struct Rule {
  std::optional<double> min, max;
  bool min_exclusive = false;
  bool max_exclusive = false;
  std::vector<std::string> choices;  // strings: the allowed values
  bool non_empty = false;            // strings and lists
  bool required = false;             // stage keys: must be given in every stage
  std::string note;                  // cross-field constraint, for readers
};

template <class Target>
struct KeySpec {
  std::string path;  // dotted from the root ("model.d_model"); stage keys: the name in a stage
  ValueType type;
  Rule rule;
  std::string description;
  std::function<Value(const Target&)> get;  // empty for the StageList and Include rows
  std::function<void(Target&, const Value&)> set;
  std::string default_text = {};  // shown for rows without `get`
};

inline constexpr std::string_view kIncludeKey = "include";
inline constexpr std::string_view kStagesKey = "schedule.stages";

// Every root-level key in document order: include, model.*, indexer.*, selection.*,
// schedule.stages, optimizer.*, data.*, train.*, run.*.
const std::vector<KeySpec<Config>>& config_keys();
// Keys of one entry of schedule.stages, by their name inside the stage.
const std::vector<KeySpec<StageConfig>>& stage_keys();

const KeySpec<Config>* find_key(std::string_view path);
const KeySpec<StageConfig>* find_stage_key(std::string_view name);
// "model", "schedule", ...: keys whose value is a map of further keys.
bool is_section(std::string_view path);
std::vector<std::string> section_names();

// "schedule.stages.<index>.<name>"
std::string stage_key_path(size_t index, std::string_view name);
std::string_view type_name(ValueType type);

// The schedule used when a config has no schedule.stages: one dense stage of 1000 steps.
StageConfig default_stage();

}  // namespace dsa::config::schema
