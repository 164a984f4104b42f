// describe_keys: the schema as an aligned table (for --help and docs/configs.md).
#include <array>

#include "config/config.h"
#include "config/schema.h"
#include "config/value.h"

namespace dsa::config {
namespace {

using Row = std::array<std::string, 5>;  // key, type, default, allowed, description

template <class Target>
Row row_of(const schema::KeySpec<Target>& spec, const std::string& key, const Target& defaults) {
  std::string default_text = spec.default_text;
  if (spec.get) default_text = spec.rule.required ? "-" : schema::format_value(spec.get(defaults));
  std::string allowed = schema::rule_text(spec.rule);
  if (spec.type == schema::ValueType::Bool) allowed = "true | false";
  return {key, std::string(schema::type_name(spec.type)), "default " + default_text,
          allowed.empty() ? "" : "(" + allowed + ")", spec.description};
}

std::vector<Row> all_rows() {
  std::vector<Row> rows;
  for (const schema::KeySpec<Config>& spec : schema::config_keys()) {
    rows.push_back(row_of(spec, spec.path, Config{}));
    if (spec.type != schema::ValueType::StageList) continue;
    for (const schema::KeySpec<StageConfig>& stage_spec : schema::stage_keys()) {
      const std::string key = spec.path + ".<i>." + stage_spec.path;
      rows.push_back(row_of(stage_spec, key, StageConfig{}));
    }
  }
  return rows;
}

std::string aligned(const std::vector<Row>& rows) {
  std::array<size_t, 5> widths{};
  for (const Row& row : rows) {
    for (size_t column = 0; column < row.size(); ++column) {
      widths[column] = std::max(widths[column], row[column].size());
    }
  }
  std::string text;
  for (const Row& row : rows) {
    std::string line;
    for (size_t column = 0; column + 1 < row.size(); ++column) {
      line += row[column] + std::string(widths[column] - row[column].size() + 2, ' ');
    }
    line += row.back();
    text += line.substr(0, line.find_last_not_of(' ') + 1) + "\n";
  }
  return text;
}

}  // namespace

std::string describe_keys() { return aligned(all_rows()); }

}  // namespace dsa::config
