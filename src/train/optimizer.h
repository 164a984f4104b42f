// AdamW over the model's parameter groups (docs/design.md §4): main and indexer parameters are separate
// groups with their own learning rate, gradient clipping, logged norm and update counter. A frozen
// group gets no update at all (no weight decay either) and its counter does not advance; the
// moments persist across stages. The moments live in one arena (the "optimizer" group of the plan).
#pragma once
#include <array>
#include <cstdint>

#include "config/config.h"
#include "core/arena.h"
#include "model/param_layout.h"
#include "ops/backend.h"

namespace dsa::train {

constexpr int kGroups = 2;  // indexed by model::ParamGroup

struct GroupUpdate {
  double lr = 0.0;
  bool frozen = false;
};

struct OptimizerStats {
  std::array<double, kGroups> grad_norm{};  // before clipping
};

template <class T>
class AdamW {
 public:
  AdamW(const model::ParamLayout& layout, const config::OptimizerConfig& config,
        const ops::Backend<T>& backend, const ops::Context& ctx);

  OptimizerStats step(T* params, const T* grads, const std::array<GroupUpdate, kGroups>& groups);

  T* m() const { return m_; }
  T* v() const { return v_; }
  // Updates applied so far to each group (the bias-correction step count).
  std::array<int64_t, kGroups>& updates() { return updates_; }

 private:
  double group_norm(const T* grads, model::ParamGroup group) const;

  const model::ParamLayout& layout_;
  config::OptimizerConfig cfg_;
  const ops::Backend<T>& backend_;
  const ops::Context& ctx_;
  Arena moments_;
  T *m_, *v_;
  std::array<int64_t, kGroups> updates_{};
};

}  // namespace dsa::train
