// The stage schedule (docs/design.md §4), in one place: for a global step it answers which stage
// runs and where in it, how the model attends and with which k, and per parameter group the
// learning rate and whether the group is frozen. The trainer, the benchmark, the checkpoint reader
// and the tests ask it; nothing else looks at stage kinds or learning-rate shapes.
#pragma once
#include <array>
#include <cstdint>

#include "config/config.h"
#include "model/model.h"
#include "train/optimizer.h"

namespace dsa::train {

// What one step does: its stage, the attention mode and k, and per parameter group (indexed by
// model::ParamGroup) its learning rate and whether it is frozen (dense: the indexer; warmup: the
// main model).
struct StepPlan {
  model::AttentionMode mode = model::AttentionMode::dense;
  int64_t k = 0;
  std::array<GroupUpdate, kGroups> groups{};
  int64_t stage = 0;          // index into config.stages
  int64_t step_in_stage = 0;  // from 0
};

// The plan of global step `step` (from 0); fails past the last stage.
StepPlan step_plan(const config::Config& config, int64_t step);

// How a stage attends: dense (dense), dense with the indexer training (warmup), sparse (sparse).
model::AttentionMode attention_mode(config::StageKind kind);

// The learning rate at step_in_stage (from 0) of a stage whose peak is `peak` (its lr or
// indexer_lr): linear warm-up from peak/warmup_steps to the peak over `warmup_steps`, then cosine,
// linear or constant decay to peak * min_lr_ratio at the stage's last step.
double stage_lr(const config::StageConfig& stage, int64_t step_in_stage, double peak);

// The learning rate a group is given: 0 when it is frozen.
inline double applied_lr(const StepPlan& plan, model::ParamGroup group) {
  const GroupUpdate& update = plan.groups[static_cast<size_t>(group)];
  return update.frozen ? 0.0 : update.lr;
}

}  // namespace dsa::train
