#include "model/model.h"

#include <algorithm>
#include <utility>

#include "core/error.h"
#include "core/philox.h"
#include "core/profile.h"
#include "ops/rope_table.h"

namespace dsa::model {

namespace {

// Two-phase carving of an arena: register (pointer, element count) pairs, then bind them all
// to one allocation. The same registration also yields the plan's byte count.
class Carver {
 public:
  template <class U>
  void add(U*& pointer, int64_t count) {
    slots_.push_back({reinterpret_cast<void**>(&pointer), plan_.add(count * sizeof(U))});
  }
  size_t bytes() const { return plan_.bytes(); }
  void bind(const Arena& arena) const {
    for (const auto& [pointer, offset] : slots_) *pointer = arena.base() + offset;
  }

 private:
  ArenaPlan plan_;
  std::vector<std::pair<void**, size_t>> slots_;
};

struct Dims {
  int64_t N, D, H, Hkv, Dh, F, V, qkv;
};

Dims dims_of(const config::ModelConfig& m, int64_t rows) {
  const int64_t Dh = m.head_dim();
  return {rows, m.d_model, m.n_heads, m.n_kv_heads, Dh, m.d_ff, m.vocab_size,
          (m.n_heads + 2 * m.n_kv_heads) * Dh};
}

template <class T>
void carve_activations(Carver& c, std::vector<LayerActivations<T>>& acts, const Dims& d,
                       int64_t batch, int64_t seq, int64_t list_width) {
  for (LayerActivations<T>& a : acts) {
    c.add(a.input, d.N * d.D);
    c.add(a.attn_rstd, d.N);
    c.add(a.attn_normed, d.N * d.D);
    c.add(a.qkv, d.N * d.qkv);
    c.add(a.attn_out, d.N * d.H * d.Dh);
    c.add(a.attn_lse, batch * d.H * seq);
    c.add(a.mid, d.N * d.D);
    c.add(a.mlp_rstd, d.N);
    c.add(a.mlp_normed, d.N * d.D);
    c.add(a.gate_up, d.N * 2 * d.F);
    c.add(a.mlp_act, d.N * d.F);
    if (list_width > 0) c.add(a.lists, d.N * list_width);
  }
}

template <class T>
void carve_head(Carver& c, HeadActivations<T>& h, const Dims& d, int64_t seq,
                const std::optional<DsaSpec>& dsa) {
  c.add(h.final_input, d.N * d.D);
  c.add(h.final_rstd, d.N);
  c.add(h.final_normed, d.N * d.D);
  c.add(h.logits, d.N * d.V);
  c.add(h.token_losses, d.N);
  c.add(h.inputs, d.N);
  c.add(h.targets, d.N);
  c.add(h.predictions, d.N);
  c.add(h.rope_cos, seq * d.Dh / 2);
  c.add(h.rope_sin, seq * d.Dh / 2);
  if (dsa) {
    c.add(h.indexer_cos, seq * dsa->indexer.rope_dims / 2);
    c.add(h.indexer_sin, seq * dsa->indexer.rope_dims / 2);
  }
}

template <class T>
void carve_scratch(Carver& c, BackwardScratch<T>& s, const Dims& d) {
  c.add(s.dx, d.N * d.D);
  c.add(s.dnormed, d.N * d.D);
  c.add(s.dqkv, d.N * d.qkv);
  c.add(s.dattn_out, d.N * d.H * d.Dh);
  c.add(s.dgate_up, d.N * 2 * d.F);
  c.add(s.dmlp_act, d.N * d.F);
  c.add(s.workspace, static_cast<int64_t>(s.workspace_bytes));
}

template <class T>
void carve_indexer_scratch(Carver& c, IndexerScratch<T>& s, const Dims& d, int64_t batch,
                           int64_t seq, const DsaSpec& dsa) {
  const int64_t projection = indexer_projection_rows(dsa.indexer);
  c.add(s.proj, d.N * projection);
  c.add(s.dproj, d.N * projection);
  c.add(s.scores, batch * seq * seq);
  c.add(s.dscores, batch * seq * seq);
  c.add(s.target, batch * seq * seq);
  c.add(s.dense_out, d.N * d.H * d.Dh);
  c.add(s.dense_lse, batch * d.H * seq);
  c.add(s.reference_lists, d.N * dsa.max_list_width);
}

ops::AttentionShape attention_shape_of(const config::ModelConfig& m, int64_t batch, int64_t seq) {
  const int64_t qkv_width = (m.n_heads + 2 * m.n_kv_heads) * m.head_dim();
  return {batch, seq, m.n_heads, m.n_kv_heads, m.head_dim(), qkv_width, qkv_width};
}

ops::IndexerShape indexer_shape_of(const config::IndexerConfig& indexer, int64_t batch,
                                   int64_t seq) {
  const int64_t width = indexer_projection_rows(indexer);
  return {batch, seq, indexer.heads, indexer.dim, width, width, width};
}

// Carves both activation-side arenas for (model, max_batch); returns their carvers.
template <class T>
struct ModelCarving {
  Carver activations, scratch;
};

template <class T>
ModelCarving<T> carve_model(const config::ModelConfig& m, const ops::Backend<T>& backend,
                            int64_t max_batch, const std::optional<DsaSpec>& dsa,
                            std::vector<LayerActivations<T>>& acts, HeadActivations<T>& head,
                            BackwardScratch<T>& scratch, IndexerScratch<T>& indexer) {
  const Dims d = dims_of(m, max_batch * m.seq_len);
  ModelCarving<T> carving;
  acts.resize(m.n_layers);
  const int64_t list_width = dsa ? dsa->max_list_width : 0;
  carve_activations(carving.activations, acts, d, max_batch, m.seq_len, list_width);
  carve_head(carving.activations, head, d, m.seq_len, dsa);
  ops::WorkspaceQuery query{attention_shape_of(m, max_batch, m.seq_len), d.N, d.D,
                            make_param_layout(m, config::OptimizerConfig{}).total};
  if (dsa) {
    query.indexer = indexer_shape_of(dsa->indexer, max_batch, m.seq_len);
    query.list_width = list_width;
  }
  scratch.workspace_bytes = backend.workspace_bytes(query, sizeof(T));
  carve_scratch(carving.scratch, scratch, d);
  if (dsa) carve_indexer_scratch(carving.scratch, indexer, d, max_batch, m.seq_len, *dsa);
  return carving;
}

const config::IndexerConfig* indexer_of(const std::optional<DsaSpec>& dsa) {
  return dsa ? &dsa->indexer : nullptr;
}

template <class T>
void upload_rope_table(const ops::Backend<T>& backend, const ops::Context& ctx, T* cos, T* sin,
                       int64_t seq, int64_t rot_dims, double theta) {
  const ops::RopeTable table = ops::make_rope_table(seq, rot_dims, theta);
  const std::vector<T> cos_values(table.cos.begin(), table.cos.end());
  const std::vector<T> sin_values(table.sin.begin(), table.sin.end());
  backend.memory.to_device(ctx, cos, cos_values.data(), cos_values.size() * sizeof(T));
  backend.memory.to_device(ctx, sin, sin_values.data(), sin_values.size() * sizeof(T));
}

}  // namespace

template <class T>
MemoryPlan Model<T>::plan(const config::ModelConfig& m, const config::OptimizerConfig& opt,
                          const ops::Backend<T>& backend, int64_t max_batch,
                          const std::optional<DsaSpec>& dsa) {
  std::vector<LayerActivations<T>> acts;
  HeadActivations<T> head{};
  BackwardScratch<T> scratch{};
  IndexerScratch<T> indexer{};
  const ModelCarving<T> carving =
      carve_model(m, backend, max_batch, dsa, acts, head, scratch, indexer);
  const int64_t param_count = make_param_layout(m, opt, indexer_of(dsa)).total;
  MemoryPlan plan;
  plan.params = plan.grads = param_count * sizeof(T);
  plan.optimizer = 2 * param_count * sizeof(T);  // AdamW m and v
  plan.activations = carving.activations.bytes();
  plan.scratch = carving.scratch.bytes();
  return plan;
}

template <class T>
Model<T>::Model(const config::ModelConfig& m, const config::OptimizerConfig& opt,
                const ops::Backend<T>& backend, int64_t max_batch,
                const std::optional<DsaSpec>& dsa)
    : cfg_(m), backend_(backend), layout_(make_param_layout(m, opt, indexer_of(dsa))),
      plan_(plan(m, opt, backend, max_batch, dsa)), max_batch_(max_batch),
      qkv_width_((m.n_heads + 2 * m.n_kv_heads) * m.head_dim()), dsa_(dsa),
      indexer_width_(dsa ? indexer_projection_rows(dsa->indexer) : 0) {
  if (dsa_) {
    const config::IndexerConfig& ix = dsa_->indexer;
    DSA_CHECK(ix.heads >= 1 && ix.dim >= 1 && ix.rope_dims >= 0 && ix.rope_dims % 2 == 0 &&
                  ix.rope_dims <= ix.dim && dsa_->max_list_width >= 1,
              "model: indexer heads ", ix.heads, ", dim ", ix.dim, ", rope_dims ", ix.rope_dims,
              ", list width ", dsa_->max_list_width, " — needs heads, dim, width >= 1 and rope_dims "
              "even in [0, dim] (-1 is resolved to dim / 2 only by config::load)");
  }
  ctx_ = backend.make_context();
  const Allocator& alloc = backend.memory.allocator;
  weights_arena_ = Arena(2 * layout_.total * sizeof(T), alloc, "parameters+gradients");
  params_ = weights_arena_.at<T>(0);
  grads_ = params_ + layout_.total;
  const ModelCarving<T> carving =
      carve_model(m, backend, max_batch, dsa_, acts_, head_, scratch_, indexer_);
  activations_arena_ = Arena(carving.activations.bytes(), alloc, "activations");
  carving.activations.bind(activations_arena_);
  scratch_arena_ = Arena(carving.scratch.bytes(), alloc, "scratch");
  carving.scratch.bind(scratch_arena_);
  ctx_.workspace = scratch_.workspace;
  ctx_.workspace_bytes = scratch_.workspace_bytes;

  upload_rope_table(backend, ctx_, head_.rope_cos, head_.rope_sin, m.seq_len, m.head_dim(),
                    m.rope_theta);
  if (dsa_ && dsa_->indexer.rope_dims > 0)
    upload_rope_table(backend, ctx_, head_.indexer_cos, head_.indexer_sin, m.seq_len,
                      dsa_->indexer.rope_dims, m.rope_theta);
}

template <class T>
void Model<T>::init_weights(uint64_t seed) {
  std::vector<T> host(layout_.total, T(0));
  for (size_t index = 0; index < layout_.specs.size(); ++index) {
    const ParamSpec& spec = layout_.specs[index];
    T* dst = host.data() + spec.offset;
    for (int64_t i = 0; i < spec.numel(); ++i)
      dst[i] = spec.init_std == 0.0 ? T(1) : T(spec.init_std * philox_normal(seed, index, i));
  }
  backend_.memory.to_device(ctx_, params_, host.data(), host.size() * sizeof(T));
}

template <class T>
ops::AttentionShape Model<T>::attention_shape(int64_t batch, int64_t seq) const {
  return attention_shape_of(cfg_, batch, seq);
}

template <class T>
void Model<T>::layer_forward(int64_t l, int64_t batch, int64_t seq,
                             const ForwardOptions& options) {
  const profile::Range range("layer forward", l);
  const ops::Backend<T>& be = backend_;
  const LayerOffsets& w = layout_.layers[l];
  LayerActivations<T>& a = acts_[l];
  T* next = (l + 1 < cfg_.n_layers) ? acts_[l + 1].input : head_.final_input;
  const int64_t N = batch * seq, D = cfg_.d_model, Dh = cfg_.head_dim(), F = cfg_.d_ff;
  const int64_t H = cfg_.n_heads, Hkv = cfg_.n_kv_heads;
  // attention block: mid = input + attention(rmsnorm(input)) Wo^T
  be.rmsnorm_forward(ctx_, a.attn_normed, a.attn_rstd, a.input, param(w.attn_norm), N, D, cfg_.norm_eps);
  be.matmul_forward(ctx_, a.qkv, a.attn_normed, param(w.wqkv), N, D, qkv_width_, false);
  T* q = a.qkv;
  T* k = a.qkv + H * Dh;
  T* v = k + Hkv * Dh;
  be.rope_forward(ctx_, q, head_.rope_cos, head_.rope_sin, batch, seq, H, Dh, Dh, qkv_width_);
  be.rope_forward(ctx_, k, head_.rope_cos, head_.rope_sin, batch, seq, Hkv, Dh, Dh, qkv_width_);
  const bool indexed = mode_ != AttentionMode::dense;
  // The scores feed the selection (sparse mode, metrics) and L_I; a warm-up forward without
  // either (an evaluation's loss) needs none.
  if (mode_ == AttentionMode::sparse || (indexed && (options.indexer_grad || options.selection_metrics)))
    indexer_scores(l, batch, seq);
  if (mode_ == AttentionMode::sparse || (indexed && options.selection_metrics))
    select(l, batch, seq);
  if (mode_ == AttentionMode::sparse)
    be.sparse_attention_forward(ctx_, a.attn_out, a.attn_lse, q, k, v, lists_of(l),
                                attention_shape(batch, seq));
  else
    be.attention_forward(ctx_, a.attn_out, a.attn_lse, q, k, v, attention_shape(batch, seq));
  if (indexed && options.indexer_grad) train_indexer(l, batch, seq);
  if (indexed && options.selection_metrics) measure_selection(l, batch, seq);
  be.matmul_forward(ctx_, a.mid, a.attn_out, param(w.wo), N, H * Dh, D, false);
  be.residual_forward(ctx_, a.mid, a.mid, a.input, N * D);
  // MLP block: next = mid + swiglu(rmsnorm(mid)) Wdown^T
  be.rmsnorm_forward(ctx_, a.mlp_normed, a.mlp_rstd, a.mid, param(w.mlp_norm), N, D, cfg_.norm_eps);
  be.matmul_forward(ctx_, a.gate_up, a.mlp_normed, param(w.w_gate_up), N, D, 2 * F, false);
  be.swiglu_forward(ctx_, a.mlp_act, a.gate_up, N, F);
  be.matmul_forward(ctx_, next, a.mlp_act, param(w.w_down), N, F, D, false);
  be.residual_forward(ctx_, next, next, a.mid, N * D);
}

template <class T>
double Model<T>::forward(const int32_t* inputs, const int32_t* targets, int64_t batch,
                         int64_t seq, double grad_scale) {
  ForwardOptions options;
  options.lm_grad_scale = grad_scale;
  options.predictions = grad_scale == 0.0;
  return forward(inputs, targets, batch, seq, options);
}

template <class T>
double Model<T>::forward(const int32_t* inputs, const int32_t* targets, int64_t batch,
                         int64_t seq, const ForwardOptions& options) {
  DSA_CHECK(batch >= 1 && batch <= max_batch_ && seq >= 1 && seq <= cfg_.seq_len,
            "model forward: batch ", batch, " x seq ", seq, " exceeds the planned ", max_batch_,
            " x ", cfg_.seq_len);
  const ops::Backend<T>& be = backend_;
  const int64_t N = batch * seq, D = cfg_.d_model, V = cfg_.vocab_size;
  last_batch_ = batch;
  last_seq_ = seq;
  list_width_ = std::min(mode_k_, seq);
  dsa_stats_ = DsaStats{};
  if (probe_ != nullptr && probe_->capture_scores) probe_->scores.assign(cfg_.n_layers, {});
  be.memory.to_device(ctx_, head_.inputs, inputs, N * sizeof(int32_t));
  be.memory.to_device(ctx_, head_.targets, targets, N * sizeof(int32_t));
  {
    const profile::Range range("embedding forward");
    be.embedding_forward(ctx_, acts_[0].input, head_.inputs, param(layout_.embed), N, D, V);
  }
  for (int64_t l = 0; l < cfg_.n_layers; ++l) layer_forward(l, batch, seq, options);
  {
    const profile::Range range("lm head and loss");
    be.rmsnorm_forward(ctx_, head_.final_normed, head_.final_rstd, head_.final_input, param(layout_.final_norm), N, D, cfg_.norm_eps);
    be.matmul_forward(ctx_, head_.logits, head_.final_normed, param(layout_.lm_head), N, D, V, false);
    // Training needs no argmax: predictions are computed for evaluation only.
    int32_t* predictions = options.predictions ? head_.predictions : nullptr;
    be.cross_entropy(ctx_, head_.logits, head_.token_losses, predictions, head_.targets, N, V,
                     T(options.lm_grad_scale));
  }
  std::vector<T> losses(N);
  be.memory.to_host(ctx_, losses.data(), head_.token_losses, N * sizeof(T));
  double total = 0;
  for (T loss : losses) total += static_cast<double>(loss);
  return total;
}

template <class T>
void Model<T>::layer_backward(int64_t l, int64_t batch, int64_t seq) {
  const profile::Range range("layer backward", l);
  const ops::Backend<T>& be = backend_;
  const LayerOffsets& w = layout_.layers[l];
  const LayerActivations<T>& a = acts_[l];
  const BackwardScratch<T>& s = scratch_;
  const int64_t N = batch * seq, D = cfg_.d_model, Dh = cfg_.head_dim(), F = cfg_.d_ff;
  const int64_t H = cfg_.n_heads, Hkv = cfg_.n_kv_heads;
  // s.dx holds dL/d(next); the residual passes it through unchanged to mid and input, and each
  // block's branch adds its part (rmsnorm_backward accumulates into s.dx).
  be.matmul_backward(ctx_, s.dmlp_act, grad(w.w_down), s.dx, a.mlp_act, param(w.w_down), N, F, D, false);
  be.swiglu_backward(ctx_, s.dgate_up, s.dmlp_act, a.gate_up, N, F);
  be.matmul_backward(ctx_, s.dnormed, grad(w.w_gate_up), s.dgate_up, a.mlp_normed, param(w.w_gate_up), N, D, 2 * F, false);
  be.rmsnorm_backward(ctx_, s.dx, grad(w.mlp_norm), s.dnormed, a.mid, param(w.mlp_norm), a.mlp_rstd, N, D);
  // attention block
  be.matmul_backward(ctx_, s.dattn_out, grad(w.wo), s.dx, a.attn_out, param(w.wo), N, H * Dh, D, false);
  const T* q = a.qkv;
  const T* k = a.qkv + H * Dh;
  const T* v = k + Hkv * Dh;
  T* dq = s.dqkv;
  T* dk = s.dqkv + H * Dh;
  T* dv = dk + Hkv * Dh;
  if (mode_ == AttentionMode::sparse)
    be.sparse_attention_backward(ctx_, dq, dk, dv, s.dattn_out, a.attn_out, a.attn_lse, q, k, v,
                                 lists_of(l), attention_shape(batch, seq));
  else
    be.attention_backward(ctx_, dq, dk, dv, s.dattn_out, a.attn_out, a.attn_lse, q, k, v,
                          attention_shape(batch, seq));
  be.rope_backward(ctx_, dq, head_.rope_cos, head_.rope_sin, batch, seq, H, Dh, Dh, qkv_width_);
  be.rope_backward(ctx_, dk, head_.rope_cos, head_.rope_sin, batch, seq, Hkv, Dh, Dh, qkv_width_);
  be.matmul_backward(ctx_, s.dnormed, grad(w.wqkv), s.dqkv, a.attn_normed, param(w.wqkv), N, D, qkv_width_, false);
  be.rmsnorm_backward(ctx_, s.dx, grad(w.attn_norm), s.dnormed, a.input, param(w.attn_norm), a.attn_rstd, N, D);
}

template <class T>
void Model<T>::backward() {
  const ops::Backend<T>& be = backend_;
  const int64_t batch = last_batch_, seq = last_seq_;
  const int64_t N = batch * seq, D = cfg_.d_model, V = cfg_.vocab_size;
  DSA_CHECK(N > 0, "model backward: no forward pass to differentiate");
  {
    const profile::Range range("lm head backward");
    // head_.logits holds dL/dlogits (written by cross_entropy when grad_scale != 0)
    be.matmul_backward(ctx_, scratch_.dnormed, grad(layout_.lm_head), head_.logits, head_.final_normed, param(layout_.lm_head), N, D, V, false);
    be.memory.zero(ctx_, scratch_.dx, N * D * sizeof(T));
    be.rmsnorm_backward(ctx_, scratch_.dx, grad(layout_.final_norm), scratch_.dnormed, head_.final_input, param(layout_.final_norm), head_.final_rstd, N, D);
  }
  for (int64_t l = cfg_.n_layers - 1; l >= 0; --l) layer_backward(l, batch, seq);
  const profile::Range range("embedding backward");
  be.embedding_backward(ctx_, grad(layout_.embed), scratch_.dx, head_.inputs, N, D, V);
}

template <class T>
void Model<T>::zero_grads() {
  backend_.memory.zero(ctx_, grads_, layout_.total * sizeof(T));
}

template <class T>
void Model<T>::read_token_losses(std::vector<T>& losses, std::vector<int32_t>& predictions) const {
  const int64_t N = last_batch_ * last_seq_;
  losses.resize(N);
  predictions.resize(N);
  backend_.memory.to_host(ctx_, losses.data(), head_.token_losses, N * sizeof(T));
  backend_.memory.to_host(ctx_, predictions.data(), head_.predictions, N * sizeof(int32_t));
}

template <class T>
void Model<T>::read_logits(std::vector<T>& logits) const {
  const int64_t count = last_batch_ * last_seq_ * cfg_.vocab_size;
  logits.resize(count);
  backend_.memory.to_host(ctx_, logits.data(), head_.logits, count * sizeof(T));
}

template class Model<float>;
template class Model<double>;

}  // namespace dsa::model
