#include "train/session.h"

#include "core/error.h"
#include "core/profile.h"
#include "cpu/blas_info.h"
#include "cpu/cpu_ops.h"
#include "cuda_backend.h"

namespace dsa::train {

BackendChoice choose_backend(const std::string& device, bool profiled, const std::string& option) {
  // "train.device = cuda", "bench --attention --device cuda"
  const std::string said = option + (option.find("--") == std::string::npos ? " = " : " ") + device;
  DSA_CHECK(device == "auto" || device == "cpu" || device == "cuda", said, ": allowed values are auto, cpu, cuda");
  const ops::Backend<float>* cpu_twin = profiled ? &cpu::profiled_backend<float>() : &cpu::backend<float>();
  if (device == "cpu") return {cpu_twin, said};
  if (device == "auto" && (!cuda::device_status().available || cuda::runs_emulated()))
    return {cpu_twin, said + ": " + cuda::device_status().description +
                          ", using the CPU (the emulated GPU runs only when asked for: " + option +
                          (option.find("--") == std::string::npos ? " = cuda)" : " cuda)")};
  const ops::Backend<float>* cuda_twin = profiled ? &cuda::profiled_backend() : &cuda::backend();
  return {cuda_twin, said + ": " + cuda::description()};
}

void configure_device(const ops::Backend<float>& backend, const config::TrainConfig& train) {
  cpu::set_cpu_threads(train.threads);
  if (backend.device == ops::Device::cuda) cuda::set_tf32(train.tf32);
}

Session::Session(const config::Config& config, const ops::Backend<float>& backend,
                 dist::Communicator& comm)
    : cfg_(config), comm_(comm) {
  configure_device(backend, cfg_.train);
  // L_I's gradient is a per-rank mean (ops/indexer_loss.h): summing it over ranks would scale the
  // indexer's step by the world size. One rank until the communicator averages that group.
  DSA_CHECK(comm_.world_size() == 1 || !cfg_.has_indexer(), "the warmup and sparse stages run on "
            "one rank for now (", comm_.world_size(), " ranks requested)");
  model_ = std::make_unique<model::Model<float>>(cfg_.model, cfg_.optimizer, backend,
                                                 cfg_.train.batch_size, model::dsa_spec(cfg_));
  model_->init_weights(cfg_.train.seed);
  optimizer_ = std::make_unique<AdamW<float>>(model_->layout(), cfg_.optimizer, backend,
                                              model_->context());
}

StepResult Session::step(const int32_t* inputs, const int32_t* targets, const StepPlan& plan) {
  const int64_t batch = cfg_.train.batch_size, seq = cfg_.model.seq_len;
  const double tokens = static_cast<double>(batch * seq * comm_.world_size());
  const bool warmup = plan.mode == model::AttentionMode::warmup;
  if (plan.mode != model_->mode() || plan.k != last_k_) model_->set_mode(plan.mode, plan.k);
  last_k_ = plan.k;
  model_->zero_grads();
  StepResult result;
  model::ForwardOptions options;
  options.lm_grad_scale = warmup ? 0.0 : 1.0 / tokens;  // warm-up: the main model is frozen
  options.indexer_grad = plan.mode != model::AttentionMode::dense;
  double loss_sum = model_->forward(inputs, targets, batch, seq, options);
  if (!warmup) model_->backward();
  const std::vector<double>& layer_losses = model_->dsa_stats().indexer_loss;
  if (!layer_losses.empty()) {
    double sum = 0;
    for (double loss : layer_losses) sum += loss;
    result.indexer_loss = sum / double(layer_losses.size());
  }
  comm_.allreduce_sum(model_->grads(), model_->layout().total);
  comm_.allreduce_sum_host(&loss_sum, 1);
  result.loss = loss_sum / tokens;
  const profile::Range range("optimizer");
  result.optimizer = optimizer_->step(model_->params(), model_->grads(), plan.groups);
  return result;
}

}  // namespace dsa::train
