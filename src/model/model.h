// The dense model of DESIGN §3: forward and backward orchestration over a backend table.
// Owns three arenas on the backend's device: parameters+gradients, activations saved for the
// backward, and scratch reused across layers (the AdamW moments belong to the optimizer).
// T is float for training; double (CPU twin only) serves gradient checks and golden fixtures.
#pragma once
#include <cstdint>
#include <vector>

#include "config/config.h"
#include "core/arena.h"
#include "model/param_layout.h"
#include "ops/backend.h"

namespace dsa::model {

// Bytes per arena group, computed before anything is allocated (printed at start).
struct MemoryPlan {
  size_t params = 0, grads = 0, optimizer = 0, activations = 0, scratch = 0;
  size_t total() const { return params + grads + optimizer + activations + scratch; }
};

// Buffers one layer saves for its backward ([N, ...] with N = B*T rows).
template <class T>
struct LayerActivations {
  T* input;        // [N, D]   residual stream entering the layer
  T* attn_rstd;    // [N]
  T* attn_normed;  // [N, D]
  T* qkv;          // [N, (H + 2Hkv) Dh], q and k after RoPE
  T* attn_out;     // [N, H Dh]
  T* attn_lse;     // [B, H, T]
  T* mid;          // [N, D]   residual stream after attention
  T* mlp_rstd;     // [N]
  T* mlp_normed;   // [N, D]
  T* gate_up;      // [N, 2F]
  T* mlp_act;      // [N, F]   silu(gate) * up
};

// Buffers of the model's ends: the final norm, logits and loss, the batch and the RoPE tables.
template <class T>
struct HeadActivations {
  T* final_input;   // [N, D]  residual stream after the last layer
  T* final_rstd;    // [N]
  T* final_normed;  // [N, D]
  T* logits;        // [N, V]  overwritten by dloss/dlogits when training
  T* token_losses;  // [N]
  int32_t *inputs, *targets, *predictions;  // [N]
  T *rope_cos, *rope_sin;                   // [T, Dh/2]
};

// Gradients that live only during backward(), reused by every layer.
template <class T>
struct BackwardScratch {
  T *dx, *dnormed, *dqkv, *dattn_out, *dgate_up, *dmlp_act;
  std::byte* workspace;  // ops' workspace (attention)
  size_t workspace_bytes;
};

template <class T>
class Model {
 public:
  // max_batch x max_seq bounds every later forward (seq <= model.seq_len).
  Model(const config::ModelConfig& model, const config::OptimizerConfig& optimizer,
        const ops::Backend<T>& backend, int64_t max_batch);

  static MemoryPlan plan(const config::ModelConfig& model, const config::OptimizerConfig& opt,
                         const ops::Backend<T>& backend, int64_t max_batch);

  // Normal(0, init_std) from Philox(seed) per tensor (stream = tensor index), norms = 1.
  // Identical on both twins: generated on the host, then copied in.
  void init_weights(uint64_t seed);

  // Runs the forward over inputs/targets [batch, seq] (host pointers) and returns the summed
  // token loss (nats). With want_grad the logits are replaced by dloss/dlogits for backward(),
  // scaled so that the gradient is that of sum(loss) * grad_scale.
  double forward(const int32_t* inputs, const int32_t* targets, int64_t batch, int64_t seq,
                 double grad_scale);
  // Accumulates parameter gradients (call zero_grads() first) for the last forward.
  void backward();
  void zero_grads();

  // Per-token results of the last forward, copied to the host: loss [B*T] and argmax [B*T]
  // (the argmax only after a forward with grad_scale == 0: training skips it).
  void read_token_losses(std::vector<T>& losses, std::vector<int32_t>& predictions) const;
  // Logits [B*T, V] of the last forward (only valid when it ran with grad_scale == 0).
  void read_logits(std::vector<T>& logits) const;

  const ParamLayout& layout() const { return layout_; }
  const config::ModelConfig& config() const { return cfg_; }
  T* params() const { return params_; }  // device memory of the backend
  T* grads() const { return grads_; }
  const ops::Backend<T>& backend() const { return backend_; }
  const ops::Context& context() const { return ctx_; }
  const MemoryPlan& memory_plan() const { return plan_; }

 private:
  void layer_forward(int64_t l, int64_t batch, int64_t seq);
  void layer_backward(int64_t l, int64_t batch, int64_t seq);
  ops::AttentionShape attention_shape(int64_t batch, int64_t seq) const;
  T* param(int64_t offset) const { return params_ + offset; }
  T* grad(int64_t offset) const { return grads_ + offset; }

  config::ModelConfig cfg_;
  const ops::Backend<T>& backend_;
  ops::Context ctx_;
  ParamLayout layout_;
  MemoryPlan plan_;
  int64_t max_batch_, qkv_width_;
  Arena weights_arena_, activations_arena_, scratch_arena_;
  T *params_, *grads_;
  std::vector<LayerActivations<T>> acts_;
  HeadActivations<T> head_{};
  BackwardScratch<T> scratch_{};
  int64_t last_batch_ = 0, last_seq_ = 0;
};

}  // namespace dsa::model
