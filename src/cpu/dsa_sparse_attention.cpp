// Sparse attention over index lists, CPU twin (ops/sparse_attention.h).
// Forward and the dq pass: one task per query row (b, t), all heads. The loops run key-major:
// each selected key (and value) row is gathered once from the strided QKV buffer and used by
// every head while it is in cache (docs/kernels.md §K4), and the work is proportional to the list length,
// never to t. The dq pass rebuilds P from the saved lse and keeps P and dS of every (t, j, h)
// in the workspace; the dk/dv pass: one task per key row (b, s) over its transposed list (the
// list slots that hold s, in increasing t) reads them back: every dk/dv element is summed in
// list order, query heads in increasing h within an entry: no atomics, the same bits for any
// thread count.
#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "cpu/dsa_index_lists.h"
#include "cpu/cpu_ops.h"
#include "cpu/dsa_vec.h"
#include "cpu/vec_math.h"

namespace dsa::cpu {

namespace {

// Workspace: [P: B*T*width*H scalars][dS: the same][transposed lists][per thread: scores and
// their gradient, each [H, width]]. P and dS of list slot (b, t, j) hold their H heads together.
struct SparseLayout {
  size_t pair_bytes, lists_bytes, per_thread;
  size_t dscores_offset() const { return pair_bytes; }
  size_t lists_offset() const { return 2 * pair_bytes; }
  size_t threads_offset() const { return 2 * pair_bytes + lists_bytes; }
};

SparseLayout layout_of(const AttentionShape& s, int64_t width, size_t scalar_bytes) {
  return {align_bytes(s.batch * s.seq * width * s.heads * scalar_bytes),
          transposed_lists_bytes(s.batch, s.seq, width), 2 * s.heads * width * scalar_bytes};
}

// P and dS of every list slot, [B, T, width, H] each (slots past a row's keys are never used).
template <class T>
struct PairGrads {
  T* probs;
  T* dscores;
};

template <class T>
PairGrads<T> pair_grads_of(const Context& ctx, const SparseLayout& layout) {
  char* base = static_cast<char*>(ctx.workspace);
  return {reinterpret_cast<T*>(base), reinterpret_cast<T*>(base + layout.dscores_offset())};
}

void check_shape(const Context& ctx, const AttentionShape& s, const IndexLists& lists,
                 size_t scalar_bytes, const char* op) {
  DSA_CHECK(s.heads % s.kv_heads == 0, "op ", op, ": heads ", s.heads,
            " must be a multiple of kv_heads ", s.kv_heads);
  const size_t needed = sparse_attention_workspace(s, lists.width, scalar_bytes);
  DSA_CHECK(ctx.workspace_bytes >= needed, "op ", op, ": workspace of ", ctx.workspace_bytes,
            " bytes is smaller than the ", needed, " it needs for [B=", s.batch, ", T=", s.seq,
            ", H=", s.heads, ", Dh=", s.head_dim, ", k=", lists.width, "]");
  check_index_lists(lists, s.batch, s.seq, op);
}

// One query row (b, t): its heads, its keys, and the per-thread [H, width] score buffers.
template <class T>
struct QueryRow {
  const T* q;           // [H, Dh]
  const T* k_b;         // batch b's keys: row s at s * kv_stride, kv head g at g * Dh
  const T* v_b;         // batch b's values, same layout
  const int32_t* keys;  // [n]
  int64_t n, width;
  T* scores;            // [H, width]: scaled q.k, then P
  T* grads;             // [H, width]: dP, then dS
  const T* key_row(int64_t j, const AttentionShape& s) const { return k_b + keys[j] * s.kv_stride; }
  const T* value_row(int64_t j, const AttentionShape& s) const {
    return v_b + keys[j] * s.kv_stride;
  }
};

template <class T>
QueryRow<T> query_row(const Context& ctx, const T* q, const T* k, const T* v,
                      const IndexLists& lists, const AttentionShape& s,
                      const SparseLayout& layout, int64_t row) {
  const int64_t b = row / s.seq;
  const int32_t* keys = lists.indices + row * lists.width;
  T* scores = thread_scratch<T>(ctx, layout.threads_offset(), layout.per_thread);
  return {q + row * s.q_stride,         k + b * s.seq * s.kv_stride,
          v + b * s.seq * s.kv_stride,  keys,
          list_length(keys, lists.width), lists.width,
          scores,                        scores + s.heads * lists.width};
}

// scores[h, j] = q_h . k_{s_j, g(h)} * scale, key-major.
template <class T>
void row_scores(const QueryRow<T>& r, const AttentionShape& s, T scale) {
  const int64_t group = s.heads / s.kv_heads;
  for (int64_t j = 0; j < r.n; ++j) {
    const T* key = r.key_row(j, s);
    for (int64_t h = 0; h < s.heads; ++h)
      r.scores[h * r.width + j] =
          scale * row_dot(r.q + h * s.head_dim, key + (h / group) * s.head_dim, s.head_dim);
  }
}

// Softmax of head h's scores in place; returns the lse (-inf for an empty row).
template <class T>
T softmax_in_place(T* scores_h, int64_t n) {
  if (n == 0) return -std::numeric_limits<T>::infinity();
  const T row_max = *std::max_element(scores_h, scores_h + n);
  T sum = 0;
  for (int64_t j = 0; j < n; ++j) sum += (scores_h[j] = exp_fast(scores_h[j] - row_max));
  const T inv_sum = T(1) / sum;
  for (int64_t j = 0; j < n; ++j) scores_h[j] *= inv_sum;
  return row_max + std::log(sum);
}

// out [H, Dh] and lse (at stride T between heads) of one row.
template <class T>
void attend_row(T* out_row, T* lse_bt, const QueryRow<T>& r, const AttentionShape& s, T scale) {
  const int64_t group = s.heads / s.kv_heads;
  row_scores(r, s, scale);
  for (int64_t h = 0; h < s.heads; ++h)
    lse_bt[h * s.seq] = softmax_in_place(r.scores + h * r.width, r.n);
  std::fill_n(out_row, s.heads * s.head_dim, T(0));
  for (int64_t j = 0; j < r.n; ++j) {
    const T* value = r.value_row(j, s);
    for (int64_t h = 0; h < s.heads; ++h)
      add_scaled(out_row + h * s.head_dim, r.scores[h * r.width + j],
                 value + (h / group) * s.head_dim, s.head_dim);
  }
}

// dq [H, Dh] (at q's stride) of one row; leaves P and dS of the row in r.scores, r.grads.
template <class T>
void query_row_grad(T* dq_row, const QueryRow<T>& r, const T* dout_row, const T* out_row,
                    const T* lse_bt, const AttentionShape& s, T scale) {
  const int64_t group = s.heads / s.kv_heads;
  row_scores(r, s, scale);
  for (int64_t j = 0; j < r.n; ++j) {  // dP = dout . v, key-major
    const T* value = r.value_row(j, s);
    for (int64_t h = 0; h < s.heads; ++h)
      r.grads[h * r.width + j] =
          row_dot(dout_row + h * s.head_dim, value + (h / group) * s.head_dim, s.head_dim);
  }
  for (int64_t h = 0; h < s.heads; ++h) {  // P from lse; dS = P (dP - delta)
    const T delta = row_dot(dout_row + h * s.head_dim, out_row + h * s.head_dim, s.head_dim);
    const T lse_th = lse_bt[h * s.seq];
    T* probs = r.scores + h * r.width;
    T* dscores = r.grads + h * r.width;
    for (int64_t j = 0; j < r.n; ++j) {
      probs[j] = exp_fast(probs[j] - lse_th);
      dscores[j] = probs[j] * (dscores[j] - delta);
    }
  }
  for (int64_t h = 0; h < s.heads; ++h) std::fill_n(dq_row + h * s.head_dim, s.head_dim, T(0));
  for (int64_t j = 0; j < r.n; ++j) {
    const T* key = r.key_row(j, s);
    for (int64_t h = 0; h < s.heads; ++h)
      add_scaled(dq_row + h * s.head_dim, scale * r.grads[h * r.width + j],
                 key + (h / group) * s.head_dim, s.head_dim);
  }
}

// Copies P and dS of one row from [H, width] scratch into the slot-major [width, H] buffers.
template <class T>
void keep_pair_grads(const PairGrads<T>& kept, const QueryRow<T>& r, int64_t row, int64_t heads) {
  for (int64_t j = 0; j < r.n; ++j) {
    const int64_t slot = (row * r.width + j) * heads;
    for (int64_t h = 0; h < heads; ++h) {
      kept.probs[slot + h] = r.scores[h * r.width + j];
      kept.dscores[slot + h] = r.grads[h * r.width + j];
    }
  }
}

// dq of every row; P and dS of every list slot for the key pass.
template <class T>
void query_pass(const Context& ctx, T* dq, const PairGrads<T>& kept, const T* dout, const T* out,
                const T* lse, const T* q, const T* k, const T* v, const IndexLists& lists,
                const AttentionShape& s, const SparseLayout& layout, T scale) {
  const int64_t row_width = s.heads * s.head_dim;
#pragma omp parallel for schedule(dynamic, 16)
  for (int64_t row = 0; row < s.batch * s.seq; ++row) {
    const int64_t b = row / s.seq, t = row % s.seq;
    const QueryRow<T> r = query_row(ctx, q, k, v, lists, s, layout, row);
    query_row_grad(dq + row * s.q_stride, r, dout + row * row_width, out + row * row_width,
                   lse + b * s.heads * s.seq + t, s, scale);
    keep_pair_grads(kept, r, row, s.heads);
  }
}

// dk, dv [Hkv, Dh] of one key row of batch b, over the list slots that hold it (list order;
// within a slot the query heads of each kv head in increasing h).
template <class T>
void key_row_grad(T* dk_row, T* dv_row, const int32_t* slots, int64_t count,
                  const PairGrads<T>& kept, const T* dout, const T* q, const AttentionShape& s,
                  int64_t b, int64_t width, T scale) {
  const int64_t group = s.heads / s.kv_heads, row_width = s.heads * s.head_dim;
  const int64_t kv_width = s.kv_heads * s.head_dim;
  std::fill_n(dk_row, kv_width, T(0));
  std::fill_n(dv_row, kv_width, T(0));
  for (int64_t e = 0; e < count; ++e) {
    const int64_t row = b * s.seq + slots[e] / width;
    const int64_t pair = (b * s.seq * width + slots[e]) * s.heads;
    for (int64_t h = 0; h < s.heads; ++h) {
      const int64_t g_offset = (h / group) * s.head_dim;
      add_scaled(dk_row + g_offset, scale * kept.dscores[pair + h],
                 q + row * s.q_stride + h * s.head_dim, s.head_dim);
      add_scaled(dv_row + g_offset, kept.probs[pair + h], dout + row * row_width + h * s.head_dim,
                 s.head_dim);
    }
  }
}

template <class T>
void key_pass(const Context& ctx, T* dk, T* dv, const PairGrads<T>& kept, const T* dout,
              const T* q, const IndexLists& lists, const AttentionShape& s,
              const SparseLayout& layout, T scale) {
  void* lists_region = static_cast<char*>(ctx.workspace) + layout.lists_offset();
  build_transposed_lists(lists_region, lists, s.batch, s.seq);
#pragma omp parallel for schedule(dynamic, 16)
  for (int64_t row = 0; row < s.batch * s.seq; ++row) {
    const int64_t b = row / s.seq, key = row % s.seq;
    const TransposedLists by_key =
        transposed_lists_of(lists_region, s.batch, s.seq, lists.width, b);
    const int64_t begin = by_key.offsets[key], end = by_key.offsets[key + 1];
    key_row_grad(dk + row * s.kv_stride, dv + row * s.kv_stride, by_key.slots + begin,
                 end - begin, kept, dout, q, s, b, lists.width, scale);
  }
}

}  // namespace

size_t sparse_attention_workspace(const AttentionShape& shape, int64_t list_width,
                                  size_t scalar_bytes) {
  const SparseLayout layout = layout_of(shape, list_width, scalar_bytes);
  return layout.threads_offset() + all_threads_bytes(layout.per_thread);
}

template <class T>
void sparse_attention_forward(const Context& ctx, T* out, T* lse, const T* q, const T* k,
                              const T* v, const IndexLists& lists, const AttentionShape& s) {
  check_shape(ctx, s, lists, sizeof(T), "sparse_attention_forward");
  const SparseLayout layout = layout_of(s, lists.width, sizeof(T));
  const T scale = T(1) / std::sqrt(T(s.head_dim));
  const int64_t row_width = s.heads * s.head_dim;
#pragma omp parallel for schedule(dynamic, 16)
  for (int64_t row = 0; row < s.batch * s.seq; ++row) {
    const int64_t b = row / s.seq, t = row % s.seq;
    attend_row(out + row * row_width, lse + b * s.heads * s.seq + t,
               query_row(ctx, q, k, v, lists, s, layout, row), s, scale);
  }
}

template <class T>
void sparse_attention_backward(const Context& ctx, T* dq, T* dk, T* dv, const T* dout,
                               const T* out, const T* lse, const T* q, const T* k, const T* v,
                               const IndexLists& lists, const AttentionShape& s) {
  check_shape(ctx, s, lists, sizeof(T), "sparse_attention_backward");
  const SparseLayout layout = layout_of(s, lists.width, sizeof(T));
  const T scale = T(1) / std::sqrt(T(s.head_dim));
  const PairGrads<T> kept = pair_grads_of<T>(ctx, layout);
  query_pass(ctx, dq, kept, dout, out, lse, q, k, v, lists, s, layout, scale);
  key_pass(ctx, dk, dv, kept, dout, q, lists, s, layout, scale);
}

#define DSA_INSTANTIATE(T)                                                                   \
  template void sparse_attention_forward<T>(const Context&, T*, T*, const T*, const T*,      \
                                            const T*, const IndexLists&,                     \
                                            const AttentionShape&);                          \
  template void sparse_attention_backward<T>(const Context&, T*, T*, T*, const T*, const T*, \
                                             const T*, const T*, const T*, const T*,         \
                                             const IndexLists&, const AttentionShape&);
DSA_INSTANTIATE(float)
DSA_INSTANTIATE(double)
#undef DSA_INSTANTIATE

}  // namespace dsa::cpu
