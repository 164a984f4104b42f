#include <cstdio>

#include "cli/commands.h"
#include "cli/options.h"
#include "train/model_io.h"
#include "train/session.h"
#include "train/trainer.h"

namespace dsa::cli {

static const CommandSpec kEval{
    "eval",
    "Evaluates a checkpoint on the validation split of its config's data (val_loss, val_bpb,\n"
    "val_ppl, val_acc).",
    {{"checkpoint", "FILE", "", "checkpoint (runs/<name>/step_<n>.ckpt)", true},
     {"set", "KEY=VALUE", "", "override a key of the embedded config (data.*, train.*)", false, true},
     {"windows", "N", "0", "evaluate the first N windows of seq_len tokens; 0 = the whole split"}}};

int run_eval(const Args& args) {
  const ParsedOptions options = parse_options(kEval, args);
  if (options.help) return std::printf("%s", help_text(kEval).c_str()), 0;
  const std::string path = options.get("checkpoint");
  train::LoadedModel loaded = train::load_model(path, *train::choose_backend("auto").backend, 0);
  const config::Config cfg = config::parse(config::to_yaml(loaded.config), path + " (embedded config)", options.all("set"));
  const train::TrainingData data = train::load_training_data(cfg);
  const train::EvalResult e = train::evaluate(*loaded.model, data.val, data.token_bytes,
                                              loaded.config.train.batch_size, options.integer("windows"));
  std::printf("eval: val_loss=%.4f val_bpb=%.4f val_ppl=%.2f val_acc=%.4f tokens=%ld\n", e.loss, e.bpb, e.ppl, e.acc, long(e.tokens));
  return 0;
}

}  // namespace dsa::cli
