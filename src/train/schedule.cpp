// The stage schedule (schedule.h).
#include "train/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/error.h"

namespace dsa::train {

namespace {

struct StagePosition {
  int64_t index = 0;
  int64_t step_in_stage = 0;
};

StagePosition stage_at(const config::Config& config, int64_t step) {
  int64_t begin = 0;
  for (size_t i = 0; i < config.stages.size(); ++i) {
    if (step < begin + config.stages[i].steps) return {static_cast<int64_t>(i), step - begin};
    begin += config.stages[i].steps;
  }
  fail("schedule: step ", step, " is past the last stage (", begin, " steps in all)");
}

}  // namespace

model::AttentionMode attention_mode(config::StageKind kind) {
  switch (kind) {
    case config::StageKind::dense: return model::AttentionMode::dense;
    case config::StageKind::warmup: return model::AttentionMode::warmup;
    case config::StageKind::sparse: return model::AttentionMode::sparse;
  }
  return model::AttentionMode::dense;
}

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

StepPlan step_plan(const config::Config& config, int64_t step) {
  const StagePosition position = stage_at(config, step);
  const config::StageConfig& stage = config.stages[position.index];
  StepPlan plan;
  plan.stage = position.index;
  plan.step_in_stage = position.step_in_stage;
  plan.mode = attention_mode(stage.kind);
  plan.k = plan.mode == model::AttentionMode::dense ? 0 : config.stage_k(stage);
  const auto main = static_cast<size_t>(model::ParamGroup::main);
  const auto indexer = static_cast<size_t>(model::ParamGroup::indexer);
  plan.groups[main] = {stage_lr(stage, position.step_in_stage, stage.lr),
                       plan.mode == model::AttentionMode::warmup};
  plan.groups[indexer] = {stage_lr(stage, position.step_in_stage, stage.indexer_lr),
                          plan.mode == model::AttentionMode::dense};
  return plan;
}

}  // namespace dsa::train
