// Indexer KL loss, CPU twin (ops/indexer_loss.h). The target p is rebuilt head by head from q,
// k and the attention's saved lse, and never exists for more than one block of query rows:
//   dense domain: one task per (batch, block of kBlock query rows); per head one BLAS GEMM of
//     the block's scores [kBlock, t_end] (as in cpu/attention.cpp), exp(x - lse) added into the
//     block's target [kBlock, T];
//   sparse domain: one task per query row; each listed key row is gathered once for all heads.
// Each row's KL goes into a [B*T] array of doubles in the workspace; L_I sums it in row order.
#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "cpu/cpu_ops.h"
#include "cpu/dsa_index_lists.h"
#include "cpu/dsa_vec.h"
#include "cpu/vec_math.h"

namespace dsa::cpu {

namespace {

constexpr int64_t kBlock = 64;  // query rows per dense task

// Workspace: [row KL: B*T doubles][per thread: target and scores, each kBlock*T scalars].
struct LossLayout {
  size_t row_kl_bytes, per_thread;
};

LossLayout layout_of(const AttentionShape& s, int64_t list_width, size_t scalar_bytes) {
  const int64_t per_thread_scalars = std::max(2 * kBlock * s.seq, list_width);
  return {align_bytes(s.batch * s.seq * sizeof(double)),
          static_cast<size_t>(per_thread_scalars) * scalar_bytes};
}

// KL_t over a domain of n keys (key j is keys[j], or j itself when keys is null), with
// target [n] = p_t over the domain; writes dscores_row at the domain's keys.
template <class T>
double row_kl(T* dscores_row, const T* scores_row, const T* target, const int32_t* keys,
              int64_t n, T inv_rows) {
  const auto key = [keys](int64_t j) { return keys == nullptr ? j : int64_t(keys[j]); };
  T max_score = -std::numeric_limits<T>::infinity();
  for (int64_t j = 0; j < n; ++j) max_score = std::max(max_score, scores_row[key(j)]);
  T sum = 0;
  for (int64_t j = 0; j < n; ++j) sum += exp_fast(scores_row[key(j)] - max_score);
  const T score_lse = max_score + std::log(sum);
  double kl = 0;
  for (int64_t j = 0; j < n; ++j) {
    const T log_r = scores_row[key(j)] - score_lse, p = target[j];
    if (p > T(0)) kl += double(p) * (std::log(double(p)) - double(log_r));
    dscores_row[key(j)] = (exp_fast(log_r) - p) * inv_rows;
  }
  return kl;
}

// target [rows, T] of the block at r0: p_ts for s <= t (probs [rows, T] is scratch).
template <class T>
void dense_block_target(const Context& ctx, T* target, T* probs, const T* q, const T* k,
                        const T* lse, const AttentionShape& s, int64_t b, int64_t r0,
                        int64_t rows, T scale) {
  const int64_t cols = r0 + rows, group = s.heads / s.kv_heads;
  for (int64_t i = 0; i < rows; ++i) std::fill_n(target + i * s.seq, r0 + i + 1, T(0));
  for (int64_t h = 0; h < s.heads; ++h) {
    gemm<T>(ctx, false, true, rows, cols, s.head_dim, scale,
            q + (b * s.seq + r0) * s.q_stride + h * s.head_dim, s.q_stride,
            k + b * s.seq * s.kv_stride + (h / group) * s.head_dim, s.kv_stride, T(0), probs,
            s.seq);
    for (int64_t i = 0; i < rows; ++i) {
      const T lse_th = lse[(b * s.heads + h) * s.seq + r0 + i];
      const T* prob_row = probs + i * s.seq;
      T* target_row = target + i * s.seq;
#pragma omp simd
      for (int64_t c = 0; c <= r0 + i; ++c) target_row[c] += exp_fast(prob_row[c] - lse_th);
    }
  }
  const T inv_heads = T(1) / T(s.heads);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t c = 0; c <= r0 + i; ++c) target[i * s.seq + c] *= inv_heads;
}

template <class T>
void dense_rows(const Context& ctx, double* row_kl_out, T* dscores, const T* scores, const T* q,
                const T* k, const T* lse, const AttentionShape& s, const LossLayout& layout,
                T scale, T inv_rows) {
  const int64_t blocks = (s.seq + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(dynamic)
  for (int64_t task = 0; task < s.batch * blocks; ++task) {
    const int64_t b = task / blocks, r0 = (task % blocks) * kBlock;
    const int64_t rows = std::min(kBlock, s.seq - r0);
    T* target = thread_scratch<T>(ctx, layout.row_kl_bytes, layout.per_thread);
    dense_block_target(ctx, target, target + kBlock * s.seq, q, k, lse, s, b, r0, rows, scale);
    for (int64_t i = 0; i < rows; ++i) {
      const int64_t row = b * s.seq + r0 + i, visible = r0 + i + 1;
      T* dscores_row = dscores + row * s.seq;
      row_kl_out[row] = row_kl(dscores_row, scores + row * s.seq, target + i * s.seq, nullptr,
                               visible, inv_rows);
      std::fill(dscores_row + visible, dscores_row + s.seq, T(0));
    }
  }
}

// target [n] = p_ts over the n listed keys of row (b, t); key-major, so each gathered key row
// serves every head while it is in cache.
template <class T>
void sparse_row_target(T* target, const int32_t* keys, int64_t n, const T* q, const T* k,
                       const T* lse, const AttentionShape& s, int64_t b, int64_t t, T scale) {
  const int64_t group = s.heads / s.kv_heads;
  const T* q_row = q + (b * s.seq + t) * s.q_stride;
  const T* lse_bt = lse + b * s.heads * s.seq + t;  // head h at h * T
  const T inv_heads = T(1) / T(s.heads);
  for (int64_t j = 0; j < n; ++j) {
    const T* key = k + (b * s.seq + keys[j]) * s.kv_stride;
    T sum = 0;
    for (int64_t h = 0; h < s.heads; ++h)
      sum += exp_fast(scale * row_dot(q_row + h * s.head_dim, key + (h / group) * s.head_dim,
                                      s.head_dim) -
                      lse_bt[h * s.seq]);
    target[j] = sum * inv_heads;
  }
}

template <class T>
void sparse_rows(const Context& ctx, double* row_kl_out, T* dscores, const T* scores, const T* q,
                 const T* k, const T* lse, const IndexLists& domain, const AttentionShape& s,
                 const LossLayout& layout, T scale, T inv_rows) {
#pragma omp parallel for schedule(dynamic, 16)
  for (int64_t row = 0; row < s.batch * s.seq; ++row) {
    const int64_t b = row / s.seq, t = row % s.seq;
    T* target = thread_scratch<T>(ctx, layout.row_kl_bytes, layout.per_thread);
    const int32_t* keys = domain.indices + row * domain.width;
    const int64_t n = list_length(keys, domain.width);
    sparse_row_target(target, keys, n, q, k, lse, s, b, t, scale);
    T* dscores_row = dscores + row * s.seq;
    std::fill_n(dscores_row, s.seq, T(0));
    row_kl_out[row] = row_kl(dscores_row, scores + row * s.seq, target, keys, n, inv_rows);
  }
}

void check_shape(const Context& ctx, const AttentionShape& s, const IndexLists& domain,
                 size_t scalar_bytes) {
  const char* op = "indexer_loss";
  DSA_CHECK(s.heads % s.kv_heads == 0, "op ", op, ": heads ", s.heads,
            " must be a multiple of kv_heads ", s.kv_heads);
  const int64_t width = domain.indices == nullptr ? 0 : domain.width;
  const size_t needed = indexer_loss_workspace(s, width, scalar_bytes);
  DSA_CHECK(ctx.workspace_bytes >= needed, "op ", op, ": workspace of ", ctx.workspace_bytes,
            " bytes is smaller than the ", needed, " it needs for [B=", s.batch, ", T=", s.seq,
            ", k=", width, "]");
  if (domain.indices != nullptr) check_index_lists(domain, s.batch, s.seq, op);
}

}  // namespace

size_t indexer_loss_workspace(const AttentionShape& shape, int64_t list_width,
                              size_t scalar_bytes) {
  const LossLayout layout = layout_of(shape, list_width, scalar_bytes);
  return layout.row_kl_bytes + all_threads_bytes(layout.per_thread);
}

template <class T>
double indexer_loss(const Context& ctx, T* dscores, T* row_loss, const T* scores, const T* q,
                    const T* k, const T* lse, const IndexLists& domain,
                    const AttentionShape& s) {
  check_shape(ctx, s, domain, sizeof(T));
  const int64_t width = domain.indices == nullptr ? 0 : domain.width;
  const LossLayout layout = layout_of(s, width, sizeof(T));
  const int64_t rows = s.batch * s.seq;
  const T scale = T(1) / std::sqrt(T(s.head_dim)), inv_rows = T(1) / T(rows);
  double* row_kl_out = static_cast<double*>(ctx.workspace);
  if (domain.indices == nullptr)
    dense_rows(ctx, row_kl_out, dscores, scores, q, k, lse, s, layout, scale, inv_rows);
  else
    sparse_rows(ctx, row_kl_out, dscores, scores, q, k, lse, domain, s, layout, scale, inv_rows);
  double total = 0;  // in row order: the same bits for any thread count
  for (int64_t r = 0; r < rows; ++r) total += row_kl_out[r];
  if (row_loss != nullptr)
    for (int64_t r = 0; r < rows; ++r) row_loss[r] = T(row_kl_out[r]);
  return rows == 0 ? 0.0 : total / double(rows);
}

template <class T>
void attention_target(const Context& ctx, T* target, const T* q, const T* k, const T* lse,
                      const AttentionShape& s) {
  check_shape(ctx, s, IndexLists{nullptr, 0}, sizeof(T));
  const LossLayout layout = layout_of(s, 0, sizeof(T));
  const T scale = T(1) / std::sqrt(T(s.head_dim));
  const int64_t blocks = (s.seq + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(dynamic)
  for (int64_t task = 0; task < s.batch * blocks; ++task) {
    const int64_t b = task / blocks, r0 = (task % blocks) * kBlock;
    const int64_t rows = std::min(kBlock, s.seq - r0);
    T* block = target + (b * s.seq + r0) * s.seq;
    T* probs = thread_scratch<T>(ctx, layout.row_kl_bytes, layout.per_thread);
    dense_block_target(ctx, block, probs, q, k, lse, s, b, r0, rows, scale);
    for (int64_t i = 0; i < rows; ++i)
      std::fill(block + i * s.seq + r0 + i + 1, block + (i + 1) * s.seq, T(0));
  }
}

#define DSA_INSTANTIATE(T)                                                                   \
  template double indexer_loss<T>(const Context&, T*, T*, const T*, const T*, const T*,     \
                                  const T*, const IndexLists&, const AttentionShape&);      \
  template void attention_target<T>(const Context&, T*, const T*, const T*, const T*,       \
                                    const AttentionShape&);
DSA_INSTANTIATE(float)
DSA_INSTANTIATE(double)
#undef DSA_INSTANTIATE

}  // namespace dsa::cpu
