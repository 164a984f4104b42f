// Lightning indexer, CPU twin (ops/indexer.h). The T x T score matrix is materialised.
// Forward: one task per (batch, block of kBlock query rows), largest blocks first. The block's
// queries of every head are packed head-major ([HI * kBlock, dI]), and each key tile of
// kKeyTile keys up to the diagonal is one BLAS GEMM ([HI * kBlock, dI] x [dI, kKeyTile], so the
// dot products of a tile stay in L2) followed by the ReLU/weight/head-sum epilogue on that tile;
// tiles past the diagonal are skipped. The dq/dw pass: one task per (batch, block of kBlock
// query rows); per indexer head one GEMM a = qI_j . kI^T over the block's visible keys
// [kBlock, cols] into the thread's workspace, then the gradient epilogue row by row. The dk pass:
// one task per (batch, block of kBlock keys) over the queries t >= s, so each task owns its dk
// rows and adds the heads in order (no atomics; the same bits for any thread count). GEMMs run
// single-threaded on strided views (we are inside an OpenMP region; one thread pool,
// docs/design.md §7).
#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "cpu/cpu_ops.h"
#include "cpu/dsa_index_lists.h"

namespace dsa::cpu {

namespace {

constexpr int64_t kBlock = 64;     // query rows (forward, dq) or key rows (dk) per task
constexpr int64_t kKeyTile = 256;  // keys per forward GEMM: [HI * kBlock, kKeyTile] dots in L2

// Per-thread scratch. Forward: the packed queries and one tile of dot products. Backward: the
// head's dot products over a block's keys and the transposed score-gradient block.
template <class T>
struct IndexerScratch {
  T* q_pack;      // [HI * kBlock, dI]       forward
  T* tile_dots;   // [HI * kBlock, kKeyTile] forward
  T* dots;        // [kBlock, T]             backward
  T* grad_block;  // [kBlock, T]             backward: dI^T of one key block (dk pass only)
};

size_t forward_elements(const IndexerShape& s) {
  return s.heads * kBlock * (s.dim + kKeyTile);
}
size_t backward_elements(const IndexerShape& s) { return 2 * kBlock * s.seq; }

size_t per_thread_bytes(const IndexerShape& s, size_t scalar_bytes) {
  return std::max(forward_elements(s), backward_elements(s)) * scalar_bytes;
}

template <class T>
IndexerScratch<T> scratch_of(const Context& ctx, const IndexerShape& s) {
  T* base = thread_scratch<T>(ctx, 0, per_thread_bytes(s, sizeof(T)));
  return {base, base + s.heads * kBlock * s.dim, base, base + kBlock * s.seq};
}

void check_shape(const Context& ctx, const IndexerShape& s, size_t scalar_bytes, const char* op) {
  DSA_CHECK(s.heads >= 1 && s.dim >= 1, "op ", op, ": indexer heads ", s.heads, " and dim ",
            s.dim, " must be >= 1");
  DSA_CHECK(s.q_stride >= s.heads * s.dim && s.k_stride >= s.dim, "op ", op, ": strides (q ",
            s.q_stride, ", k ", s.k_stride, ") are narrower than the rows they hold");
  DSA_CHECK(ctx.workspace_bytes >= indexer_workspace(s, scalar_bytes), "op ", op,
            ": workspace of ", ctx.workspace_bytes, " bytes is smaller than the ",
            indexer_workspace(s, scalar_bytes), " it needs for [B=", s.batch, ", T=", s.seq,
            ", HI=", s.heads, ", dI=", s.dim, "]");
}

// std::max(x, 0) as a value rather than a reference, so that GCC vectorises the loops that use
// it; a NaN stays NaN (top-k then names it).
template <class T>
inline T relu(T x) {
  return x < T(0) ? T(0) : x;
}

template <class T>
T head_weight(const T* w, const IndexerShape& s, int64_t b, int64_t t, int64_t j) {
  return w == nullptr ? T(1) : w[(b * s.seq + t) * s.w_stride + j];
}

// q_pack[j * rows + i, d] = qI[b, r0 + i, j, d]: the block's queries, head-major.
template <class T>
void pack_queries(T* q_pack, const T* q, const IndexerShape& s, int64_t b, int64_t r0,
                  int64_t rows) {
  for (int64_t j = 0; j < s.heads; ++j)
    for (int64_t i = 0; i < rows; ++i)
      std::copy_n(q + (b * s.seq + r0 + i) * s.q_stride + j * s.dim, s.dim,
                  q_pack + (j * rows + i) * s.dim);
}

// out[i, c] for the keys c0 <= c < c0 + width that row t = r0 + i sees (c <= t):
// sum_j w_tj ReLU(dots[j * rows + i, c - c0]), heads added in increasing j.
template <class T>
void weighted_relu_sum(T* out, int64_t ld, const T* dots, const T* w, const IndexerShape& s,
                       int64_t b, int64_t r0, int64_t rows, int64_t c0, int64_t width) {
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t visible = std::clamp<int64_t>(r0 + i - c0 + 1, 0, width);
    T* out_row = out + i * ld + c0;
    for (int64_t j = 0; j < s.heads; ++j) {
      const T weight = head_weight(w, s, b, r0 + i, j);
      const T* dot_row = dots + (j * rows + i) * kKeyTile;
      if (j == 0) {
#pragma omp simd
        for (int64_t c = 0; c < visible; ++c) out_row[c] = weight * relu(dot_row[c]);
      } else {
#pragma omp simd
        for (int64_t c = 0; c < visible; ++c) out_row[c] += weight * relu(dot_row[c]);
      }
    }
  }
}

// Scores of the query rows r0 .. r0 + rows - 1 of batch b over their keys s <= t into out
// [rows, ld] (entries s > t untouched), one key tile at a time.
template <class T>
void score_block(const Context& ctx, T* out, int64_t ld, const T* q, const T* k, const T* w,
                 const IndexerShape& s, int64_t b, int64_t r0, int64_t rows,
                 const IndexerScratch<T>& scratch) {
  // scale > 0, so ReLU(scale a) = scale ReLU(a): the GEMM applies c.
  const T scale = T(1) / std::sqrt(T(s.heads * s.dim));
  pack_queries(scratch.q_pack, q, s, b, r0, rows);
  for (int64_t c0 = 0; c0 < r0 + rows; c0 += kKeyTile) {
    const int64_t width = std::min(kKeyTile, r0 + rows - c0);
    gemm<T>(ctx, false, true, s.heads * rows, width, s.dim, scale, scratch.q_pack, s.dim,
            k + (b * s.seq + c0) * s.k_stride, s.k_stride, T(0), scratch.tile_dots, kKeyTile);
    weighted_relu_sum(out, ld, scratch.tile_dots, w, s, b, r0, rows, c0, width);
  }
}

// dq pass epilogue, one head: dots [rows, cols] (a_tjs) becomes G_tjs (zero for s > t); writes dw.
template <class T>
void query_block_grad(T* dots, T* dw, const T* dscores_blk, const T* w, const IndexerShape& s,
                      int64_t b, int64_t r0, int64_t rows, int64_t cols, int64_t j, T scale) {
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t t = r0 + i, visible = t + 1;
    const T* grad_row = dscores_blk + i * s.seq;
    T* row = dots + i * s.seq;
    const T g_scale = scale * head_weight(w, s, b, t, j);
    T dw_sum = 0;
#pragma omp simd reduction(+ : dw_sum)
    for (int64_t c = 0; c < visible; ++c) {
      dw_sum += grad_row[c] * relu(row[c]);
      row[c] = row[c] > T(0) ? g_scale * grad_row[c] : T(0);
    }
    std::fill(row + visible, row + cols, T(0));
    if (w != nullptr) dw[(b * s.seq + t) * s.w_stride + j] = scale * dw_sum;
  }
}

// grad_block[i, c] = dI[b, s0 + c, s0 + i] for queries t = s0 + c >= key s0 + i, else 0.
template <class T>
void gather_transposed_grad(T* grad_block, const T* dscores, const IndexerShape& s, int64_t b,
                            int64_t s0, int64_t keys) {
  const int64_t span = s.seq - s0;
  for (int64_t c = 0; c < span; ++c) {
    const T* grad_row = dscores + (b * s.seq + s0 + c) * s.seq + s0;
    for (int64_t i = 0; i < keys; ++i) grad_block[i * s.seq + c] = i <= c ? grad_row[i] : T(0);
  }
}

// dk pass epilogue, one head: dots [keys, span] (a_tjs, transposed) becomes G_tjs^T.
template <class T>
void key_block_grad(T* dots, const T* grad_block, const T* w, const IndexerShape& s, int64_t b,
                    int64_t s0, int64_t keys, int64_t j, T scale) {
  const int64_t span = s.seq - s0;
  for (int64_t i = 0; i < keys; ++i) {
    T* row = dots + i * s.seq;
    const T* grad_row = grad_block + i * s.seq;
    for (int64_t c = 0; c < span; ++c) {
      const T g_scale = scale * head_weight(w, s, b, s0 + c, j);
      row[c] = row[c] > T(0) ? g_scale * grad_row[c] : T(0);
    }
  }
}

template <class T>
void query_pass(const Context& ctx, T* dq, T* dw, const T* dscores, const T* q, const T* k,
                const T* w, const IndexerShape& s, T scale) {
  const int64_t blocks = (s.seq + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(dynamic)
  for (int64_t task = 0; task < s.batch * blocks; ++task) {
    const int64_t b = task / blocks, r0 = (task % blocks) * kBlock;
    const int64_t rows = std::min(kBlock, s.seq - r0), cols = r0 + rows;
    const IndexerScratch<T> scratch = scratch_of<T>(ctx, s);
    const T* k_b = k + b * s.seq * s.k_stride;
    for (int64_t j = 0; j < s.heads; ++j) {
      const int64_t q_offset = (b * s.seq + r0) * s.q_stride + j * s.dim;
      gemm<T>(ctx, false, true, rows, cols, s.dim, T(1), q + q_offset, s.q_stride, k_b,
              s.k_stride, T(0), scratch.dots, s.seq);
      query_block_grad<T>(scratch.dots, dw, dscores + (b * s.seq + r0) * s.seq, w, s, b, r0,
                          rows, cols, j, scale);
      gemm<T>(ctx, false, false, rows, s.dim, cols, T(1), scratch.dots, s.seq, k_b, s.k_stride,
              T(0), dq + q_offset, s.q_stride);
    }
  }
}

template <class T>
void key_pass(const Context& ctx, T* dk, const T* dscores, const T* q, const T* k, const T* w,
              const IndexerShape& s, T scale) {
  const int64_t blocks = (s.seq + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(dynamic)
  for (int64_t task = 0; task < s.batch * blocks; ++task) {
    const int64_t b = task / blocks, s0 = (task % blocks) * kBlock;
    const int64_t keys = std::min(kBlock, s.seq - s0), span = s.seq - s0;
    const IndexerScratch<T> scratch = scratch_of<T>(ctx, s);
    gather_transposed_grad<T>(scratch.grad_block, dscores, s, b, s0, keys);
    const T* k_blk = k + (b * s.seq + s0) * s.k_stride;
    T* dk_blk = dk + (b * s.seq + s0) * s.k_stride;
    for (int64_t j = 0; j < s.heads; ++j) {
      const T* q_span = q + (b * s.seq + s0) * s.q_stride + j * s.dim;  // queries t >= s0
      gemm<T>(ctx, false, true, keys, span, s.dim, T(1), k_blk, s.k_stride, q_span, s.q_stride,
              T(0), scratch.dots, s.seq);
      key_block_grad<T>(scratch.dots, scratch.grad_block, w, s, b, s0, keys, j, scale);
      gemm<T>(ctx, false, false, keys, s.dim, span, T(1), scratch.dots, s.seq, q_span,
              s.q_stride, j == 0 ? T(0) : T(1), dk_blk, s.k_stride);
    }
  }
}

}  // namespace

size_t indexer_workspace(const IndexerShape& shape, size_t scalar_bytes) {
  return all_threads_bytes(per_thread_bytes(shape, scalar_bytes));
}

template <class T>
void indexer_forward(const Context& ctx, T* scores, const T* q, const T* k, const T* w,
                     const IndexerShape& s) {
  check_shape(ctx, s, sizeof(T), "indexer_forward");
  const int64_t blocks = (s.seq + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(dynamic)
  for (int64_t task = 0; task < s.batch * blocks; ++task) {
    const int64_t b = task / blocks, r0 = (blocks - 1 - task % blocks) * kBlock;  // largest first
    const int64_t rows = std::min(kBlock, s.seq - r0);
    T* scores_blk = scores + (b * s.seq + r0) * s.seq;
    score_block(ctx, scores_blk, s.seq, q, k, w, s, b, r0, rows, scratch_of<T>(ctx, s));
    for (int64_t i = 0; i < rows; ++i)  // keys s > t do not exist
      std::fill(scores_blk + i * s.seq + r0 + i + 1, scores_blk + (i + 1) * s.seq,
                -std::numeric_limits<T>::infinity());
  }
}

template <class T>
void indexer_backward(const Context& ctx, T* dq, T* dk, T* dw, const T* dscores, const T* q,
                      const T* k, const T* w, const IndexerShape& s) {
  check_shape(ctx, s, sizeof(T), "indexer_backward");
  DSA_CHECK(w == nullptr || dw != nullptr,
            "op indexer_backward: head weights are on but dw is null");
  const T scale = T(1) / std::sqrt(T(s.heads * s.dim));
  query_pass<T>(ctx, dq, dw, dscores, q, k, w, s, scale);
  key_pass<T>(ctx, dk, dscores, q, k, w, s, scale);
}

#define DSA_INSTANTIATE(T)                                                                    \
  template void indexer_forward<T>(const Context&, T*, const T*, const T*, const T*,          \
                                   const IndexerShape&);                                      \
  template void indexer_backward<T>(const Context&, T*, T*, T*, const T*, const T*, const T*, \
                                    const T*, const IndexerShape&);
DSA_INSTANTIATE(float)
DSA_INSTANTIATE(double)
#undef DSA_INSTANTIATE

}  // namespace dsa::cpu
