// A training session: the backend, the model and its optimizer, built from a config, plus the one
// training step that the trainer and `dsatrain bench` share.
#pragma once
#include <array>
#include <memory>
#include <string>

#include "config/config.h"
#include "dist/communicator.h"
#include "model/model.h"
#include "train/optimizer.h"

namespace dsa::train {

// Picks the backend for train.device (auto|cpu|cuda); `reason` says why (printed at start).
// auto takes the GPU when the build has the CUDA twin and a usable GPU is present. `profiled`
// wraps every op in a timing scope (bench --profile).
struct BackendChoice {
  const ops::Backend<float>* backend;
  std::string reason;
};
BackendChoice choose_backend(const std::string& device, bool profiled = false);

struct StepResult {
  double loss = 0;  // mean token loss of the batch
  OptimizerStats optimizer;
};

class Session {
 public:
  Session(const config::Config& config, const ops::Backend<float>& backend,
          dist::Communicator& comm);

  // One step on a batch [batch, seq]: forward, backward, all-reduce, AdamW. Groups give each
  // parameter group's learning rate and whether it is frozen.
  StepResult step(const int32_t* inputs, const int32_t* targets,
                  const std::array<GroupUpdate, kGroups>& groups);

  model::Model<float>& model() { return *model_; }
  AdamW<float>& optimizer() { return *optimizer_; }
  const config::Config& config() const { return cfg_; }

 private:
  config::Config cfg_;
  dist::Communicator& comm_;
  std::unique_ptr<model::Model<float>> model_;
  std::unique_ptr<AdamW<float>> optimizer_;
};

}  // namespace dsa::train
