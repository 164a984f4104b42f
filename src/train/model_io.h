// Moving a trained model in and out: loading a checkpoint's weights into a model (eval, sample),
// and export/import in the Hugging Face Llama layout (docs/design.md §6): model.safetensors with
// {"__metadata__": {"format": "pt"}} and config.json.
#pragma once
#include <array>
#include <memory>
#include <string>

#include "config/config.h"
#include "model/model.h"
#include "train/checkpoint.h"

namespace dsa::train {

// The training state a checkpoint holds (host pointers, layout order): parameters, AdamW moments,
// the step and each parameter group's update count. The loader is stateless, so the step is also
// the data position.
struct TrainingState {
  const float *params, *adam_m, *adam_v;
  int64_t step;
  std::array<int64_t, 2> adam_updates;  // main, indexer
};
void save_training_state(const std::string& path, const config::Config& config,
                         const model::ParamLayout& layout, const TrainingState& state);

struct LoadedModel {
  config::Config config;  // the checkpoint's embedded config
  std::unique_ptr<model::Model<float>> model;
};

// Builds a model for `max_batch` rows (<= 0: the config's train.batch_size) on `backend` and fills it with the checkpoint's parameters.
LoadedModel load_model(const std::string& checkpoint_path, const ops::Backend<float>& backend,
                       int64_t max_batch);

// Writes <out_dir>/model.safetensors and <out_dir>/config.json. dtype: F32 (default), BF16, F16.
void export_model(const std::string& checkpoint_path, const std::string& out_dir,
                  const std::string& dtype);

// Reads an export (ours, or a Llama checkpoint of the same layout) and writes a dsatrain
// checkpoint at step 0 with zero optimizer moments.
void import_model(const std::string& in_dir, const std::string& checkpoint_path);

// The model section of a Hugging Face config.json (errors name the file and key).
config::ModelConfig model_config_from_hf(const std::string& config_json_path);

}  // namespace dsa::train
