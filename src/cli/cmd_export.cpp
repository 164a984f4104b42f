#include <cstdio>

#include "cli/commands.h"
#include "cli/options.h"
#include "train/model_io.h"

namespace dsa::cli {

static const CommandSpec kExport{
    "export",
    "Writes <out>/model.safetensors and <out>/config.json in the Hugging Face Llama layout.",
    {{"checkpoint", "FILE", "", "checkpoint to export", true},
     {"out", "DIR", "", "output directory (created)", true},
     {"dtype", "F32|BF16|F16", "F32", "tensor dtype in the file"}}};

static const CommandSpec kImport{
    "import",
    "Reads <dir>/model.safetensors + <dir>/config.json (Llama layout) into a dsatrain checkpoint\n"
    "(step 0, zero optimizer state).",
    {{"dir", "DIR", "", "directory holding model.safetensors and config.json", true},
     {"out", "FILE", "", "checkpoint to write", true}}};

int run_export(const Args& args) {
  const ParsedOptions options = parse_options(kExport, args);
  if (options.help) return std::printf("%s", help_text(kExport).c_str()), 0;
  train::export_model(options.get("checkpoint"), options.get("out"), options.get("dtype"));
  std::printf("export: wrote %s/model.safetensors and config.json\n", options.get("out").c_str());
  return 0;
}

int run_import(const Args& args) {
  const ParsedOptions options = parse_options(kImport, args);
  if (options.help) return std::printf("%s", help_text(kImport).c_str()), 0;
  train::import_model(options.get("dir"), options.get("out"));
  std::printf("import: wrote %s\n", options.get("out").c_str());
  return 0;
}

}  // namespace dsa::cli
