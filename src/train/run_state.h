// A run's checkpoints (docs/design.md §6): where they live in the run folder, saving and restoring
// the training state of a Session (weights, AdamW moments, update counters, step), the checks that
// let a resume continue the same run, and train.init_from. The trainer's half that touches files.
#pragma once
#include <cstdint>
#include <string>

#include "train/session.h"

namespace dsa::train {

// runs/<name>/step_<n>.ckpt
std::string checkpoint_path(const std::string& run_dir, int64_t step);
// The newest step_<n>.ckpt of the run folder, or "" when there is none.
std::string newest_checkpoint(const std::string& run_dir);
// Writes the session's training state at `step` (atomically).
void save(Session& s, const std::string& path, int64_t step);
// Loads a checkpoint of this run into the session (after check_resumable); returns its step.
int64_t restore(Session& s, const std::string& path);
// train.init_from: another run's weights start this one (AdamW moments and the step start fresh).
void init_from_checkpoint(Session& s, const std::string& path);

}  // namespace dsa::train
