// load() and parse(): sources -> overrides -> typed values -> derived defaults and cross-key rules.
#include "config/config.h"

#include "config/build.h"
#include "config/sources.h"

namespace dsa::config {
namespace {

Config finish(RawConfig raw, const std::vector<std::string>& overrides) {
  for (const std::string& override_text : overrides) apply_override(override_text, raw);
  Config config = typed_config(raw);
  resolve_and_check(config, raw);
  return config;
}

}  // namespace

Config load(const std::string& path, const std::vector<std::string>& overrides) {
  return finish(read_config_file(path), overrides);
}

Config parse(const std::string& yaml_text, const std::string& origin,
             const std::vector<std::string>& overrides) {
  return finish(read_config_text(yaml_text, origin), overrides);
}

const char* stage_kind_name(StageKind kind) {
  switch (kind) {
#define DSA_STAGE_NAME(k) \
  case StageKind::k: return #k;
    DSA_STAGE_KINDS(DSA_STAGE_NAME)
#undef DSA_STAGE_NAME
  }
  return "?";
}

std::optional<StageKind> parse_stage_kind(std::string_view name) {
#define DSA_STAGE_PARSE(k) \
  if (name == #k) return StageKind::k;
  DSA_STAGE_KINDS(DSA_STAGE_PARSE)
#undef DSA_STAGE_PARSE
  return std::nullopt;
}

std::vector<std::string> stage_kind_names() {
  return {
#define DSA_STAGE_STRING(k) #k,
      DSA_STAGE_KINDS(DSA_STAGE_STRING)
#undef DSA_STAGE_STRING
  };
}

}  // namespace dsa::config
