#include <cstdio>
#include <span>

#include "core/safetensors.h"

#include "cli/commands.h"
#include "cli/options.h"
#include "train/model_io.h"
#include "train/session.h"
#include "train/trainer.h"

namespace dsa::cli {

static const CommandSpec kEval{
    "eval",
    "Evaluates a checkpoint on the validation split of its config's data (val_loss, val_bpb,\n"
    "val_ppl, val_acc) with the attention its run ended with; for a DSA run also attn_mass_recall\n"
    "and topk_overlap over the first train.eval_batches batches.",
    {{"checkpoint", "FILE", "", "checkpoint (runs/<name>/step_<n>.ckpt)", true},
     {"set", "KEY=VALUE", "", "override a key of the embedded config (data.*, train.*)", false, true},
     {"windows", "N", "0", "evaluate the first N windows of seq_len tokens; 0 = the whole split"},
     {"dump-logits", "FILE", "", "also write the first window's inputs [1, T] and logits [1, T, V] (F32) as safetensors"},
     device_option("which twin runs the model")}};

// The first validation window through the model, written for outside comparisons
// (tools/hf_check.py compares them with transformers' LlamaForCausalLM).
static void dump_logits(model::Model<float>& net, const data::TokenLoader& val, const std::string& path) {
  const int64_t seq = net.config().seq_len;
  std::vector<int32_t> inputs(seq), targets(seq);
  const int64_t length = val.eval_window(0, seq, inputs.data(), targets.data());
  net.forward(inputs.data(), targets.data(), 1, length, 0.0);
  std::vector<float> logits;
  net.read_logits(logits);
  SafeTensorsFile file;
  file.metadata["format"] = "pt";
  file.add("inputs", to_safetensor({1, length}, std::span<const int32_t>(inputs.data(), length)));
  file.add("logits", to_safetensor({1, length, net.config().vocab_size}, std::span<const float>(logits)));
  write_safetensors(path, file);
  std::printf("eval: wrote the first window's inputs and logits to %s\n", path.c_str());
}

int run_eval(const Args& args) {
  const ParsedOptions options = parse_options(kEval, args);
  if (options.help) return std::printf("%s", help_text(kEval).c_str()), 0;
  const std::string path = options.get("checkpoint");
  const train::BackendChoice device = train::choose_backend(options.get("device"), false, "eval --device");
  std::printf("device: %s (%s)\n", device.backend->name, device.reason.c_str());
  train::LoadedModel loaded = train::load_model(path, *device.backend, 0);
  const config::Config cfg = config::parse(config::to_yaml(loaded.config), path + " (embedded config)", options.all("set"));
  const train::TrainingData data = train::load_training_data(cfg);
  const int64_t batch = loaded.config.train.batch_size;
  const train::EvalResult e = train::evaluate(*loaded.model, data.val, data.token_bytes, batch,
                                              options.integer("windows"),
                                              cfg.train.eval_batches * batch);
  if (options.given("dump-logits")) dump_logits(*loaded.model, data.val, options.get("dump-logits"));
  std::printf("eval: val_loss=%.4f val_bpb=%.4f val_ppl=%.2f val_acc=%.4f tokens=%ld", e.loss,
              e.bpb, e.ppl, e.acc, long(e.tokens));
  if (e.mass_recall)  // a DSA checkpoint: its last stage's selection against dense attention
    std::printf(" attn_mass_recall=%.4f topk_overlap=%.4f", *e.mass_recall, *e.topk_overlap);
  std::printf("\n");
  return 0;
}

}  // namespace dsa::cli
