#include "train/session.h"

#include "core/error.h"
#include "core/profile.h"
#include "cpu/blas_info.h"
#include "cpu/cpu_ops.h"
#ifdef DSA_WITH_CUDA
#include "cuda_backend.h"
#endif

namespace dsa::train {

BackendChoice choose_backend(const std::string& device, bool profiled) {
  const ops::Backend<float>* cpu_twin = profiled ? &cpu::profiled_backend<float>() : &cpu::backend<float>();
  if (device == "cpu") return {cpu_twin, "train.device = cpu"};
#ifdef DSA_WITH_CUDA
  const cuda::DeviceStatus gpu = cuda::device_status();
  if (device == "cuda" || gpu.available) {
    DSA_CHECK(gpu.available, "train.device = cuda: ", gpu.description, "; use auto or cpu");
    return {profiled ? &cuda::profiled_backend() : &cuda::backend(), "GPU " + gpu.description};
  }
  return {cpu_twin, "train.device = auto: " + gpu.description + ", using the CPU"};
#else
  DSA_CHECK(device != "cuda", "train.device = cuda, but this build has no CUDA twin (built "
            "without nvcc: tools/build.sh cuda on a machine with the CUDA toolkit); allowed here: auto, cpu");
  return {cpu_twin, "train.device = auto: this build has no CUDA twin, using the CPU"};
#endif
}

Session::Session(const config::Config& config, const ops::Backend<float>& backend,
                 dist::Communicator& comm)
    : cfg_(config), comm_(comm) {
  cpu::set_cpu_threads(cfg_.train.threads);
#ifdef DSA_WITH_CUDA
  if (backend.device == ops::Device::cuda) cuda::set_tf32(cfg_.train.tf32);
#endif
  model_ = std::make_unique<model::Model<float>>(cfg_.model, cfg_.optimizer, backend,
                                                 cfg_.train.batch_size);
  model_->init_weights(cfg_.train.seed);
  optimizer_ = std::make_unique<AdamW<float>>(model_->layout(), cfg_.optimizer, backend,
                                              model_->context());
}

StepResult Session::step(const int32_t* inputs, const int32_t* targets,
                         const std::array<GroupUpdate, kGroups>& groups) {
  const int64_t batch = cfg_.train.batch_size, seq = cfg_.model.seq_len;
  const double tokens = static_cast<double>(batch * seq * comm_.world_size());
  model_->zero_grads();
  StepResult result;
  double loss_sum = model_->forward(inputs, targets, batch, seq, 1.0 / tokens);
  model_->backward();
  comm_.allreduce_sum(model_->grads(), model_->layout().total);
  comm_.allreduce_sum_host(&loss_sum, 1);
  result.loss = loss_sum / tokens;
  const profile::Range range("optimizer");
  result.optimizer = optimizer_->step(model_->params(), model_->grads(), groups);
  return result;
}

}  // namespace dsa::train
