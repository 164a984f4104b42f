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

}  // namespace dsa::config
