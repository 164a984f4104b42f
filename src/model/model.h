// The model of docs/design.md §3 and §4: forward and backward orchestration over a backend table, with
// an optional lightning indexer per layer (DeepSeek Sparse Attention). Owns three arenas on the
// backend's device: parameters+gradients, activations saved for the backward, and scratch reused
// across layers (the AdamW moments belong to the optimizer).
// T is float for training; double (CPU twin only) serves gradient checks and golden fixtures.
//
// Attention modes (the training stages of docs/design.md §4, set with set_mode):
//   dense   causal dense attention; the indexer, if any, is not run.
//   warmup  dense attention; the indexer scores every s <= t and, with indexer_grad, is trained by
//           L_I over s <= t against the dense attention (lse of the dense pass).
//   sparse  top-k of the indexer scores gives S_t; attention over S_t only; L_I over S_t (lse of
//           the sparse pass). The LM gradient reaches the main model through the sparse backward.
// The indexer reads stopgrad(attn_normed) and L_I's target is detached, so its gradient never
// depends on the LM backward: it is computed and accumulated into the indexer gradients inside
// forward() (layer by layer, scores and their gradient in scratch), and backward() touches only
// the main model. Hence the indexer gets only L_I and the main model only the LM loss.
#pragma once
#include <cstdint>
#include <optional>
#include <vector>

#include "config/config.h"
#include "core/arena.h"
#include "model/param_layout.h"
#include "ops/backend.h"

namespace dsa::model {

enum class AttentionMode { dense, warmup, sparse };

// What the model needs to host a lightning indexer: its shape and the widest index list.
struct DsaSpec {
  config::IndexerConfig indexer;
  int64_t max_list_width = 0;  // largest k of any stage, clamped to seq_len
};
// From a run's config: the spec when some stage needs the indexer, nothing otherwise.
std::optional<DsaSpec> dsa_spec(const config::Config& config);

struct ForwardOptions {
  double lm_grad_scale = 0.0;      // != 0: logits become d(grad_scale * sum loss)/dlogits
  bool indexer_grad = false;       // accumulate dL_I/dW into the indexer gradients (warmup/sparse)
  bool predictions = false;        // argmax per token (evaluation)
  bool selection_metrics = false;  // attn_mass_recall and topk_overlap (adds a dense pass)
};

// Indexer results of the last forward (warmup and sparse modes).
struct DsaStats {
  std::vector<double> indexer_loss;  // L_I per layer (only with indexer_grad)
  double mass_recall_sum = 0;        // sum over layers and rows of the dense mass S_t holds
  double overlap_sum = 0;            // sum over layers and rows of |S_t ∩ top-k(p_t)| / |S_t|
  int64_t metric_rows = 0;           // layers x rows measured (with selection_metrics)
};

// Test hooks: copy each layer's indexer scores to the host, or force the index lists.
template <class T>
struct DsaProbe {
  bool capture_scores = false;
  std::vector<std::vector<T>> scores;              // [layer][B*T*T], filled by forward()
  std::vector<std::vector<int32_t>> forced_lists;  // [layer][B*T*width]; empty: top-k
};

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
  int32_t* lists;  // [B, T, width] S_t of the last forward (DSA models only)
};

// Indexer buffers of one layer's forward, reused by every layer (scratch arena). DSA models only.
template <class T>
struct IndexerScratch {
  T* proj;        // [N, WI]  qI | kI | w (qI, kI after RoPE), WI = indexer_projection_rows
  T* dproj;       // [N, WI]  their gradient
  T* scores;      // [B, T, T] I_ts
  T* dscores;     // [B, T, T] dL_I/dI_ts
  T* target;      // [B, T, T] head-averaged dense attention p_ts (selection metrics)
  T* dense_out;   // [N, H Dh] dense attention beside the sparse one (selection metrics)
  T* dense_lse;   // [B, H, T]
  int32_t* reference_lists;  // [B, T, width] top-k of p_t (selection metrics)
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
  T *indexer_cos, *indexer_sin;             // [T, rope_dims/2] (DSA models only)
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
  // max_batch x max_seq bounds every later forward (seq <= model.seq_len). dsa: the lightning
  // indexer's shape, or nothing for a dense-only model.
  Model(const config::ModelConfig& model, const config::OptimizerConfig& optimizer,
        const ops::Backend<T>& backend, int64_t max_batch,
        const std::optional<DsaSpec>& dsa = std::nullopt);

  static MemoryPlan plan(const config::ModelConfig& model, const config::OptimizerConfig& opt,
                         const ops::Backend<T>& backend, int64_t max_batch,
                         const std::optional<DsaSpec>& dsa = std::nullopt);

  // The attention of later forwards; list_width (k) matters in warmup (metrics) and sparse mode.
  // Throws when the model has no indexer, k exceeds the planned width, or the backend lacks a
  // DSA op.
  void set_mode(AttentionMode mode, int64_t list_width = 0);
  AttentionMode mode() const { return mode_; }
  bool has_indexer() const { return dsa_.has_value(); }

  // Normal(0, init_std) from Philox(seed) per tensor (stream = tensor index), norms = 1.
  // Identical on both twins: generated on the host, then copied in.
  void init_weights(uint64_t seed);

  // Runs the forward over inputs/targets [batch, seq] (host pointers) and returns the summed
  // token loss (nats). With want_grad the logits are replaced by dloss/dlogits for backward(),
  // scaled so that the gradient is that of sum(loss) * grad_scale.
  double forward(const int32_t* inputs, const int32_t* targets, int64_t batch, int64_t seq,
                 double grad_scale);
  // The same with every choice explicit (the one above: lm_grad_scale = grad_scale, predictions
  // when grad_scale == 0, no indexer gradient).
  double forward(const int32_t* inputs, const int32_t* targets, int64_t batch, int64_t seq,
                 const ForwardOptions& options);
  const DsaStats& dsa_stats() const { return dsa_stats_; }
  // Index lists S_t [B, T, width] that layer l used in the last warmup/sparse forward.
  void read_lists(int64_t layer, std::vector<int32_t>& lists) const;
  void set_probe(DsaProbe<T>* probe) { probe_ = probe; }
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
  void layer_forward(int64_t l, int64_t batch, int64_t seq, const ForwardOptions& options);
  void layer_backward(int64_t l, int64_t batch, int64_t seq);
  // DSA parts of a layer (model_dsa.cpp).
  void indexer_scores(int64_t l, int64_t batch, int64_t seq);
  void select(int64_t l, int64_t batch, int64_t seq);
  void train_indexer(int64_t l, int64_t batch, int64_t seq);
  void measure_selection(int64_t l, int64_t batch, int64_t seq);
  ops::IndexLists lists_of(int64_t l) const;
  ops::IndexerShape indexer_shape(int64_t batch, int64_t seq) const;
  ops::AttentionShape attention_shape(int64_t batch, int64_t seq) const;
  T* param(int64_t offset) const { return params_ + offset; }
  T* grad(int64_t offset) const { return grads_ + offset; }

  config::ModelConfig cfg_;
  const ops::Backend<T>& backend_;
  ops::Context ctx_;
  ParamLayout layout_;
  MemoryPlan plan_;
  int64_t max_batch_, qkv_width_;
  std::optional<DsaSpec> dsa_;
  int64_t indexer_width_ = 0;  // WI: columns of the fused indexer projection
  AttentionMode mode_ = AttentionMode::dense;
  int64_t list_width_ = 0;     // k of the current mode, clamped to the forward's seq
  int64_t mode_k_ = 0;         // k as set
  DsaStats dsa_stats_;
  DsaProbe<T>* probe_ = nullptr;
  IndexerScratch<T> indexer_{};
  Arena weights_arena_, activations_arena_, scratch_arena_;
  T *params_, *grads_;
  std::vector<LayerActivations<T>> acts_;
  HeadActivations<T> head_{};
  BackwardScratch<T> scratch_{};
  int64_t last_batch_ = 0, last_seq_ = 0;
};

}  // namespace dsa::model
