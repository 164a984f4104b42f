// to_yaml: every key of the schema, in table order, so that parse(to_yaml(c)) == c.
#include <yaml-cpp/yaml.h>

#include "config/config.h"
#include "config/schema.h"
#include "config/value.h"

namespace dsa::config {
namespace {

// Numbers go through format_value (shortest text that reads back exactly); strings go to the
// emitter as they are, and it quotes those that YAML would read as something else ("", "null").
void emit_value(YAML::Emitter& out, const schema::Value& value) {
  if (const auto* items = std::get_if<std::vector<std::string>>(&value)) {
    out << YAML::Flow << YAML::BeginSeq;
    for (const std::string& item : *items) out << item;
    out << YAML::EndSeq;
  } else if (const auto* text = std::get_if<std::string>(&value)) {
    out << *text;
  } else {
    out << schema::format_value(value);
  }
}

void emit_stages(YAML::Emitter& out, const std::vector<StageConfig>& stages) {
  out << YAML::BeginSeq;
  for (const StageConfig& stage : stages) {
    out << YAML::BeginMap;
    for (const schema::KeySpec<StageConfig>& spec : schema::stage_keys()) {
      out << YAML::Key << spec.path << YAML::Value;
      emit_value(out, spec.get(stage));
    }
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;
}

}  // namespace

std::string to_yaml(const Config& config) {
  YAML::Emitter out;
  out << YAML::Comment("dsatrain config, fully resolved (keys: docs/configs.md)");
  out << YAML::BeginMap;
  std::string open_section;
  for (const schema::KeySpec<Config>& spec : schema::config_keys()) {
    if (spec.type == schema::ValueType::Include) continue;  // already merged in
    const size_t dot = spec.path.find('.');
    const std::string section = spec.path.substr(0, dot);
    if (section != open_section) {
      if (!open_section.empty()) out << YAML::EndMap;
      out << YAML::Key << section << YAML::Value << YAML::BeginMap;
      open_section = section;
    }
    out << YAML::Key << spec.path.substr(dot + 1) << YAML::Value;
    if (spec.type == schema::ValueType::StageList) {
      emit_stages(out, config.stages);
    } else {
      emit_value(out, spec.get(config));
    }
  }
  out << YAML::EndMap << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace dsa::config
