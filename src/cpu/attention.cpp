// Dense causal attention, CPU twin. Work is split into (batch, query head) tasks across threads;
// each task walks its queries in blocks of kBlock rows, so the score block [kBlock, t_end] of the
// causal triangle lives in the thread's workspace (never the whole T x T matrix of every head),
// and the products run as single-threaded BLAS GEMMs on strided views of the fused QKV buffer.
// With grouped heads the backward's dK/dV shares of each query head go to per-head partials,
// summed in head order afterwards (deterministic for any thread count).
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "cpu/cpu_ops.h"
#include "cpu/vec_math.h"

namespace dsa::cpu {

namespace {

constexpr int64_t kBlock = 64;  // query rows per block

// Per-thread scratch: probabilities and their gradient for one block of queries.
template <class T>
struct AttentionScratch {
  T* probs;   // [kBlock, seq]
  T* dprobs;  // [kBlock, seq]
};

size_t threads_bytes(const AttentionShape& shape, size_t scalar_bytes);

template <class T>
AttentionScratch<T> thread_scratch(const Context& ctx, const AttentionShape& shape) {
  const size_t per_thread = threads_bytes(shape, sizeof(T)) / omp_get_max_threads();
  T* base = reinterpret_cast<T*>(static_cast<char*>(ctx.workspace) +
                                 per_thread * omp_get_thread_num());
  const int64_t block_elems = kBlock * shape.seq;
  return {base, base + block_elems};
}

void check_shape(const Context& ctx, const AttentionShape& s, size_t scalar_bytes,
                 const char* op) {
  DSA_CHECK(s.heads % s.kv_heads == 0, "op ", op, ": heads ", s.heads,
            " must be a multiple of kv_heads ", s.kv_heads);
  DSA_CHECK(ctx.workspace_bytes >= attention_workspace(s, scalar_bytes), "op ", op,
            ": workspace of ", ctx.workspace_bytes, " bytes is smaller than the ",
            attention_workspace(s, scalar_bytes), " it needs for [B=", s.batch, ", T=", s.seq,
            ", H=", s.heads, ", Dh=", s.head_dim, "]");
}

// probs[i, s] = exp(scores[i, s] - lse) over s <= r0 + i, zero for later keys of the block.
// Writes lse[i] when `lse_out` is set, otherwise reads it from `lse_in`.
template <class T>
void causal_softmax_block(T* probs, int64_t r0, int64_t rows, int64_t cols, int64_t ld,
                          T* lse_out, const T* lse_in) {
  for (int64_t i = 0; i < rows; ++i) {
    T* row = probs + i * ld;
    const int64_t visible = r0 + i + 1;
    if (lse_out != nullptr) {  // forward: one exp per score, normalised afterwards
      T row_max = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : row_max)
      for (int64_t s = 0; s < visible; ++s) row_max = std::max(row_max, row[s]);
      T sum = 0;
#pragma omp simd reduction(+ : sum)
      for (int64_t s = 0; s < visible; ++s) sum += (row[s] = exp_fast(row[s] - row_max));
      lse_out[i] = row_max + std::log(sum);
      const T inv_sum = T(1) / sum;
#pragma omp simd
      for (int64_t s = 0; s < visible; ++s) row[s] *= inv_sum;
    } else {  // backward: P recomputed from the saved log-sum-exp
      const T row_lse = lse_in[i];
#pragma omp simd
      for (int64_t s = 0; s < visible; ++s) row[s] = exp_fast(row[s] - row_lse);
    }
    for (int64_t s = visible; s < cols; ++s) row[s] = 0;
  }
}

size_t threads_bytes(const AttentionShape& shape, size_t scalar_bytes) {
  const size_t per_thread = 2 * kBlock * shape.seq * scalar_bytes;
  const size_t aligned = (per_thread + 255) / 256 * 256;
  return aligned * static_cast<size_t>(omp_get_max_threads());
}

// Elements of one of the backward's dK/dV partial buffers: none when every K/V head serves one
// query head (the task writes dk, dv itself).
size_t partial_elements(const AttentionShape& shape) {
  return shape.heads == shape.kv_heads ? 0 : shape.batch * shape.heads * shape.seq * shape.head_dim;
}

}  // namespace

// Workspace: per thread, P and dP of one block of queries; with grouped heads (H > Hkv) also
// the per-query-head dK and dV partials of the backward, [B, H, T, Dh] each.
size_t attention_workspace(const AttentionShape& shape, size_t scalar_bytes) {
  return threads_bytes(shape, scalar_bytes) + 2 * partial_elements(shape) * scalar_bytes;
}

template <class T>
void attention_forward(const Context& ctx, T* out, T* lse, const T* q, const T* k, const T* v,
                       const AttentionShape& s) {
  check_shape(ctx, s, sizeof(T), "attention_forward");
  const T scale = T(1) / std::sqrt(T(s.head_dim));
  const int64_t group = s.heads / s.kv_heads;
  const int64_t out_stride = s.heads * s.head_dim;
#pragma omp parallel for schedule(static)
  for (int64_t task = 0; task < s.batch * s.heads; ++task) {
    const int64_t b = task / s.heads, h = task % s.heads, g = h / group;
    const AttentionScratch<T> scratch = thread_scratch<T>(ctx, s);
    const T* q_bh = q + b * s.seq * s.q_stride + h * s.head_dim;
    const T* k_bg = k + b * s.seq * s.kv_stride + g * s.head_dim;
    const T* v_bg = v + b * s.seq * s.kv_stride + g * s.head_dim;
    T* out_bh = out + b * s.seq * out_stride + h * s.head_dim;
    T* lse_bh = lse + (b * s.heads + h) * s.seq;
    for (int64_t r0 = 0; r0 < s.seq; r0 += kBlock) {
      const int64_t rows = std::min(kBlock, s.seq - r0), cols = r0 + rows;
      gemm<T>(ctx, false, true, rows, cols, s.head_dim, scale, q_bh + r0 * s.q_stride, s.q_stride,
              k_bg, s.kv_stride, T(0), scratch.probs, s.seq);
      causal_softmax_block<T>(scratch.probs, r0, rows, cols, s.seq, lse_bh + r0, nullptr);
      gemm<T>(ctx, false, false, rows, s.head_dim, cols, T(1), scratch.probs, s.seq, v_bg,
              s.kv_stride, T(0), out_bh + r0 * out_stride, out_stride);
    }
  }
}

// dq, and dk, dv (+)= this head's share, of query head h of batch b: the blocks of its queries in
// order. dk_h, dv_h (row stride kv_ld) start at zero or at the shares of earlier heads.
template <class T>
void head_backward(const Context& ctx, T* dq, T* dk_h, T* dv_h, int64_t kv_ld, const T* dout,
                   const T* out, const T* lse, const T* q, const T* k, const T* v,
                   const AttentionShape& s, int64_t b, int64_t h) {
  const T scale = T(1) / std::sqrt(T(s.head_dim));
  const int64_t g = h / (s.heads / s.kv_heads);
  const int64_t out_stride = s.heads * s.head_dim;
  const AttentionScratch<T> scratch = thread_scratch<T>(ctx, s);
  const T* k_bg = k + b * s.seq * s.kv_stride + g * s.head_dim;
  const T* v_bg = v + b * s.seq * s.kv_stride + g * s.head_dim;
  const T* q_bh = q + b * s.seq * s.q_stride + h * s.head_dim;
  T* dq_bh = dq + b * s.seq * s.q_stride + h * s.head_dim;
  const T* out_bh = out + b * s.seq * out_stride + h * s.head_dim;
  const T* dout_bh = dout + b * s.seq * out_stride + h * s.head_dim;
  const T* lse_bh = lse + (b * s.heads + h) * s.seq;
  for (int64_t r0 = 0; r0 < s.seq; r0 += kBlock) {
    const int64_t rows = std::min(kBlock, s.seq - r0), cols = r0 + rows;
    const T* q_blk = q_bh + r0 * s.q_stride;
    const T* dout_blk = dout_bh + r0 * out_stride;
    // P = exp(scale q k^T - lse), recomputed
    gemm<T>(ctx, false, true, rows, cols, s.head_dim, scale, q_blk, s.q_stride, k_bg,
            s.kv_stride, T(0), scratch.probs, s.seq);
    causal_softmax_block<T>(scratch.probs, r0, rows, cols, s.seq, nullptr, lse_bh + r0);
    // dP = dout v^T
    gemm<T>(ctx, false, true, rows, cols, s.head_dim, T(1), dout_blk, out_stride, v_bg,
            s.kv_stride, T(0), scratch.dprobs, s.seq);
    // dS = P (dP - delta), delta_t = dout_t . out_t; stored over dP
    for (int64_t i = 0; i < rows; ++i) {
      const T* o_row = out_bh + (r0 + i) * out_stride;
      const T* do_row = dout_blk + i * out_stride;
      T delta = 0;
#pragma omp simd reduction(+ : delta)
      for (int64_t d = 0; d < s.head_dim; ++d) delta += o_row[d] * do_row[d];
      T* ds_row = scratch.dprobs + i * s.seq;
      const T* p_row = scratch.probs + i * s.seq;
#pragma omp simd
      for (int64_t c = 0; c < cols; ++c) ds_row[c] = p_row[c] * (ds_row[c] - delta);
    }
    // dq = scale dS k;  dk += scale dS^T q;  dv += P^T dout
    gemm<T>(ctx, false, false, rows, s.head_dim, cols, scale, scratch.dprobs, s.seq, k_bg,
            s.kv_stride, T(0), dq_bh + r0 * s.q_stride, s.q_stride);
    gemm<T>(ctx, true, false, cols, s.head_dim, rows, scale, scratch.dprobs, s.seq, q_blk,
            s.q_stride, T(1), dk_h, kv_ld);
    gemm<T>(ctx, true, false, cols, s.head_dim, rows, T(1), scratch.probs, s.seq, dout_blk,
            out_stride, T(1), dv_h, kv_ld);
  }
}

// rows [T, Dh] at stride ld := 0
template <class T>
void zero_rows(T* rows, int64_t seq, int64_t dim, int64_t ld) {
  for (int64_t t = 0; t < seq; ++t) std::fill_n(rows + t * ld, dim, T(0));
}

template <class T>
void attention_backward(const Context& ctx, T* dq, T* dk, T* dv, const T* dout, const T* out,
                        const T* lse, const T* q, const T* k, const T* v,
                        const AttentionShape& s) {
  check_shape(ctx, s, sizeof(T), "attention_backward");
  const int64_t group = s.heads / s.kv_heads;
  // One task per (batch, query head). Each K/V head serving one query head is written by that
  // task; with grouped heads each task writes its share into its own [T, Dh] partials of the
  // workspace, and a second loop adds the group's partials in head order: deterministic, no
  // atomics, and as many tasks as query heads (MQA would otherwise have one task per batch).
  T* dk_parts = reinterpret_cast<T*>(static_cast<char*>(ctx.workspace) + threads_bytes(s, sizeof(T)));
  T* dv_parts = dk_parts + partial_elements(s);  // [B, H, T, Dh] each
#pragma omp parallel for schedule(static)
  for (int64_t task = 0; task < s.batch * s.heads; ++task) {
    const int64_t b = task / s.heads, h = task % s.heads;
    if (group == 1) {
      T* dk_bh = dk + b * s.seq * s.kv_stride + h * s.head_dim;
      T* dv_bh = dv + b * s.seq * s.kv_stride + h * s.head_dim;
      zero_rows(dk_bh, s.seq, s.head_dim, s.kv_stride);
      zero_rows(dv_bh, s.seq, s.head_dim, s.kv_stride);
      head_backward(ctx, dq, dk_bh, dv_bh, s.kv_stride, dout, out, lse, q, k, v, s, b, h);
    } else {
      T* dk_part = dk_parts + task * s.seq * s.head_dim;
      T* dv_part = dv_parts + task * s.seq * s.head_dim;
      std::fill_n(dk_part, s.seq * s.head_dim, T(0));
      std::fill_n(dv_part, s.seq * s.head_dim, T(0));
      head_backward(ctx, dq, dk_part, dv_part, s.head_dim, dout, out, lse, q, k, v, s, b, h);
    }
  }
  if (group == 1) return;
#pragma omp parallel for schedule(static)
  for (int64_t row = 0; row < s.batch * s.seq; ++row) {  // dk, dv of token row: its heads' sums
    const int64_t b = row / s.seq, t = row % s.seq;
    for (int64_t g = 0; g < s.kv_heads; ++g) {
      T* dk_row = dk + row * s.kv_stride + g * s.head_dim;
      T* dv_row = dv + row * s.kv_stride + g * s.head_dim;
      for (int64_t h = g * group; h < (g + 1) * group; ++h) {
        const int64_t offset = ((b * s.heads + h) * s.seq + t) * s.head_dim;
        const bool first = h == g * group;
#pragma omp simd
        for (int64_t d = 0; d < s.head_dim; ++d) {
          dk_row[d] = (first ? T(0) : dk_row[d]) + dk_parts[offset + d];
          dv_row[d] = (first ? T(0) : dv_row[d]) + dv_parts[offset + d];
        }
      }
    }
  }
}

#define DSA_INSTANTIATE(T)                                                                      \
  template void attention_forward<T>(const Context&, T*, T*, const T*, const T*, const T*,      \
                                     const AttentionShape&);                                    \
  template void attention_backward<T>(const Context&, T*, T*, T*, const T*, const T*, const T*, \
                                      const T*, const T*, const T*, const AttentionShape&);
DSA_INSTANTIATE(float)
DSA_INSTANTIATE(double)
#undef DSA_INSTANTIATE

}  // namespace dsa::cpu
