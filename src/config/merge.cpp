// Reading YAML documents into a RawConfig: positions, unknown keys, duplicates, stage lists.
#include <map>

#include "config/raw_config.h"
#include "config/schema.h"
#include "config/suggest.h"
#include "config/value.h"
#include "core/error.h"

namespace dsa::config {

std::string Source::at(const YAML::Mark& mark) const {
  if (single_line || mark.is_null()) return name;
  return cat(name, ":", mark.line + 1);
}

std::string RawConfig::origin_of(const std::string& key) const {
  const auto found = values.find(key);
  return found == values.end() ? source : found->second.origin;
}

YAML::Node parse_yaml(const std::string& text, const Source& source) {
  try {
    return YAML::Load(text);
  } catch (const YAML::ParserException& error) {
    if (source.single_line) fail(source.name, ": invalid YAML: ", error.msg);
    fail(source.name, ":", error.mark.line + 1, ": invalid YAML (column ", error.mark.column + 1,
         "): ", error.msg);
  }
}

namespace {

// Keys seen in one YAML map, to reject a key given twice (yaml-cpp would silently keep one).
class DuplicateGuard {
 public:
  void check(const std::string& key, const YAML::Mark& mark, const Source& source) {
    const auto [found, inserted] = first_line_.emplace(key, mark.line + 1);
    DSA_CHECK(inserted, source.at(mark), ": duplicate key '", key, "' (first given at line ",
              found->second, ")");
  }

 private:
  std::map<std::string, int> first_line_;
};

std::string key_name(const YAML::Node& key, const std::string& origin) {
  DSA_CHECK(key.IsScalar(), origin, ": a key must be a plain name, got ", schema::shown(key));
  return key.Scalar();
}

void merge_map(const YAML::Node& map, const std::string& prefix, const Source& source,
               RawConfig& into);

void merge_section(const std::string& path, const YAML::Node& value, const std::string& origin,
                   const Source& source, RawConfig& into) {
  if (value.IsNull()) return;
  DSA_CHECK(value.IsMap(), origin, ": ", path, ": expected a map of keys (", path,
            ".<key>: value), got ", schema::shown(value));
  merge_map(value, path, source, into);
}

void merge_entry(const std::string& path, const YAML::Node& value, const std::string& origin,
                 const Source& source, RawConfig& into) {
  if (path == schema::kIncludeKey) return;  // followed by the file loader before this document
  if (schema::is_section(path)) {
    merge_section(path, value, origin, source, into);
  } else if (path == schema::kStagesKey) {
    into.stages = read_stage_list(value, source, origin);
  } else if (schema::find_key(path)) {
    into.values[path] = Setting{value, origin};
  } else {
    fail_unknown_key(origin, path, root_key_candidates());
  }
}

void merge_map(const YAML::Node& map, const std::string& prefix, const Source& source,
               RawConfig& into) {
  DuplicateGuard guard;
  for (const auto& entry : map) {
    const std::string origin = source.at(entry.first.Mark());
    const std::string name = key_name(entry.first, origin);
    const std::string path = prefix.empty() ? name : prefix + "." + name;
    guard.check(path, entry.first.Mark(), source);
    merge_entry(path, entry.second, origin, source, into);
  }
}

StageEntry read_stage(const YAML::Node& item, size_t index, const Source& source,
                      const std::string& list_origin) {
  StageEntry stage{item.Mark().is_null() ? list_origin : source.at(item.Mark()), {}};
  DSA_CHECK(item.IsMap(), stage.origin, ": ", schema::kStagesKey, ".", index,
            ": expected a map of stage keys (name, steps, lr, ...), got ", schema::shown(item));
  DuplicateGuard guard;
  for (const auto& entry : item) {
    const std::string origin = source.at(entry.first.Mark());
    const std::string name = key_name(entry.first, origin);
    const std::string path = schema::stage_key_path(index, name);
    if (!schema::find_stage_key(name)) fail_unknown_key(origin, path, stage_key_candidates(index));
    guard.check(path, entry.first.Mark(), source);
    stage.keys[name] = Setting{entry.second, origin};
  }
  return stage;
}

}  // namespace

void merge_document(const YAML::Node& root, const Source& source, RawConfig& into) {
  if (root.IsNull()) return;
  DSA_CHECK(root.IsMap(), source.at(root.Mark()),
            ": expected a map of config sections (model:, train:, ...) at the top level, got ",
            schema::shown(root));
  merge_map(root, "", source, into);
}

StageList read_stage_list(const YAML::Node& node, const Source& source, const std::string& origin) {
  StageList list{origin, {}};
  if (node.IsNull()) return list;  // rejected as empty when the config is built
  DSA_CHECK(node.IsSequence(), origin, ": ", schema::kStagesKey,
            ": expected a list of stages (- name: dense ...), got ", schema::shown(node));
  for (size_t i = 0; i < node.size(); ++i) {
    list.entries.push_back(read_stage(node[i], i, source, origin));
  }
  return list;
}

StageList default_stage_list(const std::string& origin) {
  const StageConfig stage = schema::default_stage();
  StageEntry entry{origin, {}};
  entry.keys["name"] = Setting{YAML::Node(std::string(stage_kind_name(stage.kind))), origin};
  entry.keys["steps"] = Setting{YAML::Node(std::to_string(stage.steps)), origin};
  return StageList{origin, {entry}};
}

}  // namespace dsa::config
