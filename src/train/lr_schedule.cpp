#include "train/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/error.h"

namespace dsa::train {

double stage_lr(const config::StageConfig& stage, int64_t step_in_stage, double peak) {
  if (step_in_stage < stage.warmup_steps)
    return peak * static_cast<double>(step_in_stage + 1) / static_cast<double>(stage.warmup_steps);
  const double floor = peak * stage.min_lr_ratio;
  const int64_t decay_steps = stage.steps - stage.warmup_steps;
  if (stage.decay == "constant" || decay_steps <= 1) return peak;
  const double progress = std::min(1.0, static_cast<double>(step_in_stage - stage.warmup_steps) /
                                            static_cast<double>(decay_steps - 1));
  if (stage.decay == "linear") return peak + (floor - peak) * progress;
  return floor + 0.5 * (peak - floor) * (1.0 + std::cos(std::numbers::pi * progress));
}

StagePosition stage_at(const config::Config& config, int64_t step) {
  int64_t begin = 0;
  for (size_t i = 0; i < config.stages.size(); ++i) {
    if (step < begin + config.stages[i].steps) return {static_cast<int64_t>(i), step - begin};
    begin += config.stages[i].steps;
  }
  fail("schedule: step ", step, " is past the last stage (", begin, " steps in all)");
}

}  // namespace dsa::train
