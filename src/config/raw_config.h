// A config before typing: every value the YAML sources gave, by dotted key, with where it came
// from. Sources merge in order and later ones win: maps merge key by key, a list (data.files,
// schedule.stages) is replaced whole.
#pragma once
#include <yaml-cpp/yaml.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace dsa::config {

// `origin` is what error messages start with: "configs/x.yaml:3" or "--set model.d_model=250".
struct Setting {
  YAML::Node value;
  std::string origin;
};

// One entry of schedule.stages: its keys by their name inside the stage ("steps").
struct StageEntry {
  std::string origin;
  std::map<std::string, Setting> keys;
};

struct StageList {
  std::string origin;  // where schedule.stages was given
  std::vector<StageEntry> entries;
};

struct RawConfig {
  std::string source;                     // the top file or text; named for defaults
  std::map<std::string, Setting> values;  // "model.d_model" -> value (not schedule.stages)
  std::optional<StageList> stages;        // absent: the default schedule

  // Where `key` was set; the source name when it kept its default.
  std::string origin_of(const std::string& key) const;
};

// Names positions inside one YAML text.
struct Source {
  std::string name;                              // a file path, or "--set a.b=v"
  bool single_line = false;                      // command-line text: every position is just `name`
  std::string at(const YAML::Mark& mark) const;  // "name:line" (1-based)
};

// Parses YAML text; malformed text fails with "<name>:<line>: invalid YAML: ...". An empty text
// is an empty map.
YAML::Node parse_yaml(const std::string& text, const Source& source);

// Merges one document's keys into `into` (the `include` key is the caller's business). Unknown
// keys and misplaced values fail with the source position.
void merge_document(const YAML::Node& root, const Source& source, RawConfig& into);

// Reads a schedule.stages value given at `origin`.
StageList read_stage_list(const YAML::Node& node, const Source& source, const std::string& origin);

// The default schedule as settings, so that --set can edit one of its stages.
StageList default_stage_list(const std::string& origin);

}  // namespace dsa::config
