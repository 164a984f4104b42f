// --set a.b.c=value overrides, applied after all files (docs/design.md §4).
#include <charconv>

#include "config/schema.h"
#include "config/sources.h"
#include "config/suggest.h"
#include "core/error.h"

namespace dsa::config {
namespace {

std::string trimmed(const std::string& text) {
  const size_t first = text.find_first_not_of(" \t");
  const size_t last = text.find_last_not_of(" \t");
  return first == std::string::npos ? "" : text.substr(first, last - first + 1);
}

// "--set run.name=" sets an empty string (YAML would read nothing as null).
YAML::Node override_value(const std::string& text, const std::string& origin) {
  if (trimmed(text).empty()) return YAML::Node(std::string());
  return parse_yaml(text, Source{origin, true});
}

size_t stage_index(const std::string& text, const std::string& origin) {
  size_t index = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), index);
  DSA_CHECK(!text.empty() && error == std::errc() && end == text.data() + text.size(), origin,
            ": '", text, "' is not a stage index (", schema::kStagesKey, ".<index>.<key>=value)");
  return index;
}

// Finds stage `index`, appending a new one when index is the current count.
StageEntry& stage_for_override(size_t index, const std::string& origin, RawConfig& into) {
  if (!into.stages) into.stages = default_stage_list(into.source + " (default schedule)");
  std::vector<StageEntry>& entries = into.stages->entries;
  DSA_CHECK(index <= entries.size(), origin, ": ", schema::kStagesKey, " has ", entries.size(),
            " stage(s), so index ", index, " is out of range (", entries.size(),
            " appends a stage)");
  if (index == entries.size()) entries.push_back(StageEntry{origin, {}});
  return entries[index];
}

// key: "schedule.stages.<index>.<name>"
void set_stage_key(const std::string& key, const YAML::Node& value, const std::string& origin,
                   RawConfig& into) {
  const std::string rest = key.substr(schema::kStagesKey.size() + 1);
  const size_t dot = rest.find('.');
  DSA_CHECK(dot != std::string::npos, origin, ": set one key of the stage: ", key, ".<key>=value");
  const size_t index = stage_index(rest.substr(0, dot), origin);
  const std::string name = rest.substr(dot + 1);
  if (!schema::find_stage_key(name)) fail_unknown_key(origin, key, stage_key_candidates(index));
  stage_for_override(index, origin, into).keys[name] = Setting{value, origin};
}

}  // namespace

void apply_override(const std::string& text, RawConfig& into) {
  const std::string origin = "--set " + text;
  const size_t equals = text.find('=');
  DSA_CHECK(equals != std::string::npos, origin,
            ": expected key=value (e.g. --set model.n_layers=6)");
  const std::string key = trimmed(text.substr(0, equals));
  DSA_CHECK(!key.empty(), origin, ": expected key=value, but the key is empty");
  const YAML::Node value = override_value(text.substr(equals + 1), origin);
  const std::string stage_prefix = std::string(schema::kStagesKey) + ".";
  if (key == schema::kIncludeKey) {
    fail(origin, ": include cannot be set from the command line; put it in a config file");
  } else if (key.starts_with(stage_prefix)) {
    set_stage_key(key, value, origin, into);
  } else if (key == schema::kStagesKey) {
    into.stages = read_stage_list(value, Source{origin, true}, origin);
  } else if (schema::is_section(key)) {
    fail(origin, ": '", key, "' is a section; set one of its keys (", key, ".<key>=value)");
  } else if (schema::find_key(key)) {
    into.values[key] = Setting{value, origin};
  } else {
    fail_unknown_key(origin, key, root_key_candidates());
  }
}

}  // namespace dsa::config
