// dsatrain: train | eval | sample | prepare | export | import | bench | devices
// Every failure is a dsa::Error with a message naming what is wrong; it is printed here and the
// process exits with status 1 (2 for a usage error).
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/error.h"

namespace {

struct Command {
  const char* name;
  int (*run)(const dsa::cli::Args&);
  const char* summary;
};

const Command kCommands[] = {
    {"train", dsa::cli::run_train, "train a model from a YAML config"},
    {"eval", dsa::cli::run_eval, "evaluate a checkpoint on the validation split"},
    {"sample", dsa::cli::run_sample, "generate text from a checkpoint"},
    {"prepare", dsa::cli::run_prepare, "build the tokenizer and token shards of a corpus"},
    {"export", dsa::cli::run_export, "write a checkpoint as Hugging Face Llama safetensors"},
    {"import", dsa::cli::run_import, "read a Hugging Face Llama export back into a checkpoint"},
    {"bench", dsa::cli::run_bench, "measure training-step throughput and machine ceilings"},
    {"devices", dsa::cli::run_devices, "show the CPU, the GPU, and where the CUDA twin runs"},
};

void print_usage() {
  std::printf("usage: dsatrain <command> [options]   (dsatrain <command> --help for its options)\n\ncommands:\n");
  for (const Command& command : kCommands) std::printf("  %-9s %s\n", command.name, command.summary);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    print_usage();
    return argc < 2 ? 2 : 0;
  }
  const std::string name = argv[1];
  const dsa::cli::Args args(argv + 2, argv + argc);
  for (const Command& command : kCommands) {
    if (name != command.name) continue;
    try {
      return command.run(args);
    } catch (const std::exception& error) {
      std::fflush(stdout);
      std::fprintf(stderr, "error: %s\n", error.what());
      return 1;
    }
  }
  std::fprintf(stderr, "error: unknown command '%s'\n", name.c_str());
  print_usage();
  return 2;
}
