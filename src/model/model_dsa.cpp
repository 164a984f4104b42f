// The DeepSeek Sparse Attention parts of a layer (docs/design.md §4): the lightning indexer's scores,
// the selection S_t, the indexer's own training step (L_I and its gradient, inside the forward),
// and the selection metrics of evaluations. Orchestration only: the math lives in the ops
// (ops/indexer.h, topk.h, sparse_attention.h, indexer_loss.h), reached through the backend table.
#include <algorithm>

#include "core/error.h"
#include "core/profile.h"
#include "model/model.h"
#include "model/selection_metrics.h"

namespace dsa::model {

std::optional<DsaSpec> dsa_spec(const config::Config& config) {
  if (!config.has_indexer()) return std::nullopt;
  return DsaSpec{config.indexer, config.max_list_width()};
}

namespace {

const char* mode_name(AttentionMode mode) {
  switch (mode) {
    case AttentionMode::dense: return "dense";
    case AttentionMode::warmup: return "warmup";
    case AttentionMode::sparse: return "sparse";
  }
  return "?";
}

}  // namespace

template <class T>
void Model<T>::set_mode(AttentionMode mode, int64_t list_width) {
  last_batch_ = last_seq_ = 0;  // a backward() must follow a forward() of the same mode
  mode_ = mode;
  mode_k_ = 0;
  if (mode == AttentionMode::dense) return;
  DSA_CHECK(dsa_.has_value(), "model: attention mode '", mode_name(mode),
            "' needs the lightning indexer, and this model was built without one (no warmup or "
            "sparse stage in schedule.stages)");
  const char* missing = ops::first_missing_sparse_op(backend_);
  DSA_CHECK(missing == nullptr, "model: attention mode '", mode_name(mode), "' needs the op ",
            missing, ", which the ", backend_.name, " twin does not have yet; use train.device=cpu");
  DSA_CHECK(list_width >= 1 && std::min(list_width, cfg_.seq_len) <= dsa_->max_list_width,
            "model: k = ", list_width, " for mode '", mode_name(mode),
            "' exceeds the planned index-list width ", dsa_->max_list_width);
  mode_k_ = std::min(list_width, cfg_.seq_len);
}

template <class T>
ops::IndexerShape Model<T>::indexer_shape(int64_t batch, int64_t seq) const {
  const int64_t width = indexer_width_;
  return {batch, seq, dsa_->indexer.heads, dsa_->indexer.dim, width, width, width};
}

template <class T>
ops::IndexLists Model<T>::lists_of(int64_t l) const {
  return {acts_[l].lists, list_width_};
}

// scores[b, t, s] = I_ts from stopgrad(attn_normed): proj = normed WI^T, RoPE on the first
// rope_dims of qI (HI heads) and kI (one head), then the indexer op.
template <class T>
void Model<T>::indexer_scores(int64_t l, int64_t batch, int64_t seq) {
  const profile::Range range("indexer forward", l);
  const ops::Backend<T>& be = backend_;
  const config::IndexerConfig& ix = dsa_->indexer;
  const IndexerScratch<T>& s = indexer_;
  const int64_t N = batch * seq, W = indexer_width_;
  be.matmul_forward(ctx_, s.proj, acts_[l].attn_normed, param(layout_.layers[l].indexer), N,
                    cfg_.d_model, W, false);
  T* q = s.proj;
  T* k = q + ix.heads * ix.dim;
  T* w = ix.weights ? k + ix.dim : nullptr;
  if (ix.rope_dims > 0) {
    be.rope_forward(ctx_, q, head_.indexer_cos, head_.indexer_sin, batch, seq, ix.heads, ix.dim,
                    ix.rope_dims, W);
    be.rope_forward(ctx_, k, head_.indexer_cos, head_.indexer_sin, batch, seq, 1, ix.dim,
                    ix.rope_dims, W);
  }
  be.indexer_forward(ctx_, s.scores, q, k, w, indexer_shape(batch, seq));
  if (probe_ != nullptr && probe_->capture_scores) {
    probe_->scores[l].resize(batch * seq * seq);
    be.memory.to_host(ctx_, probe_->scores[l].data(), s.scores, batch * seq * seq * sizeof(T));
  }
}

// S_t = top-k of the scores (or the probe's forced lists) into the layer's lists.
template <class T>
void Model<T>::select(int64_t l, int64_t batch, int64_t seq) {
  const profile::Range range("top-k select", l);
  const int64_t count = batch * seq * list_width_;
  if (probe_ != nullptr && !probe_->forced_lists.empty()) {
    const std::vector<int32_t>& forced = probe_->forced_lists.at(l);
    DSA_CHECK(int64_t(forced.size()) == count, "model probe: forced lists of layer ", l, " hold ",
              forced.size(), " entries, expected B*T*k = ", count);
    backend_.memory.to_device(ctx_, acts_[l].lists, forced.data(), count * sizeof(int32_t));
    return;
  }
  backend_.topk_select(ctx_, acts_[l].lists, indexer_.scores, {batch, seq, list_width_});
}

// L_I over the mode's domain against the attention just computed, and its gradient into the
// indexer weights: dscores -> (dqI, dkI, dw) -> inverse RoPE -> dWI += dproj^T normed. The
// indexer's input is detached, so no gradient flows back into the layer.
template <class T>
void Model<T>::train_indexer(int64_t l, int64_t batch, int64_t seq) {
  const profile::Range range("indexer loss and backward", l);
  const ops::Backend<T>& be = backend_;
  const config::IndexerConfig& ix = dsa_->indexer;
  const IndexerScratch<T>& s = indexer_;
  const LayerActivations<T>& a = acts_[l];
  const int64_t N = batch * seq, W = indexer_width_;
  const int64_t H = cfg_.n_heads, Dh = cfg_.head_dim();
  const ops::IndexLists domain =
      mode_ == AttentionMode::sparse ? lists_of(l) : ops::IndexLists{nullptr, 0};
  const double loss = be.indexer_loss(ctx_, s.dscores, nullptr, s.scores, a.qkv, a.qkv + H * Dh,
                                      a.attn_lse, domain, attention_shape(batch, seq));
  dsa_stats_.indexer_loss.push_back(loss);
  const T* q = s.proj;
  const T* k = q + ix.heads * ix.dim;
  const T* w = ix.weights ? k + ix.dim : nullptr;
  T* dq = s.dproj;
  T* dk = dq + ix.heads * ix.dim;
  T* dw = ix.weights ? dk + ix.dim : nullptr;
  be.indexer_backward(ctx_, dq, dk, dw, s.dscores, q, k, w, indexer_shape(batch, seq));
  if (ix.rope_dims > 0) {
    be.rope_backward(ctx_, dq, head_.indexer_cos, head_.indexer_sin, batch, seq, ix.heads, ix.dim,
                     ix.rope_dims, W);
    be.rope_backward(ctx_, dk, head_.indexer_cos, head_.indexer_sin, batch, seq, 1, ix.dim,
                     ix.rope_dims, W);
  }
  const int64_t offset = layout_.layers[l].indexer;
  be.matmul_backward(ctx_, nullptr, grad(offset), s.dproj, a.attn_normed, param(offset), N,
                     cfg_.d_model, W, false);
}

// attn_mass_recall and topk_overlap of this layer's S_t against the dense attention (a dense
// pass beside the sparse one in sparse mode; the layer's own attention in warm-up).
template <class T>
void Model<T>::measure_selection(int64_t l, int64_t batch, int64_t seq) {
  const profile::Range range("selection metrics", l);
  const ops::Backend<T>& be = backend_;
  const IndexerScratch<T>& s = indexer_;
  const LayerActivations<T>& a = acts_[l];
  const int64_t H = cfg_.n_heads, Hkv = cfg_.n_kv_heads, Dh = cfg_.head_dim();
  const T* q = a.qkv;
  const T* k = q + H * Dh;
  const T* v = k + Hkv * Dh;
  const ops::AttentionShape shape = attention_shape(batch, seq);
  const T* dense_lse = a.attn_lse;
  if (mode_ == AttentionMode::sparse) {
    be.attention_forward(ctx_, s.dense_out, s.dense_lse, q, k, v, shape);
    dense_lse = s.dense_lse;
  }
  be.attention_target(ctx_, s.target, q, k, dense_lse, shape);
  be.topk_select(ctx_, s.reference_lists, s.target, {batch, seq, list_width_});
  const int64_t lists_count = batch * seq * list_width_;
  std::vector<T> target(batch * seq * seq);
  std::vector<int32_t> selected(lists_count), reference(lists_count);
  be.memory.to_host(ctx_, target.data(), s.target, target.size() * sizeof(T));
  be.memory.to_host(ctx_, selected.data(), a.lists, lists_count * sizeof(int32_t));
  be.memory.to_host(ctx_, reference.data(), s.reference_lists, lists_count * sizeof(int32_t));
  const SelectionSums sums =
      selection_sums(target.data(), selected.data(), reference.data(), batch, seq, list_width_);
  dsa_stats_.mass_recall_sum += sums.mass_recall;
  dsa_stats_.overlap_sum += sums.overlap;
  dsa_stats_.metric_rows += sums.rows;
}

template <class T>
void Model<T>::read_lists(int64_t layer, std::vector<int32_t>& lists) const {
  DSA_CHECK(mode_ != AttentionMode::dense && last_batch_ > 0 && layer >= 0 &&
                layer < cfg_.n_layers,
            "model: no index lists for layer ", layer, " (needs a warmup or sparse forward)");
  lists.resize(last_batch_ * last_seq_ * list_width_);
  backend_.memory.to_host(ctx_, lists.data(), acts_[layer].lists, lists.size() * sizeof(int32_t));
}

// model.cpp instantiates the class; this file instantiates the members it defines.
#define DSA_INSTANTIATE(T)                                                              \
  template void Model<T>::set_mode(AttentionMode, int64_t);                             \
  template ops::IndexerShape Model<T>::indexer_shape(int64_t, int64_t) const;           \
  template ops::IndexLists Model<T>::lists_of(int64_t) const;                           \
  template void Model<T>::indexer_scores(int64_t, int64_t, int64_t);                    \
  template void Model<T>::select(int64_t, int64_t, int64_t);                            \
  template void Model<T>::train_indexer(int64_t, int64_t, int64_t);                     \
  template void Model<T>::measure_selection(int64_t, int64_t, int64_t);                 \
  template void Model<T>::read_lists(int64_t, std::vector<int32_t>&) const;
DSA_INSTANTIATE(float)
DSA_INSTANTIATE(double)
#undef DSA_INSTANTIATE

}  // namespace dsa::model
