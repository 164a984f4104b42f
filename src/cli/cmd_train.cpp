#include <cstdio>
#include <tuple>
#include <utility>

#include "core/error.h"

#include "cli/commands.h"
#include "cli/options.h"
#include "config/config.h"
#include "train/trainer.h"

namespace dsa::cli {

static const CommandSpec kTrain{
    "train",
    "Trains the model of a YAML config through its stages; writes runs/<run.name>/ (config.yaml,\n"
    "metrics.jsonl, step_<n>.ckpt, summary.json) and ends with a full validation pass.",
    {{"config", "FILE", "", "YAML config (configs/*.yaml)", true},
     {"set", "KEY=VALUE", "", "override a config key, e.g. --set model.n_layers=6", false, true},
     {"resume", "", "", "continue from the newest checkpoint of the run folder"},
     {"stop-after", "N", "0", "save a checkpoint after step N and stop (0 = run the whole schedule)"},
     {"profile-steps", "A:B", "", "run steps A..B (1-based) inside the profiler capture window (nsys --capture-range=cudaProfilerApi)"}}};

// "A:B" with 1 <= A <= B.
static std::pair<int64_t, int64_t> parse_step_range(const std::string& text) {
  const size_t colon = text.find(':');
  try {
    if (colon != std::string::npos) {
      const int64_t first = std::stoll(text.substr(0, colon)), last = std::stoll(text.substr(colon + 1));
      if (first >= 1 && last >= first) return {first, last};
    }
  } catch (const std::exception&) {
  }
  fail("option --profile-steps: expected A:B with 1 <= A <= B (e.g. 10:12), got '", text, "'");
}

int run_train(const Args& args) {
  const ParsedOptions options = parse_options(kTrain, args);
  if (options.help) {
    std::printf("%s\nconfig keys (for --set):\n%s", help_text(kTrain).c_str(), config::describe_keys().c_str());
    return 0;
  }
  const config::Config cfg = config::load(options.get("config"), options.all("set"));
  train::TrainOptions train_options;
  train_options.resume = options.flag("resume");
  train_options.stop_after = options.integer("stop-after");
  if (options.given("profile-steps"))
    std::tie(train_options.profile_first, train_options.profile_last) = parse_step_range(options.get("profile-steps"));
  const train::TrainOutcome outcome = train::train(cfg, train_options);
  std::printf("run folder: %s\ncheckpoint: %s\n", outcome.run_dir.c_str(), outcome.final_checkpoint.c_str());
  if (outcome.final_eval.tokens > 0) std::printf("%s\n", train::final_line(outcome).c_str());
  return 0;
}

}  // namespace dsa::cli
