// A training session: the backend, the model and its optimizer, built from a config, plus the one
// training step that the trainer and `dsatrain bench` share.
#pragma once
#include <array>
#include <memory>
#include <optional>
#include <string>

#include "config/config.h"
#include "dist/communicator.h"
#include "model/model.h"
#include "train/optimizer.h"
#include "train/schedule.h"

namespace dsa::train {

// The one device chooser (train.device, and --device of bench, eval and sample): auto | cpu |
// cuda. auto takes the CUDA twin only on a GPU — never the emulated device, and it says so; cuda
// takes the CUDA twin on the GPU when there is one, else on the emulated device (cuda_backend.h).
// `reason` says which and why (printed at start); `option` names the setting in messages.
// `profiled` wraps every op in a timing scope (bench --profile).
struct BackendChoice {
  const ops::Backend<float>* backend;
  std::string reason;
};
BackendChoice choose_backend(const std::string& device, bool profiled = false,
                             const std::string& option = "train.device");
// The rest of the device set-up a run's train section asks for, on the chosen backend: the CPU
// threads (train.threads) and, on the CUDA twin, TF32 GEMMs (train.tf32). The Session and every
// model loaded from a checkpoint (eval, sample, export) apply it.
void configure_device(const ops::Backend<float>& backend, const config::TrainConfig& train);

struct StepResult {
  double loss = 0;                     // mean token loss of the batch
  std::optional<double> indexer_loss;  // L_I, mean over layers (warmup and sparse stages)
  OptimizerStats optimizer;
};

class Session {
 public:
  Session(const config::Config& config, const ops::Backend<float>& backend,
          dist::Communicator& comm);

  // One step on a batch [batch, seq]: forward (with the indexer's own L_I update outside dense
  // mode), the LM backward (skipped in warm-up: the main model is frozen), all-reduce, AdamW.
  StepResult step(const int32_t* inputs, const int32_t* targets, const StepPlan& plan);
  // A dense step with the given groups (benchmarks and tests of the dense model).
  StepResult step(const int32_t* inputs, const int32_t* targets,
                  const std::array<GroupUpdate, kGroups>& groups) {
    return step(inputs, targets, StepPlan{model::AttentionMode::dense, 0, groups});
  }

  model::Model<float>& model() { return *model_; }
  AdamW<float>& optimizer() { return *optimizer_; }
  const config::Config& config() const { return cfg_; }

 private:
  config::Config cfg_;
  dist::Communicator& comm_;
  std::unique_ptr<model::Model<float>> model_;
  std::unique_ptr<AdamW<float>> optimizer_;
  int64_t last_k_ = 0;
};

}  // namespace dsa::train
