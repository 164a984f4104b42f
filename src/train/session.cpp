#include "train/session.h"

#include "core/error.h"
#include "cpu/blas_info.h"
#include "cpu/cpu_ops.h"

namespace dsa::train {

BackendChoice choose_backend(const std::string& device) {
  if (device == "cpu") return {&cpu::backend<float>(), "train.device = cpu"};
  if (device == "cuda")
    fail("train.device = cuda, but this build has no CUDA twin (it was built without nvcc, or "
         "the CUDA twin is not implemented yet); allowed here: auto, cpu");
  return {&cpu::backend<float>(), "train.device = auto: no CUDA twin in this build, using the CPU"};
}

Session::Session(const config::Config& config, const ops::Backend<float>& backend,
                 dist::Communicator& comm)
    : cfg_(config), comm_(comm) {
  cpu::set_cpu_threads(cfg_.train.threads);
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
  result.optimizer = optimizer_->step(model_->params(), model_->grads(), groups);
  return result;
}

}  // namespace dsa::train
