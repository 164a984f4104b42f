#include "cli/options.h"

#include <cstdlib>

#include "config/suggest.h"
#include "core/error.h"

namespace dsa::cli {

namespace {

const OptionSpec* find_option(const CommandSpec& spec, const std::string& name) {
  for (const OptionSpec& option : spec.options)
    if (option.name == name) return &option;
  return nullptr;
}

[[noreturn]] void unknown_option(const CommandSpec& spec, const std::string& name) {
  std::string nearest;
  size_t best = 4;  // suggest only close matches
  for (const OptionSpec& option : spec.options) {
    const size_t distance = config::edit_distance(name, option.name);
    if (distance < best) best = distance, nearest = option.name;
  }
  std::string valid;
  for (const OptionSpec& option : spec.options) valid += " --" + option.name;
  fail("dsatrain ", spec.name, ": unknown option '--", name, "'",
       nearest.empty() ? "" : " (did you mean '--" + nearest + "'?)", "; valid options:", valid,
       " --help");
}

}  // namespace

const std::string& ParsedOptions::get(const std::string& name) const {
  const auto given_value = values_.find(name);
  if (given_value != values_.end()) return given_value->second.back();
  return defaults_.at(name);
}

bool ParsedOptions::flag(const std::string& name) const { return values_.count(name) != 0; }

long long ParsedOptions::integer(const std::string& name) const {
  const std::string& text = get(name);
  char* end = nullptr;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  DSA_CHECK(!text.empty() && *end == '\0', "option --", name, ": expected an integer, got '", text, "'");
  return value;
}

double ParsedOptions::number(const std::string& name) const {
  const std::string& text = get(name);
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  DSA_CHECK(!text.empty() && *end == '\0', "option --", name, ": expected a number, got '", text, "'");
  return value;
}

const std::vector<std::string>& ParsedOptions::all(const std::string& name) const {
  static const std::vector<std::string> none;
  const auto found = values_.find(name);
  return found == values_.end() ? none : found->second;
}

ParsedOptions parse_options(const CommandSpec& spec, const std::vector<std::string>& args) {
  ParsedOptions parsed;
  for (const OptionSpec& option : spec.options) parsed.defaults_[option.name] = option.default_value;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      parsed.help = true;
      return parsed;
    }
    DSA_CHECK(arg.rfind("--", 0) == 0, "dsatrain ", spec.name, ": unexpected argument '", arg,
              "' (options start with --; see dsatrain ", spec.name, " --help)");
    const size_t equals = arg.find('=');
    const std::string name = arg.substr(2, equals == std::string::npos ? std::string::npos : equals - 2);
    const OptionSpec* option = find_option(spec, name);
    if (option == nullptr) unknown_option(spec, name);
    std::string value;
    if (option->value_name.empty()) {
      DSA_CHECK(equals == std::string::npos, "dsatrain ", spec.name, ": option --", name, " takes no value");
    } else if (equals != std::string::npos) {
      value = arg.substr(equals + 1);
    } else {
      DSA_CHECK(i + 1 < args.size(), "dsatrain ", spec.name, ": option --", name, " needs a value (",
                option->value_name, ")");
      value = args[++i];
    }
    DSA_CHECK(option->repeated || parsed.values_.count(name) == 0, "dsatrain ", spec.name,
              ": option --", name, " given twice");
    parsed.values_[name].push_back(value);
  }
  for (const OptionSpec& option : spec.options)
    DSA_CHECK(!option.required || parsed.values_.count(option.name) != 0, "dsatrain ", spec.name,
              ": missing required option --", option.name, " ", option.value_name);
  return parsed;
}

std::string help_text(const CommandSpec& spec) {
  std::string text = "usage: dsatrain " + spec.name + " [options]\n" + spec.summary + "\n\noptions:\n";
  for (const OptionSpec& option : spec.options) {
    std::string left = "  --" + option.name + (option.value_name.empty() ? "" : " " + option.value_name);
    left.resize(std::max<size_t>(left.size() + 2, 30), ' ');
    std::string right = option.help;
    if (option.required) right += " (required)";
    else if (!option.value_name.empty()) right += " (default: " + (option.default_value.empty() ? "none" : option.default_value) + ")";
    else right += " (default: off)";
    if (option.repeated) right += "; may be repeated";
    text += left + right + "\n";
  }
  text += "  --help                      print this help\n";
  return text;
}

}  // namespace dsa::cli
