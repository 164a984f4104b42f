// A run's checkpoints (run_state.h).
#include "train/run_state.h"

#include <cstdio>
#include <filesystem>
#include <regex>
#include <vector>

#include "core/error.h"
#include "train/checkpoint.h"
#include "train/model_io.h"

namespace dsa::train {

namespace {

namespace fs = std::filesystem;

// Resuming continues the same run: what shapes the trajectory must match the checkpoint's config.
// Logging, evaluation and checkpoint cadence, paths and the device may change.
void check_resumable(const config::Config& saved, const config::Config& now, const std::string& path) {
  auto require = [&](bool same, const char* section) {
    DSA_CHECK(same, path, ": the checkpoint's ", section, " section differs from the config's; ",
              "resume needs the same ", section, " (start a new run.name to change it)");
  };
  require(saved.model == now.model, "model");
  require(saved.optimizer == now.optimizer, "optimizer");
  require(saved.stages == now.stages, "schedule.stages");
  require(saved.indexer == now.indexer, "indexer");
  require(saved.selection == now.selection, "selection");
  require(saved.train.seed == now.train.seed && saved.train.batch_size == now.train.batch_size,
          "train (seed, batch_size)");
}

// Host copies of the device tensors a checkpoint holds (a plain copy on the CPU twin).
struct HostState {
  std::vector<float> params, m, v;
};

}  // namespace

std::string checkpoint_path(const std::string& run_dir, int64_t step) {
  return run_dir + "/step_" + std::to_string(step) + ".ckpt";
}

// Newest step_<n>.ckpt of the run folder, or "" when there is none.
std::string newest_checkpoint(const std::string& run_dir) {
  if (!fs::is_directory(run_dir)) return "";
  const std::regex name_pattern("step_([0-9]+)\\.ckpt");
  int64_t best_step = -1;
  std::string best;
  for (const fs::directory_entry& entry : fs::directory_iterator(run_dir)) {
    std::smatch match;
    const std::string name = entry.path().filename().string();
    if (!std::regex_match(name, match, name_pattern)) continue;
    const int64_t step = std::stoll(match[1].str());
    if (step > best_step) best_step = step, best = entry.path().string();
  }
  return best;
}

namespace {

HostState read_state(Session& s) {
  const int64_t total = s.model().layout().total;
  HostState state{std::vector<float>(total), std::vector<float>(total), std::vector<float>(total)};
  const auto& mem = s.model().backend().memory;
  const ops::Context& ctx = s.model().context();
  mem.to_host(ctx, state.params.data(), s.model().params(), total * sizeof(float));
  mem.to_host(ctx, state.m.data(), s.optimizer().m(), total * sizeof(float));
  mem.to_host(ctx, state.v.data(), s.optimizer().v(), total * sizeof(float));
  return state;
}

}  // namespace

void save(Session& s, const std::string& path, int64_t step) {
  const HostState state = read_state(s);
  save_training_state(path, s.config(), s.model().layout(),
                      {state.params.data(), state.m.data(), state.v.data(), step,
                       {s.optimizer().updates()[size_t(model::ParamGroup::main)],
                        s.optimizer().updates()[size_t(model::ParamGroup::indexer)]}});
}

int64_t restore(Session& s, const std::string& path) {
  const CheckpointData ckpt = load_checkpoint(path);
  const config::Config saved = config::parse(ckpt.config_yaml, path + " (embedded config)");
  check_resumable(saved, s.config(), path);
  HostState state = read_state(s);
  for (const model::ParamSpec& spec : s.model().layout().specs) {
    ckpt.copy_tensor("param/" + spec.name, spec.shape, spec.view(state.params.data()).data);
    ckpt.copy_tensor("adam_m/" + spec.name, spec.shape, spec.view(state.m.data()).data);
    ckpt.copy_tensor("adam_v/" + spec.name, spec.shape, spec.view(state.v.data()).data);
  }
  const int64_t total = s.model().layout().total;
  const auto& mem = s.model().backend().memory;
  const ops::Context& ctx = s.model().context();
  mem.to_device(ctx, s.model().params(), state.params.data(), total * sizeof(float));
  mem.to_device(ctx, s.optimizer().m(), state.m.data(), total * sizeof(float));
  mem.to_device(ctx, s.optimizer().v(), state.v.data(), total * sizeof(float));
  s.optimizer().updates() = {ckpt.counter("adam_updates_main"), ckpt.counter("adam_updates_indexer")};
  return ckpt.counter("step");
}

// train.init_from: the weights of another run's checkpoint (same model section) start this one,
// tensor by tensor; tensors it lacks keep their init — only indexer tensors may be missing (a dense
// run's checkpoint starting a warm-up). AdamW moments and the step count start fresh.
void init_from_checkpoint(Session& s, const std::string& path) {
  const CheckpointData ckpt = load_checkpoint(path);
  const config::Config saved = config::parse(ckpt.config_yaml, path + " (embedded config)");
  DSA_CHECK(saved.model == s.config().model, path, ": train.init_from needs a checkpoint of the "
            "same model section (the shapes of every main tensor); this one's differs");
  HostState state = read_state(s);
  int64_t copied = 0, fresh = 0;
  for (const model::ParamSpec& spec : s.model().layout().specs) {
    const std::string name = "param/" + spec.name;
    if (ckpt.has_tensor(name)) {
      ckpt.copy_tensor(name, spec.shape, spec.view(state.params.data()).data);
      ++copied;
      continue;
    }
    DSA_CHECK(spec.group == model::ParamGroup::indexer, path, ": train.init_from: the checkpoint "
              "has no tensor '", spec.name, "' (only indexer tensors may be missing)");
    ++fresh;
  }
  const int64_t total = s.model().layout().total;
  s.model().backend().memory.to_device(s.model().context(), s.model().params(),
                                       state.params.data(), total * sizeof(float));
  std::printf("init: %ld tensors from %s (step %ld)%s\n", long(copied), path.c_str(),
              long(ckpt.counter("step")),
              fresh > 0 ? cat("; ", fresh, " indexer tensors keep their init").c_str() : "");
}

}  // namespace dsa::train
