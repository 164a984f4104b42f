// Lightning indexer, CUDA twin (fp32 FFMA; contract: ops/indexer.h). UNVERIFIED ON HARDWARE:
// compiled for sm_90, never run on a GPU; tests/test_cuda_dsa.cpp compares it with the CPU twin.
//
// All three kernels work on 64 x 64 tiles of (query, key) pairs with 256 threads, each thread
// owning 4 x 4 pairs (cuda/dsa_util.cuh); operands are staged in shared memory as [64][dim + 1].
//   scores  one block per (key tile, query tile, batch). Keeps the key tile, walks the indexer
//           heads in increasing j (one query tile per head), and accumulates
//           w_tj * ReLU(c * q_tj . k_s) in registers: the T x T scores are written once, -inf
//           for s > t (blocks wholly above the diagonal only write -inf).
//   dq, dw  one block per (query tile, head j, batch) walks the key tiles up to the diagonal:
//           recomputes a = q . k, forms G = c w dI [a > 0] in shared memory and adds G . K into
//           dq in registers; dw is the block's own row sum, reduced over 16 lanes by a fixed
//           shuffle tree.
//   dk      one block per (key tile, batch) owns its dk rows in registers and visits the heads in
//           increasing j and, for each, the query tiles t0 >= s0 in increasing order.
// Deterministic: every output element is written by one thread that adds its terms in a fixed
// order; no atomics. The CPU twin sums in BLAS order, so the twins agree to rounding, not bits.
// Diagonal tiles are computed whole and masked (1.245x the counted pairs at T = 256).
#include <cmath>
#include <cstdint>

#include "dsa_util.cuh"

namespace dsa::DSA_CUDA_TWIN {

using namespace dsa_detail;

namespace {

constexpr float kNegInf = -INFINITY;

// Shared floats of each kernel for head dim `dim` (carved in this order in the kernel).
__host__ __device__ constexpr size_t scores_shared_floats(int dim) {
  return 2 * size_t(kTile) * tile_ld(dim);  // k tile, q tile
}
__host__ __device__ constexpr size_t dq_shared_floats(int dim) {
  return 2 * size_t(kTile) * tile_ld(dim) + size_t(kTile) * tile_ld(kTile);  // q, k, G
}
__host__ __device__ constexpr size_t dk_shared_floats(int dim) {
  // k, q, G^T, dI block, w of the query tile
  return 2 * size_t(kTile) * tile_ld(dim) + 2 * size_t(kTile) * tile_ld(kTile) + kTile;
}

__device__ __forceinline__ float head_weight(const float* w, int64_t w_stride, int64_t token,
                                             int j) {
  return w == nullptr ? 1.0f : w[token * w_stride + j];
}

// Scores. grid (ceil(T/64) key tiles, ceil(T/64) query tiles, B), block kTileThreads, dynamic
// shared scores_shared_floats(dim) floats.
//   q [B, T, q_stride] (head j at j*dim);  k [B, T, k_stride];  w [B, T, w_stride] or null
//   scores [B, T, T]: c * sum_j w_tj ReLU(q_tj . k_s) for s <= t, -inf for s > t
__global__ void __launch_bounds__(kTileThreads)
    indexer_scores_kernel(float* __restrict__ scores, const float* __restrict__ q,
                          const float* __restrict__ k, const float* __restrict__ w, int seq,
                          int heads, int dim, int64_t q_stride, int64_t k_stride,
                          int64_t w_stride, float scale) {
  DSA_DYNAMIC_SHARED(float, indexer_shared);
  float* k_tile = indexer_shared;                  // [64][dim + 1]
  float* q_tile = k_tile + kTile * tile_ld(dim);   // [64][dim + 1]
  const int s0 = blockIdx.x * kTile, t0 = blockIdx.y * kTile, b = blockIdx.z;
  const int ty = threadIdx.x / kTileSide, tx = threadIdx.x % kTileSide;
  float* scores_b = scores + int64_t(b) * seq * seq;

  float acc[kTilePer][kTilePer] = {};
  if (s0 <= t0) {  // tiles above the diagonal hold only s > t: nothing to compute
    load_tile(k_tile, k + int64_t(b) * seq * k_stride, k_stride, s0, seq, dim);
    for (int j = 0; j < heads; ++j) {
      __syncthreads();  // readers of the previous head's q tile are done (and k is loaded)
      load_tile(q_tile, q + int64_t(b) * seq * q_stride + int64_t(j) * dim, q_stride, t0, seq,
                dim);
      __syncthreads();
      float dot[kTilePer][kTilePer];
      tile_dots(dot, q_tile, k_tile, dim, ty, tx);
#pragma unroll
      for (int i = 0; i < kTilePer; ++i) {
        const int t = t0 + ty + kTileSide * i;
        const float weight = t < seq ? head_weight(w, w_stride, int64_t(b) * seq + t, j) : 0.0f;
#pragma unroll
        for (int c = 0; c < kTilePer; ++c)  // scale > 0: ReLU(c a) = c ReLU(a)
          acc[i][c] = fmaf(weight, fmaxf(scale * dot[i][c], 0.0f), acc[i][c]);
      }
    }
  }
  store_score_tile(scores_b, acc, 1.0f, kNegInf, t0, s0, seq, ty, tx);
}

// dq and dw. grid (ceil(T/64) query tiles, HI, B), block kTileThreads, dynamic shared
// dq_shared_floats(dim) floats.
//   dscores [B, T, T] (s <= t read);  q, k, w as in the scores kernel
//   dq [B, T, q_stride] (head j's columns, overwritten);  dw [B, T, w_stride] (column j) if w
__global__ void __launch_bounds__(kTileThreads)
    indexer_dq_kernel(float* __restrict__ dq, float* __restrict__ dw,
                      const float* __restrict__ dscores, const float* __restrict__ q,
                      const float* __restrict__ k, const float* __restrict__ w, int seq,
                      int dim, int64_t q_stride, int64_t k_stride, int64_t w_stride,
                      float scale) {
  DSA_DYNAMIC_SHARED(float, indexer_shared);
  float* q_tile = indexer_shared;                 // [64][dim + 1]
  float* k_tile = q_tile + kTile * tile_ld(dim);  // [64][dim + 1]
  float* g_tile = k_tile + kTile * tile_ld(dim);  // [64 queries][65 keys]: G
  const int t0 = blockIdx.x * kTile, j = blockIdx.y, b = blockIdx.z;
  const int ty = threadIdx.x / kTileSide, tx = threadIdx.x % kTileSide;
  const int64_t q_offset = int64_t(b) * seq * q_stride + int64_t(j) * dim;
  const float* k_b = k + int64_t(b) * seq * k_stride;
  const float* dscores_b = dscores + int64_t(b) * seq * seq;

  load_tile(q_tile, q + q_offset, q_stride, t0, seq, dim);
  float g_scale[kTilePer];  // c * w_tj of this thread's rows
#pragma unroll
  for (int i = 0; i < kTilePer; ++i) {
    const int t = t0 + ty + kTileSide * i;
    g_scale[i] = t < seq ? scale * head_weight(w, w_stride, int64_t(b) * seq + t, j) : 0.0f;
  }

  float dq_acc[kTilePer][kTileDimPer] = {}, dw_part[kTilePer] = {};
  const int last_row = min(t0 + kTile, seq) - 1;
  for (int s0 = 0; s0 <= last_row; s0 += kTile) {  // key tiles up to the diagonal
    __syncthreads();  // readers of the previous k tile and G are done (and q is loaded)
    load_tile(k_tile, k_b, k_stride, s0, seq, dim);
    __syncthreads();
    float dot[kTilePer][kTilePer];
    tile_dots(dot, q_tile, k_tile, dim, ty, tx);
#pragma unroll
    for (int i = 0; i < kTilePer; ++i) {
      const int t = t0 + ty + kTileSide * i;
#pragma unroll
      for (int c = 0; c < kTilePer; ++c) {
        const int s = s0 + tx + kTileSide * c;
        const bool visible = s <= t && t < seq;
        const float grad = visible ? dscores_b[int64_t(t) * seq + s] : 0.0f;
        dw_part[i] = fmaf(grad, fmaxf(dot[i][c], 0.0f), dw_part[i]);
        g_tile[(ty + kTileSide * i) * tile_ld(kTile) + tx + kTileSide * c] =
            visible && dot[i][c] > 0.0f ? g_scale[i] * grad : 0.0f;  // ReLU'(0) = 0
      }
    }
    __syncthreads();
    tile_gb(dq_acc, g_tile, k_tile, dim, ty, tx);
  }

#pragma unroll
  for (int i = 0; i < kTilePer; ++i) {
    const int t = t0 + ty + kTileSide * i;
    // The 16 lanes of a row (tx = 0..15, one half-warp) sum dw by a fixed xor tree.
    float dw_row = dw_part[i];
    for (int offset = 1; offset < kTileSide; offset *= 2)
      dw_row += __shfl_xor_sync(kFullWarpMask, dw_row, offset);
    if (t >= seq) continue;
    float* dq_row = dq + q_offset + int64_t(t) * q_stride;
#pragma unroll
    for (int m = 0; m < kTileDimPer; ++m) {
      const int d = tx + kTileSide * m;
      if (d < dim) dq_row[d] = dq_acc[i][m];
    }
    if (w != nullptr && tx == 0) dw[(int64_t(b) * seq + t) * w_stride + j] = scale * dw_row;
  }
}

// dk. grid (ceil(T/64) key tiles, B), block kTileThreads, dynamic shared dk_shared_floats(dim).
// Scores are transposed here: tile rows are keys, columns queries.
//   dscores, q, k, w as above;  dk [B, T, k_stride] (overwritten)
__global__ void __launch_bounds__(kTileThreads)
    indexer_dk_kernel(float* __restrict__ dk, const float* __restrict__ dscores,
                      const float* __restrict__ q, const float* __restrict__ k,
                      const float* __restrict__ w, int seq, int heads, int dim,
                      int64_t q_stride, int64_t k_stride, int64_t w_stride, float scale) {
  DSA_DYNAMIC_SHARED(float, indexer_shared);
  float* k_tile = indexer_shared;                       // [64 keys][dim + 1]
  float* q_tile = k_tile + kTile * tile_ld(dim);        // [64 queries][dim + 1]
  float* g_tile = q_tile + kTile * tile_ld(dim);        // [64 keys][65 queries]: G^T
  float* grad_tile = g_tile + kTile * tile_ld(kTile);   // [64 queries][65 keys]: dI block
  float* weight_tile = grad_tile + kTile * tile_ld(kTile);  // [64 queries]: c * w_tj
  const int s0 = blockIdx.x * kTile, b = blockIdx.y;
  const int ty = threadIdx.x / kTileSide, tx = threadIdx.x % kTileSide;
  const int64_t k_offset = int64_t(b) * seq * k_stride;
  const float* dscores_b = dscores + int64_t(b) * seq * seq;

  load_tile(k_tile, k + k_offset, k_stride, s0, seq, dim);
  float dk_acc[kTilePer][kTileDimPer] = {};
  for (int j = 0; j < heads; ++j) {
    for (int t0 = s0; t0 < seq; t0 += kTile) {  // earlier queries see none of these keys
      __syncthreads();  // readers of the previous q, G, dI and weights are done
      load_tile(q_tile, q + int64_t(b) * seq * q_stride + int64_t(j) * dim, q_stride, t0, seq,
                dim);
      for (int e = threadIdx.x; e < kTile * kTile; e += kTileThreads) {
        const int r = e / kTile, x = e % kTile, t = t0 + r, s = s0 + x;
        grad_tile[r * tile_ld(kTile) + x] =
            t < seq && s <= t ? dscores_b[int64_t(t) * seq + s] : 0.0f;
      }
      if (threadIdx.x < kTile) {
        const int t = t0 + threadIdx.x;
        weight_tile[threadIdx.x] =
            t < seq ? scale * head_weight(w, w_stride, int64_t(b) * seq + t, j) : 0.0f;
      }
      __syncthreads();
      float dot[kTilePer][kTilePer];
      tile_dots(dot, k_tile, q_tile, dim, ty, tx);
#pragma unroll
      for (int i = 0; i < kTilePer; ++i) {
#pragma unroll
        for (int c = 0; c < kTilePer; ++c) {
          const int key = ty + kTileSide * i, query = tx + kTileSide * c;
          // grad_tile is 0 wherever s > t or t >= T, so no separate mask is needed.
          g_tile[key * tile_ld(kTile) + query] =
              dot[i][c] > 0.0f ? weight_tile[query] * grad_tile[query * tile_ld(kTile) + key]
                               : 0.0f;
        }
      }
      __syncthreads();
      tile_gb(dk_acc, g_tile, q_tile, dim, ty, tx);
    }
  }
#pragma unroll
  for (int i = 0; i < kTilePer; ++i) {
    const int s = s0 + ty + kTileSide * i;
    if (s >= seq) continue;
    float* dk_row = dk + k_offset + int64_t(s) * k_stride;
#pragma unroll
    for (int m = 0; m < kTileDimPer; ++m) {
      const int d = tx + kTileSide * m;
      if (d < dim) dk_row[d] = dk_acc[i][m];
    }
  }
}

// ---- host side --------------------------------------------------------------------------------

void check_shape(const ops::IndexerShape& s, const char* op) {
  DSA_CHECK(s.heads >= 1 && s.dim >= 1 && s.dim <= kMaxTileDim, "op ", op, ": indexer heads ",
            s.heads, " and dim ", s.dim, " must be >= 1 (the CUDA twin takes dim <= ",
            kMaxTileDim, ")");
  DSA_CHECK(s.q_stride >= s.heads * s.dim && s.k_stride >= s.dim, "op ", op, ": strides (q ",
            s.q_stride, ", k ", s.k_stride, ") are narrower than the rows they hold");
  DSA_CHECK(s.batch >= 0 && s.batch <= kMaxGridYZ && s.heads <= kMaxGridYZ && s.seq >= 0 &&
                ceil_div(s.seq, kTile) <= kMaxGridYZ,
            "op ", op, ": shape [B=", s.batch, ", T=", s.seq, ", HI=", s.heads,
            "] is outside the CUDA twin's grid limits (B, HI, T/64 <= 65535)");
}

// Raises the three kernels' shared-memory limits once, for the widest dim they take.
void configure_kernels() {
  static const bool configured = [] {
    allow_dynamic_shared(indexer_scores_kernel, scores_shared_floats(kMaxTileDim) * sizeof(float),
                         "indexer_scores_kernel");
    allow_dynamic_shared(indexer_dq_kernel, dq_shared_floats(kMaxTileDim) * sizeof(float),
                         "indexer_dq_kernel");
    allow_dynamic_shared(indexer_dk_kernel, dk_shared_floats(kMaxTileDim) * sizeof(float),
                         "indexer_dk_kernel");
    return true;
  }();
  (void)configured;
}

float score_scale(const ops::IndexerShape& s) {
  return 1.0f / std::sqrt(float(s.heads * s.dim));
}

}  // namespace

void indexer_forward(const Context& ctx, float* scores, const float* q, const float* k,
                     const float* w, const ops::IndexerShape& s) {
  check_shape(s, "indexer_forward");
  if (s.batch == 0 || s.seq == 0) return;
  configure_kernels();
  const unsigned tiles = unsigned(ceil_div(s.seq, kTile));
  const size_t shared = scores_shared_floats(int(s.dim)) * sizeof(float);
  launch<indexer_scores_kernel>({dim3(tiles, tiles, unsigned(s.batch)), kTileThreads, shared,
                          stream_of(ctx)}, scores, q, k, w, int(s.seq), int(s.heads),
                                            int(s.dim), s.q_stride, s.k_stride, s.w_stride,
                                            score_scale(s));
  DSA_LAUNCH_CHECK("indexer_scores_kernel", "B=", s.batch, " T=", s.seq, " HI=", s.heads,
                   " dI=", s.dim, " shared ", shared, " bytes");
}

void indexer_backward(const Context& ctx, float* dq, float* dk, float* dw, const float* dscores,
                      const float* q, const float* k, const float* w,
                      const ops::IndexerShape& s) {
  check_shape(s, "indexer_backward");
  DSA_CHECK(w == nullptr || dw != nullptr,
            "op indexer_backward: head weights are on but dw is null");
  if (s.batch == 0 || s.seq == 0) return;
  configure_kernels();
  const unsigned tiles = unsigned(ceil_div(s.seq, kTile));
  const float scale = score_scale(s);

  const size_t dq_shared = dq_shared_floats(int(s.dim)) * sizeof(float);
  launch<indexer_dq_kernel>({dim3(tiles, unsigned(s.heads), unsigned(s.batch)), kTileThreads, dq_shared,
                      stream_of(ctx)}, dq, dw, dscores, q, k, w, int(s.seq), int(s.dim),
                                        s.q_stride, s.k_stride, s.w_stride, scale);
  DSA_LAUNCH_CHECK("indexer_dq_kernel", "B=", s.batch, " T=", s.seq, " HI=", s.heads,
                   " dI=", s.dim, " shared ", dq_shared, " bytes");

  const size_t dk_shared = dk_shared_floats(int(s.dim)) * sizeof(float);
  launch<indexer_dk_kernel>({dim3(tiles, unsigned(s.batch)), kTileThreads, dk_shared,
                      stream_of(ctx)}, dk, dscores, q, k, w, int(s.seq), int(s.heads),
                                        int(s.dim), s.q_stride, s.k_stride, s.w_stride, scale);
  DSA_LAUNCH_CHECK("indexer_dk_kernel", "B=", s.batch, " T=", s.seq, " HI=", s.heads,
                   " dI=", s.dim, " shared ", dk_shared, " bytes");
}

}  // namespace dsa::DSA_CUDA_TWIN
