// Learning-rate schedule of one stage: linear warm-up from peak/warmup to the peak over
// `warmup_steps`, then cosine, linear or constant decay to peak * min_lr_ratio at the stage's
// last step.
#pragma once
#include <cstdint>

#include "config/config.h"

namespace dsa::train {

// step_in_stage counts from 0; peak is the stage's lr or indexer_lr.
double stage_lr(const config::StageConfig& stage, int64_t step_in_stage, double peak);

// Which stage global step `step` falls in, and the step within it.
struct StagePosition {
  int64_t index = 0;
  int64_t step_in_stage = 0;
};
StagePosition stage_at(const config::Config& config, int64_t step);

}  // namespace dsa::train
