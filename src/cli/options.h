// Command-line options of one dsatrain command: declared once (name, value, default, help), so the
// parser, `--help` and the error for an unknown option all come from the same table.
#pragma once
#include <map>
#include <string>
#include <vector>

namespace dsa::cli {

struct OptionSpec {
  std::string name;          // without the leading "--"
  std::string value_name;    // "" for a flag (takes no value)
  std::string default_value; // shown in --help; "" = none (required when `required`)
  std::string help;
  bool required = false;
  bool repeated = false;     // may appear several times (--set)
};

struct CommandSpec {
  std::string name, summary;
  std::vector<OptionSpec> options;
};

class ParsedOptions {
 public:
  const std::string& get(const std::string& name) const;  // value or default
  bool flag(const std::string& name) const;
  bool given(const std::string& name) const { return values_.count(name) != 0; }
  long long integer(const std::string& name) const;  // errors name the option
  double number(const std::string& name) const;
  const std::vector<std::string>& all(const std::string& name) const;  // repeated option
  bool help = false;

 private:
  friend ParsedOptions parse_options(const CommandSpec&, const std::vector<std::string>&);
  std::map<std::string, std::vector<std::string>> values_;
  std::map<std::string, std::string> defaults_;
};

// --device of eval, sample and bench --attention: the values of train.device (train::choose_backend).
inline OptionSpec device_option(const std::string& what) {
  return {"device", "auto|cpu|cuda", "auto",
          what + "; auto = the GPU when there is one, else the CPU; cuda without a GPU = the emulated GPU (slow)"};
}

// Parses "--name value", "--name=value" and flags. Errors (dsa::Error) name the command and the
// option: unknown options suggest the nearest valid one.
ParsedOptions parse_options(const CommandSpec& spec, const std::vector<std::string>& args);
std::string help_text(const CommandSpec& spec);

}  // namespace dsa::cli
