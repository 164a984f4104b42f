#include "config/build.h"

#include "config/schema.h"
#include "config/value.h"
#include "core/error.h"

namespace dsa::config {
namespace {

StageConfig typed_stage(const StageEntry& entry, size_t index) {
  StageConfig stage;
  for (const schema::KeySpec<StageConfig>& spec : schema::stage_keys()) {
    const std::string key = schema::stage_key_path(index, spec.path);
    const auto found = entry.keys.find(spec.path);
    if (found == entry.keys.end()) {
      DSA_CHECK(!spec.rule.required, entry.origin, ": ", key, " is missing (",
                schema::rule_text(spec.rule), ")");
      continue;
    }
    const Setting& setting = found->second;
    spec.set(stage, schema::parse_value(spec.type, spec.rule, setting.value, key, setting.origin));
  }
  return stage;
}

std::vector<StageConfig> typed_stages(const RawConfig& raw) {
  if (!raw.stages) return {schema::default_stage()};
  DSA_CHECK(!raw.stages->entries.empty(), raw.stages->origin, ": ", schema::kStagesKey,
            " must list at least one stage (- name: dense | warmup | sparse, steps: n)");
  std::vector<StageConfig> stages;
  for (size_t i = 0; i < raw.stages->entries.size(); ++i) {
    stages.push_back(typed_stage(raw.stages->entries[i], i));
  }
  return stages;
}

}  // namespace

Config typed_config(const RawConfig& raw) {
  Config config;
  // Table order, so that the first error reported is the first in document order of sections.
  for (const schema::KeySpec<Config>& spec : schema::config_keys()) {
    const auto found = raw.values.find(spec.path);
    if (found == raw.values.end() || !spec.set) continue;
    const Setting& setting = found->second;
    spec.set(config,
             schema::parse_value(spec.type, spec.rule, setting.value, spec.path, setting.origin));
  }
  config.stages = typed_stages(raw);
  return config;
}

}  // namespace dsa::config
