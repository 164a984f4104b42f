#include <cstdio>
#include <optional>

#include "cli/commands.h"
#include "cli/options.h"
#include "core/error.h"
#include "core/file_io.h"
#include "data/tokenizer.h"
#include "train/model_io.h"
#include "train/sample.h"
#include "train/session.h"
#include "train/trainer.h"

namespace dsa::cli {

static const CommandSpec kSample{
    "sample",
    "Generates text from a checkpoint. Without a tokenizer the prompt is a list of token ids\n"
    "(\"12 7 99\") and the output is token ids.",
    {{"checkpoint", "FILE", "", "checkpoint (runs/<name>/step_<n>.ckpt)", true},
     {"prompt", "TEXT", "\n", "text to continue"},
     {"tokens", "N", "200", "tokens to generate"},
     {"temperature", "T", "0.8", "softmax temperature; 0 = greedy"},
     {"top-p", "P", "0.95", "nucleus sampling mass; 1 = off"},
     {"seed", "N", "1", "sampling seed (same seed, same text)"},
     {"tokenizer", "FILE", "", "tokenizer file; default: the one of the checkpoint's data.dir; none = ids"},
     device_option("which twin runs the model")}};

static std::vector<int32_t> parse_ids(const std::string& text) {
  std::vector<int32_t> ids;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t used = 0;
    ids.push_back(std::stoi(text.substr(pos), &used));
    pos += used;
    while (pos < text.size() && text[pos] == ' ') ++pos;
  }
  return ids;
}

int run_sample(const Args& args) {
  const ParsedOptions options = parse_options(kSample, args);
  if (options.help) return std::printf("%s", help_text(kSample).c_str()), 0;
  const std::string path = options.get("checkpoint");
  const train::BackendChoice device = train::choose_backend(options.get("device"), false, "sample --device");
  if (device.backend->device != ops::Device::cpu)  // stdout is the sample alone
    std::fprintf(stderr, "device: %s (%s)\n", device.backend->name, device.reason.c_str());
  train::LoadedModel loaded = train::load_model(path, *device.backend, 1);
  std::string tokenizer_file = options.get("tokenizer");
  if (tokenizer_file.empty()) tokenizer_file = train::tokenizer_path(loaded.config.data);
  const bool have_tokenizer = tokenizer_file != "none" && file_exists(tokenizer_file);
  std::optional<data::Tokenizer> tokenizer;
  if (have_tokenizer) tokenizer = data::Tokenizer::load(tokenizer_file);
  const std::string prompt = options.get("prompt");
  std::vector<int32_t> tokens = tokenizer ? tokenizer->encode(prompt) : parse_ids(prompt);
  for (int32_t id : tokens)
    DSA_CHECK(id >= 0 && id < loaded.config.model.vocab_size, "sample: prompt token ", id,
              " is outside the model's vocabulary [0, ", loaded.config.model.vocab_size, ")");
  train::SampleOptions sample;
  sample.max_new_tokens = options.integer("tokens");
  sample.temperature = options.number("temperature");
  sample.top_p = options.number("top-p");
  sample.seed = static_cast<uint64_t>(options.integer("seed"));
  const std::vector<int32_t> out = train::sample(*loaded.model, tokens, sample);
  if (tokenizer) {
    std::printf("%s\n", tokenizer->decode(out).c_str());
  } else {
    for (int32_t id : out) std::printf("%d ", id);
    std::printf("\n");
  }
  return 0;
}

}  // namespace dsa::cli
