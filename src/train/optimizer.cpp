#include "train/optimizer.h"

#include <cmath>

namespace dsa::train {

template <class T>
AdamW<T>::AdamW(const model::ParamLayout& layout, const config::OptimizerConfig& config,
                const ops::Backend<T>& backend, const ops::Context& ctx)
    : layout_(layout), cfg_(config), backend_(backend), ctx_(ctx),
      moments_(2 * layout.total * sizeof(T), backend.memory.allocator, "optimizer") {
  m_ = moments_.at<T>(0);
  v_ = m_ + layout.total;
  backend_.memory.zero(ctx_, m_, moments_.bytes());
}

template <class T>
double AdamW<T>::group_norm(const T* grads, model::ParamGroup group) const {
  double sum_sq = 0;  // tensors in table order: deterministic
  for (const model::ParamSpec& spec : layout_.specs)
    if (spec.group == group) sum_sq += backend_.sum_squares(ctx_, grads + spec.offset, spec.numel());
  return std::sqrt(sum_sq);
}

template <class T>
OptimizerStats AdamW<T>::step(T* params, const T* grads,
                              const std::array<GroupUpdate, kGroups>& groups) {
  OptimizerStats stats;
  for (int g = 0; g < kGroups; ++g) {
    const auto group = static_cast<model::ParamGroup>(g);
    stats.grad_norm[g] = group_norm(grads, group);
    if (groups[g].frozen) continue;
    const int64_t step = ++updates_[g];
    const double norm = stats.grad_norm[g];
    const double clip = (cfg_.grad_clip > 0 && norm > cfg_.grad_clip) ? cfg_.grad_clip / norm : 1.0;
    for (const model::ParamSpec& spec : layout_.specs) {
      if (spec.group != group) continue;
      const ops::AdamWHyper hyper{groups[g].lr, cfg_.beta1, cfg_.beta2, cfg_.eps,
                                  spec.weight_decay ? cfg_.weight_decay : 0.0, clip,
                                  1.0 - std::pow(cfg_.beta1, double(step)),
                                  1.0 - std::pow(cfg_.beta2, double(step))};
      backend_.adamw_update(ctx_, params + spec.offset, grads + spec.offset, m_ + spec.offset,
                            v_ + spec.offset, spec.numel(), hyper);
    }
  }
  return stats;
}

template class AdamW<float>;
template class AdamW<double>;

}  // namespace dsa::train
