// The training loop (docs/design.md §4, §6): stages, LR schedules, evaluation, checkpoints, resume,
// metrics and the run folder runs/<run.name>/ (config.yaml, metrics.jsonl, step_<n>.ckpt,
// summary.json).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "data/loader.h"
#include "data/tokenizer.h"
#include "train/evaluate.h"

namespace dsa::train {

// The token splits and (optional) tokenizer a config points at. Prepares the corpus first when
// the default prepared files are missing and data.source says how to make them.
struct TrainingData {
  data::TokenLoader train, val;
  std::optional<data::Tokenizer> tokenizer;
  std::vector<int32_t> token_bytes;  // byte length per token id; empty without a tokenizer
};
TrainingData load_training_data(const config::Config& config);
// data.tokenizer resolved: <data.dir>/tokenizer.dsatok when empty; "none" stays "none".
std::string tokenizer_path(const config::DataConfig& data);

struct TrainOptions {
  bool resume = false;     // continue from the newest step_<n>.ckpt of the run folder
  int64_t stop_after = 0;  // > 0: save a checkpoint after this step and stop (resume later)
  bool final_eval = true;  // the full validation pass at the end of the schedule
  // Steps first..last (1-based, inclusive) run inside the profiler's capture window
  // (cudaProfilerStart/Stop: nsys --capture-range=cudaProfilerApi); 0 = no window.
  int64_t profile_first = 0, profile_last = 0;
};

struct TrainOutcome {
  EvalResult final_eval;
  double tokens_per_s = 0;
  std::string run_dir, final_checkpoint;
};

TrainOutcome train(const config::Config& config, const TrainOptions& options);

// "final: val_loss=... val_bpb=... val_ppl=... val_acc=... tokens_per_s=..."
std::string final_line(const TrainOutcome& outcome);

}  // namespace dsa::train
