// Dense causal attention, CUDA twin (fp32, plain FFMA: no TF32, no tensor cores yet). The math and
// layouts are the contract of ops/attention.h; the structure is FlashAttention-2 (docs/kernels.md §K3):
//
//   forward   one block per (query tile, head, batch). The query tile stays in shared memory; the
//             block walks the key tiles up to the diagonal, staging K and V in shared memory, and
//             keeps an online softmax (running max and sum per row, accumulator rescaled) in
//             registers. Nothing T x T is ever stored; out and the natural-log LSE are written once.
//   backward  three launches, no atomics, so every result is bit-identical run to run:
//             1. delta[b, h, t] = dout_t . out_t into ctx.workspace;
//             2. one block per (key tile, kv head, batch) owns its dK, dV in registers and visits the
//                query heads of its group and the query tiles that see the key tile in a fixed
//                order, recomputing P from q, k and the LSE;
//             3. one block per (query tile, head, batch) owns its dQ and walks the key tiles.
//
// Thread layout shared by all tile kernels: 128 threads = 16 row groups x 8 column groups. A block
// computes a score tile of (16·R) rows x (8·C) columns; thread (row_group, col_group) owns rows
// row_group·R + i (i < R) and columns col_group + 8·j (j < C). The 8 threads of a row group are 8
// consecutive lanes of one warp, so a row's max and sum are three xor-shuffles away. Every [rows x
// Dh] operand sits row-major in shared memory with rows padded by 4 floats: 16-byte loads stay
// aligned, and the 8 lanes of a row group reading 8 consecutive rows (or 8 consecutive 4-float
// slices of one row) hit distinct banks.
#include <cmath>
#include <cstdint>

#include "check.cuh"
#include "cuda_ops.h"
#include "kernel_util.cuh"

namespace dsa::DSA_CUDA_TWIN {

namespace {

constexpr int kThreads = 128;      // every tile kernel: 4 warps
constexpr int kRowGroups = 16;     // threads along a score tile's rows
constexpr int kColGroups = 8;      // threads along its columns: 8 consecutive lanes of a warp
constexpr int kSharedPad = 4;      // floats appended to every shared-memory row (see above)
constexpr int kVec4 = 4;           // floats per 16-byte shared-memory load
constexpr float kNegInf = -INFINITY;
static_assert(kRowGroups * kColGroups == kThreads, "the thread grid covers the block");

// A score tile of Rows x Cols per block: R rows and C columns per thread.
template <int R, int C>
struct ScoreTile {
  static constexpr int kRowsPerThread = R;
  static constexpr int kColsPerThread = C;
  static constexpr int kRows = kRowGroups * R;
  static constexpr int kCols = kColGroups * C;
};

// Tile shapes per head dim, chosen so that accumulators + score fragments fit in registers
// without spills and shared memory stays under ~80 KB (two or more blocks per SM). Dh = 128
// ("wide") halves the key tile of the forward and the row tiles of the backward.
template <int Dh>
struct AttentionTiles {
  static constexpr bool kWide = Dh > 64;
  using Forward = ScoreTile<4, kWide ? 4 : 8>;   // query rows x key columns: 64 x 64 (wide 64 x 32)
  using KeyValue = ScoreTile<kWide ? 2 : 4, 4>;  // key rows x query columns: 64 x 32 (wide 32 x 32)
  using Query = ScoreTile<kWide ? 2 : 4, 4>;     // query rows x key columns: 64 x 32 (wide 32 x 32)
};

// How a thread's [R x Dh] accumulator (out, dq, dk, dv rows) splits the head dim: Dh / 8 dims per
// thread, in vectors of kVec adjacent dims; the 8 lanes of a row group own 8 adjacent vectors, so
// their shared-memory reads of one operand row are contiguous.
template <int Dh>
struct HeadDimSplit {
  static constexpr int kPerThread = Dh / kColGroups;
  static constexpr int kVec = kPerThread < kVec4 ? kPerThread : kVec4;
  static constexpr int kChunks = kPerThread / kVec;
  __device__ static int dim(int col_group, int chunk, int c) {
    return (chunk * kColGroups + col_group) * kVec + c;
  }
};

// Floats per shared row of a [rows x Dh] operand and of a [rows x cols] score tile.
template <int Dh>
constexpr int operand_ld() { return Dh + kSharedPad; }
template <class Tile>
constexpr int score_ld() { return Tile::kCols + kSharedPad; }

// Shared-memory bytes of each kernel (carved in this order in the kernel).
template <int Dh>
constexpr size_t forward_shared_bytes() {
  using Tile = typename AttentionTiles<Dh>::Forward;
  // q [rows], k and v [cols], p [rows x cols]
  return sizeof(float) * ((Tile::kRows + 2 * Tile::kCols) * operand_ld<Dh>() +
                          Tile::kRows * score_ld<Tile>());
}
template <int Dh>
constexpr size_t dkdv_shared_bytes() {
  using Tile = typename AttentionTiles<Dh>::KeyValue;
  // k and v [rows], q and dout [cols], p and ds [rows x cols]
  return sizeof(float) * ((2 * Tile::kRows + 2 * Tile::kCols) * operand_ld<Dh>() +
                          2 * Tile::kRows * score_ld<Tile>());
}
template <int Dh>
constexpr size_t dq_shared_bytes() {
  using Tile = typename AttentionTiles<Dh>::Query;
  // q and dout [rows], k and v [cols], ds [rows x cols]
  return sizeof(float) * ((2 * Tile::kRows + 2 * Tile::kCols) * operand_ld<Dh>() +
                          Tile::kRows * score_ld<Tile>());
}

// ---- device helpers ---------------------------------------------------------------------------

__device__ __forceinline__ int min_int(int a, int b) { return a < b ? a : b; }

// Loads N adjacent floats (N = 1, 2 or 4) from 4·N-byte-aligned shared memory.
template <int N>
__device__ __forceinline__ void load_shared(float (&dst)[N], const float* src) {
  if constexpr (N == 4) {
    const float4 v = *reinterpret_cast<const float4*>(src);
    dst[0] = v.x, dst[1] = v.y, dst[2] = v.z, dst[3] = v.w;
  } else if constexpr (N == 2) {
    const float2 v = *reinterpret_cast<const float2*>(src);
    dst[0] = v.x, dst[1] = v.y;
  } else {
    static_assert(N == 1, "1, 2 or 4 floats");
    dst[0] = *src;
  }
}

// Max / sum over the 8 lanes of a row group (lanes differing in their low three bits). The xor
// pattern is fixed, so the result is the same on every lane and in every run.
__device__ __forceinline__ float row_group_max(float x) {
  for (int offset = 1; offset < kColGroups; offset <<= 1)
    x = fmaxf(x, __shfl_xor_sync(kFullWarpMask, x, offset));
  return x;
}
__device__ __forceinline__ float row_group_sum(float x) {
  for (int offset = 1; offset < kColGroups; offset <<= 1)
    x += __shfl_xor_sync(kFullWarpMask, x, offset);
  return x;
}

// tile[r][d] = src[(row0 + r) · stride + d] for r < Rows, d < Dh; zeros for rows at or past `seq`
// (so scores there are finite and get masked). src points at token 0 of this (batch, head).
// Consecutive threads read consecutive d: coalesced global reads, conflict-free shared stores.
template <int Rows, int Dh>
__device__ __forceinline__ void load_rows(float* tile, const float* src, int64_t stride, int row0,
                                          int seq) {
  constexpr int kLd = operand_ld<Dh>();
  static_assert(Rows * Dh % kThreads == 0, "whole rounds of loads");
#pragma unroll 8
  for (int round = 0; round < Rows * Dh / kThreads; ++round) {
    const int e = round * kThreads + threadIdx.x;
    const int r = e / Dh, d = e % Dh, t = row0 + r;
    tile[r * kLd + d] = t < seq ? src[int64_t(t) * stride + d] : 0.0f;
  }
}

// acc[i][j] += Σ_d a[row_group·R + i][d] · b[col_group + 8j][d]   (a·bᵀ, contracted over the head dim)
// a: [16R x Dh], b: [8C x Dh], both row-major with operand_ld<Dh>() floats per row. 16-byte loads
// along d: a's row is the same for the 8 lanes of a row group (broadcast); b's rows are 8
// consecutive rows, (Dh + 4)·4 bytes apart, which land on distinct bank quads.
template <int R, int C, int Dh>
__device__ __forceinline__ void accumulate_abt(float (&acc)[R][C], const float* a, const float* b,
                                               int row_group, int col_group) {
  constexpr int kLd = operand_ld<Dh>();
#pragma unroll 4
  for (int d = 0; d < Dh; d += kVec4) {
    float a_frag[R][kVec4], b_frag[C][kVec4];
#pragma unroll
    for (int i = 0; i < R; ++i) load_shared(a_frag[i], a + (row_group * R + i) * kLd + d);
#pragma unroll
    for (int j = 0; j < C; ++j) load_shared(b_frag[j], b + (col_group + kColGroups * j) * kLd + d);
#pragma unroll
    for (int i = 0; i < R; ++i)
#pragma unroll
      for (int j = 0; j < C; ++j)
#pragma unroll
        for (int x = 0; x < kVec4; ++x) acc[i][j] = fmaf(a_frag[i][x], b_frag[j][x], acc[i][j]);
  }
}

// acc[i][s] += Σ_k p[row_group·R + i][k] · b[k][dim(s)]   (p·b, contracted over K score columns)
// p: [16R x K] row-major with K + 4 floats per row (a score tile); b: [K x Dh] row-major with
// operand_ld<Dh>() floats per row. Summed in increasing k: a fixed order.
template <int R, int K, int Dh>
__device__ __forceinline__ void accumulate_pb(float (&acc)[R][Dh / kColGroups], const float* p,
                                              const float* b, int row_group, int col_group) {
  using Split = HeadDimSplit<Dh>;
  constexpr int kLdP = K + kSharedPad, kLd = operand_ld<Dh>();
  static_assert(K % kVec4 == 0, "score tiles have a multiple of 4 columns");
#pragma unroll 4
  for (int k = 0; k < K; k += kVec4) {
    float p_frag[R][kVec4];
#pragma unroll
    for (int i = 0; i < R; ++i) load_shared(p_frag[i], p + (row_group * R + i) * kLdP + k);
#pragma unroll
    for (int x = 0; x < kVec4; ++x) {
      float b_frag[Split::kChunks][Split::kVec];
#pragma unroll
      for (int chunk = 0; chunk < Split::kChunks; ++chunk)
        load_shared(b_frag[chunk], b + (k + x) * kLd + Split::dim(col_group, chunk, 0));
#pragma unroll
      for (int i = 0; i < R; ++i)
#pragma unroll
        for (int chunk = 0; chunk < Split::kChunks; ++chunk)
#pragma unroll
          for (int c = 0; c < Split::kVec; ++c) {
            float& slot = acc[i][chunk * Split::kVec + c];
            slot = fmaf(p_frag[i][x], b_frag[chunk][c], slot);
          }
    }
  }
}

// dst[t · stride + dim] = factor · acc[i][slot] for this thread's rows t = row0 + row_group·R + i
// that exist (t < seq). dst points at token 0 of this (batch, head).
template <int R, int Dh>
__device__ __forceinline__ void store_rows(float* dst, int64_t stride, const float (&acc)[R][Dh / kColGroups],
                                           const float (&factor)[R], int row0, int row_group,
                                           int col_group, int seq) {
  using Split = HeadDimSplit<Dh>;
#pragma unroll
  for (int i = 0; i < R; ++i) {
    const int t = row0 + row_group * R + i;
    if (t >= seq) continue;
    float* row = dst + int64_t(t) * stride;
#pragma unroll
    for (int chunk = 0; chunk < Split::kChunks; ++chunk)
#pragma unroll
      for (int c = 0; c < Split::kVec; ++c)
        row[Split::dim(col_group, chunk, c)] = acc[i][chunk * Split::kVec + c] * factor[i];
  }
}

// ---- kernels ----------------------------------------------------------------------------------

// Forward. grid (ceil(T / Tile::kRows), H, B), block kThreads, dynamic shared forward_shared_bytes.
//   q   [B, T, q_stride]  (head h at columns h·Dh … h·Dh + Dh − 1)
//   k,v [B, T, kv_stride] (kv head g = h / group at columns g·Dh …)
//   out [B, T, H, Dh] contiguous;  lse [B, H, T] (natural log)
template <int Dh>
__global__ void __launch_bounds__(kThreads)
    attention_forward_kernel(float* __restrict__ out, float* __restrict__ lse,
                             const float* __restrict__ q, const float* __restrict__ k,
                             const float* __restrict__ v, int seq, int heads, int group,
                             int64_t q_stride, int64_t kv_stride, float scale) {
  using Tile = typename AttentionTiles<Dh>::Forward;
  using Split = HeadDimSplit<Dh>;
  constexpr int R = Tile::kRowsPerThread, C = Tile::kColsPerThread;
  constexpr int kLd = operand_ld<Dh>(), kLdP = score_ld<Tile>();
  DSA_DYNAMIC_SHARED(float4, attention_shared);
  float* q_tile = reinterpret_cast<float*>(attention_shared);  // [kRows][kLd]
  float* k_tile = q_tile + Tile::kRows * kLd;                 // [kCols][kLd]
  float* v_tile = k_tile + Tile::kCols * kLd;                 // [kCols][kLd]
  float* p_tile = v_tile + Tile::kCols * kLd;                 // [kRows][kLdP] probabilities

  const int q0 = blockIdx.x * Tile::kRows, h = blockIdx.y, b = blockIdx.z, g = h / group;
  const int row_group = threadIdx.x / kColGroups, col_group = threadIdx.x % kColGroups;
  const float* q_bh = q + int64_t(b) * seq * q_stride + int64_t(h) * Dh;
  const float* k_bg = k + int64_t(b) * seq * kv_stride + int64_t(g) * Dh;
  const float* v_bg = v + int64_t(b) * seq * kv_stride + int64_t(g) * Dh;

  load_rows<Tile::kRows, Dh>(q_tile, q_bh, q_stride, q0, seq);

  float row_max[R], row_sum[R], acc[R][Split::kPerThread];
#pragma unroll
  for (int i = 0; i < R; ++i) {
    row_max[i] = kNegInf, row_sum[i] = 0.0f;
#pragma unroll
    for (int s = 0; s < Split::kPerThread; ++s) acc[i][s] = 0.0f;
  }

  const int last_row = min_int(q0 + Tile::kRows, seq) - 1;  // the last query of this tile
  for (int k0 = 0; k0 <= last_row; k0 += Tile::kCols) {    // key tiles up to the diagonal
    __syncthreads();  // the previous tile's readers of k, v and p are done
    load_rows<Tile::kCols, Dh>(k_tile, k_bg, kv_stride, k0, seq);
    load_rows<Tile::kCols, Dh>(v_tile, v_bg, kv_stride, k0, seq);
    __syncthreads();

    float score[R][C] = {};
    accumulate_abt<R, C, Dh>(score, q_tile, k_tile, row_group, col_group);
#pragma unroll
    for (int i = 0; i < R; ++i) {
      const int t = q0 + row_group * R + i;
      float tile_max = kNegInf;
#pragma unroll
      for (int j = 0; j < C; ++j) {
        const int key = k0 + col_group + kColGroups * j;
        score[i][j] = key <= t ? score[i][j] * scale : kNegInf;  // causal mask
        tile_max = fmaxf(tile_max, score[i][j]);
      }
      const float new_max = fmaxf(row_max[i], row_group_max(tile_max));
      // A row that has seen no visible key still has max −inf: subtract 0 so exp gives 0, not NaN.
      const float shift = new_max == kNegInf ? 0.0f : new_max;
      const float correction = expf(row_max[i] - shift);  // rescales what was summed so far
      float tile_sum = 0.0f;
#pragma unroll
      for (int j = 0; j < C; ++j) {
        const float p = expf(score[i][j] - shift);
        tile_sum += p;
        p_tile[(row_group * R + i) * kLdP + col_group + kColGroups * j] = p;
      }
      row_sum[i] = row_sum[i] * correction + row_group_sum(tile_sum);
      row_max[i] = new_max;
#pragma unroll
      for (int s = 0; s < Split::kPerThread; ++s) acc[i][s] *= correction;
    }
    // p rows are written and read only by the 8 lanes of their row group (one warp), and v is
    // complete since the barrier above: a warp barrier orders the rest.
    __syncwarp();
    accumulate_pb<R, Tile::kCols, Dh>(acc, p_tile, v_tile, row_group, col_group);
  }

  float inv_sum[R];
#pragma unroll
  for (int i = 0; i < R; ++i) inv_sum[i] = 1.0f / row_sum[i];
  const int64_t out_stride = int64_t(heads) * Dh;
  store_rows<R, Dh>(out + int64_t(b) * seq * out_stride + int64_t(h) * Dh, out_stride, acc, inv_sum,
                    q0, row_group, col_group, seq);
  if (col_group == 0) {
    float* lse_bh = lse + (int64_t(b) * heads + h) * seq;
#pragma unroll
    for (int i = 0; i < R; ++i) {
      const int t = q0 + row_group * R + i;
      if (t < seq) lse_bh[t] = row_max[i] + logf(row_sum[i]);
    }
  }
}

// Backward pre-pass. grid ceil(rows / warps per block), block kThreads; one warp per (b, t, h).
//   dout, out [B, T, H, Dh] contiguous (rows = B·T·H rows of Dh);  delta [B, H, T]
__global__ void __launch_bounds__(kThreads)
    attention_delta_kernel(float* __restrict__ delta, const float* __restrict__ dout,
                           const float* __restrict__ out, int64_t rows, int seq, int heads,
                           int head_dim) {
  const int64_t row = int64_t(blockIdx.x) * (kThreads / kWarpSize) + threadIdx.x / kWarpSize;
  const int lane = threadIdx.x % kWarpSize;
  float sum = 0.0f;
  if (row < rows)
    for (int d = lane; d < head_dim; d += kWarpSize)
      sum = fmaf(dout[row * head_dim + d], out[row * head_dim + d], sum);
  for (int offset = kWarpSize / 2; offset > 0; offset >>= 1)  // fixed tree: deterministic
    sum += __shfl_xor_sync(kFullWarpMask, sum, offset);
  if (row < rows && lane == 0) {
    const int64_t token = row / heads, b = token / seq, t = token % seq, h = row % heads;
    delta[(b * heads + h) * seq + t] = sum;
  }
}

// dK, dV. grid (ceil(T / Tile::kRows), Hkv, B), block kThreads, dynamic shared dkdv_shared_bytes.
// The block owns keys k0 … k0 + kRows − 1 of kv head g; scores are transposed here (rows = keys,
// columns = queries). It visits query heads g·group … g·group + group − 1, and for each the query
// tiles from the one holding k0 to the end, in that order; dK, dV accumulate in registers.
//   q [B, T, q_stride];  k, v [B, T, kv_stride];  dout [B, T, H, Dh];  lse, delta [B, H, T]
//   dk, dv [B, T, kv_stride] (overwritten, kv head g's columns)
template <int Dh>
__global__ void __launch_bounds__(kThreads)
    attention_dkdv_kernel(float* __restrict__ dk, float* __restrict__ dv,
                          const float* __restrict__ dout, const float* __restrict__ lse,
                          const float* __restrict__ delta, const float* __restrict__ q,
                          const float* __restrict__ k, const float* __restrict__ v, int seq,
                          int heads, int group, int64_t q_stride, int64_t kv_stride, float scale) {
  using Tile = typename AttentionTiles<Dh>::KeyValue;
  using Split = HeadDimSplit<Dh>;
  constexpr int R = Tile::kRowsPerThread, C = Tile::kColsPerThread;
  constexpr int kLd = operand_ld<Dh>(), kLdP = score_ld<Tile>();
  DSA_DYNAMIC_SHARED(float4, attention_shared);
  float* k_tile = reinterpret_cast<float*>(attention_shared);  // [kRows][kLd]
  float* v_tile = k_tile + Tile::kRows * kLd;                 // [kRows][kLd]
  float* q_tile = v_tile + Tile::kRows * kLd;                 // [kCols][kLd]
  float* dout_tile = q_tile + Tile::kCols * kLd;              // [kCols][kLd]
  float* p_tile = dout_tile + Tile::kCols * kLd;              // [kRows][kLdP] Pᵀ
  float* ds_tile = p_tile + Tile::kRows * kLdP;               // [kRows][kLdP] dSᵀ

  const int k0 = blockIdx.x * Tile::kRows, g = blockIdx.y, b = blockIdx.z;
  const int row_group = threadIdx.x / kColGroups, col_group = threadIdx.x % kColGroups;
  const int64_t kv_offset = int64_t(b) * seq * kv_stride + int64_t(g) * Dh;
  const int64_t out_stride = int64_t(heads) * Dh;

  load_rows<Tile::kRows, Dh>(k_tile, k + kv_offset, kv_stride, k0, seq);
  load_rows<Tile::kRows, Dh>(v_tile, v + kv_offset, kv_stride, k0, seq);

  float dk_acc[R][Split::kPerThread] = {}, dv_acc[R][Split::kPerThread] = {};
  const int first_q0 = k0 / Tile::kCols * Tile::kCols;  // earlier queries see none of these keys
  for (int h = g * group; h < (g + 1) * group; ++h) {
    const float* q_bh = q + int64_t(b) * seq * q_stride + int64_t(h) * Dh;
    const float* dout_bh = dout + int64_t(b) * seq * out_stride + int64_t(h) * Dh;
    const float* lse_bh = lse + (int64_t(b) * heads + h) * seq;
    const float* delta_bh = delta + (int64_t(b) * heads + h) * seq;
    for (int q0 = first_q0; q0 < seq; q0 += Tile::kCols) {
      __syncthreads();  // the previous tile's readers of q, dout, p and ds are done
      load_rows<Tile::kCols, Dh>(q_tile, q_bh, q_stride, q0, seq);
      load_rows<Tile::kCols, Dh>(dout_tile, dout_bh, out_stride, q0, seq);
      float col_lse[C], col_delta[C];  // per query column, straight from global memory
#pragma unroll
      for (int j = 0; j < C; ++j) {
        const int t = q0 + col_group + kColGroups * j;
        col_lse[j] = t < seq ? lse_bh[t] : 0.0f;
        col_delta[j] = t < seq ? delta_bh[t] : 0.0f;
      }
      __syncthreads();

      float score[R][C] = {}, dprob[R][C] = {};
      accumulate_abt<R, C, Dh>(score, k_tile, q_tile, row_group, col_group);   // k·q
      accumulate_abt<R, C, Dh>(dprob, v_tile, dout_tile, row_group, col_group);  // dP = v·dout
#pragma unroll
      for (int i = 0; i < R; ++i) {
        const int key = k0 + row_group * R + i;
#pragma unroll
        for (int j = 0; j < C; ++j) {
          const int t = q0 + col_group + kColGroups * j;
          const float p = key <= t && t < seq ? expf(score[i][j] * scale - col_lse[j]) : 0.0f;
          const int at = (row_group * R + i) * kLdP + col_group + kColGroups * j;
          p_tile[at] = p;
          ds_tile[at] = p * (dprob[i][j] - col_delta[j]);
        }
      }
      __syncwarp();  // p and ds rows: written and read by the lanes of one row group only
      accumulate_pb<R, Tile::kCols, Dh>(dv_acc, p_tile, dout_tile, row_group, col_group);
      accumulate_pb<R, Tile::kCols, Dh>(dk_acc, ds_tile, q_tile, row_group, col_group);
    }
  }

  float dk_factor[R], dv_factor[R];
#pragma unroll
  for (int i = 0; i < R; ++i) dk_factor[i] = scale, dv_factor[i] = 1.0f;
  store_rows<R, Dh>(dk + kv_offset, kv_stride, dk_acc, dk_factor, k0, row_group, col_group, seq);
  store_rows<R, Dh>(dv + kv_offset, kv_stride, dv_acc, dv_factor, k0, row_group, col_group, seq);
}

// dQ. grid (ceil(T / Tile::kRows), H, B), block kThreads, dynamic shared dq_shared_bytes.
// The block owns queries q0 … q0 + kRows − 1 of head h and walks the key tiles up to the diagonal.
//   q [B, T, q_stride];  k, v [B, T, kv_stride];  dout [B, T, H, Dh];  lse, delta [B, H, T]
//   dq [B, T, q_stride] (overwritten, head h's columns)
template <int Dh>
__global__ void __launch_bounds__(kThreads)
    attention_dq_kernel(float* __restrict__ dq, const float* __restrict__ dout,
                        const float* __restrict__ lse, const float* __restrict__ delta,
                        const float* __restrict__ q, const float* __restrict__ k,
                        const float* __restrict__ v, int seq, int heads, int group,
                        int64_t q_stride, int64_t kv_stride, float scale) {
  using Tile = typename AttentionTiles<Dh>::Query;
  using Split = HeadDimSplit<Dh>;
  constexpr int R = Tile::kRowsPerThread, C = Tile::kColsPerThread;
  constexpr int kLd = operand_ld<Dh>(), kLdP = score_ld<Tile>();
  DSA_DYNAMIC_SHARED(float4, attention_shared);
  float* q_tile = reinterpret_cast<float*>(attention_shared);  // [kRows][kLd]
  float* dout_tile = q_tile + Tile::kRows * kLd;              // [kRows][kLd]
  float* k_tile = dout_tile + Tile::kRows * kLd;              // [kCols][kLd]
  float* v_tile = k_tile + Tile::kCols * kLd;                 // [kCols][kLd]
  float* ds_tile = v_tile + Tile::kCols * kLd;                // [kRows][kLdP] dS

  const int q0 = blockIdx.x * Tile::kRows, h = blockIdx.y, b = blockIdx.z, g = h / group;
  const int row_group = threadIdx.x / kColGroups, col_group = threadIdx.x % kColGroups;
  const int64_t out_stride = int64_t(heads) * Dh;
  const int64_t q_offset = int64_t(b) * seq * q_stride + int64_t(h) * Dh;
  const float* k_bg = k + int64_t(b) * seq * kv_stride + int64_t(g) * Dh;
  const float* v_bg = v + int64_t(b) * seq * kv_stride + int64_t(g) * Dh;
  const float* lse_bh = lse + (int64_t(b) * heads + h) * seq;
  const float* delta_bh = delta + (int64_t(b) * heads + h) * seq;

  load_rows<Tile::kRows, Dh>(q_tile, q + q_offset, q_stride, q0, seq);
  load_rows<Tile::kRows, Dh>(dout_tile, dout + int64_t(b) * seq * out_stride + int64_t(h) * Dh,
                             out_stride, q0, seq);
  float row_lse[R], row_delta[R];
#pragma unroll
  for (int i = 0; i < R; ++i) {
    const int t = q0 + row_group * R + i;
    row_lse[i] = t < seq ? lse_bh[t] : 0.0f;
    row_delta[i] = t < seq ? delta_bh[t] : 0.0f;
  }

  float dq_acc[R][Split::kPerThread] = {};
  const int last_row = min_int(q0 + Tile::kRows, seq) - 1;
  for (int k0 = 0; k0 <= last_row; k0 += Tile::kCols) {
    __syncthreads();  // the previous tile's readers of k, v and ds are done
    load_rows<Tile::kCols, Dh>(k_tile, k_bg, kv_stride, k0, seq);
    load_rows<Tile::kCols, Dh>(v_tile, v_bg, kv_stride, k0, seq);
    __syncthreads();

    float score[R][C] = {}, dprob[R][C] = {};
    accumulate_abt<R, C, Dh>(score, q_tile, k_tile, row_group, col_group);   // q·k
    accumulate_abt<R, C, Dh>(dprob, dout_tile, v_tile, row_group, col_group);  // dP = dout·v
#pragma unroll
    for (int i = 0; i < R; ++i) {
      const int t = q0 + row_group * R + i;
#pragma unroll
      for (int j = 0; j < C; ++j) {
        const int key = k0 + col_group + kColGroups * j;
        const float p = key <= t && t < seq ? expf(score[i][j] * scale - row_lse[i]) : 0.0f;
        ds_tile[(row_group * R + i) * kLdP + col_group + kColGroups * j] =
            p * (dprob[i][j] - row_delta[i]);
      }
    }
    __syncwarp();  // ds rows: written and read by the lanes of one row group only
    accumulate_pb<R, Tile::kCols, Dh>(dq_acc, ds_tile, k_tile, row_group, col_group);
  }

  float dq_factor[R];
#pragma unroll
  for (int i = 0; i < R; ++i) dq_factor[i] = scale;
  store_rows<R, Dh>(dq + q_offset, q_stride, dq_acc, dq_factor, q0, row_group, col_group, seq);
}

// ---- host side --------------------------------------------------------------------------------

unsigned blocks_for(int64_t n, int per_block) { return static_cast<unsigned>(ceil_div(n, per_block)); }

void check_shape(const AttentionShape& s, const char* op) {
  DSA_CHECK(s.head_dim == 16 || s.head_dim == 32 || s.head_dim == 64 || s.head_dim == 128, "op ",
            op, ": head_dim ", s.head_dim,
            " is not supported by the CUDA twin (16, 32, 64 or 128) [B=", s.batch, ", T=", s.seq,
            ", H=", s.heads, ", Hkv=", s.kv_heads, "]");
  DSA_CHECK(s.kv_heads > 0 && s.heads % s.kv_heads == 0, "op ", op, ": heads ", s.heads,
            " must be a multiple of kv_heads ", s.kv_heads);
  // Grid limits: y and z hold heads and batch; tile indices and token counts fit in int.
  DSA_CHECK(s.batch >= 0 && s.batch <= kMaxGridYZ && s.heads <= kMaxGridYZ && s.seq >= 0 &&
                s.seq <= INT32_MAX,
            "op ", op, ": shape [B=", s.batch, ", T=", s.seq, ", H=", s.heads,
            "] is outside the CUDA twin's grid limits (B, H <= 65535)");
}

template <int Dh>
void launch_forward(const Context& ctx, float* out, float* lse, const float* q, const float* k,
                    const float* v, const AttentionShape& s) {
  using Tile = typename AttentionTiles<Dh>::Forward;
  constexpr size_t shared = forward_shared_bytes<Dh>();
  static const bool configured =
      (allow_dynamic_shared(attention_forward_kernel<Dh>, shared, "attention_forward_kernel"), true);
  (void)configured;
  const dim3 grid(blocks_for(s.seq, Tile::kRows), s.heads, s.batch);
  launch<attention_forward_kernel<Dh>>({grid, kThreads, shared, stream_of(ctx)},
      out, lse, q, k, v, int(s.seq), int(s.heads), int(s.heads / s.kv_heads), s.q_stride,
      s.kv_stride, 1.0f / std::sqrt(float(Dh)));
  DSA_LAUNCH_CHECK("attention_forward_kernel", "B=", s.batch, " T=", s.seq, " H=", s.heads,
                   " Hkv=", s.kv_heads, " Dh=", Dh, " shared ", shared, " bytes");
}

template <int Dh>
void launch_backward(const Context& ctx, float* dq, float* dk, float* dv, const float* dout,
                     const float* lse, const float* delta, const float* q, const float* k,
                     const float* v, const AttentionShape& s) {
  using KeyTile = typename AttentionTiles<Dh>::KeyValue;
  using QueryTile = typename AttentionTiles<Dh>::Query;
  constexpr size_t dkdv_shared = dkdv_shared_bytes<Dh>(), dq_shared = dq_shared_bytes<Dh>();
  static const bool configured =
      (allow_dynamic_shared(attention_dkdv_kernel<Dh>, dkdv_shared, "attention_dkdv_kernel"),
       allow_dynamic_shared(attention_dq_kernel<Dh>, dq_shared, "attention_dq_kernel"), true);
  (void)configured;
  const int seq = int(s.seq), heads = int(s.heads), group = int(s.heads / s.kv_heads);
  const float scale = 1.0f / std::sqrt(float(Dh));

  const dim3 dkdv_grid(blocks_for(s.seq, KeyTile::kRows), s.kv_heads, s.batch);
  launch<attention_dkdv_kernel<Dh>>({dkdv_grid, kThreads, dkdv_shared, stream_of(ctx)},
      dk, dv, dout, lse, delta, q, k, v, seq, heads, group, s.q_stride, s.kv_stride, scale);
  DSA_LAUNCH_CHECK("attention_dkdv_kernel", "B=", s.batch, " T=", s.seq, " H=", s.heads,
                   " Hkv=", s.kv_heads, " Dh=", Dh, " shared ", dkdv_shared, " bytes");

  const dim3 dq_grid(blocks_for(s.seq, QueryTile::kRows), s.heads, s.batch);
  launch<attention_dq_kernel<Dh>>({dq_grid, kThreads, dq_shared, stream_of(ctx)},
      dq, dout, lse, delta, q, k, v, seq, heads, group, s.q_stride, s.kv_stride, scale);
  DSA_LAUNCH_CHECK("attention_dq_kernel", "B=", s.batch, " T=", s.seq, " H=", s.heads,
                   " Hkv=", s.kv_heads, " Dh=", Dh, " shared ", dq_shared, " bytes");
}

size_t delta_bytes(const AttentionShape& s) {
  const size_t bytes = static_cast<size_t>(s.batch * s.heads * s.seq) * sizeof(float);
  return round_up_256(bytes);
}

}  // namespace

size_t attention_workspace(const ops::WorkspaceQuery& query) { return delta_bytes(query.attention); }

void attention_forward(const Context& ctx, float* out, float* lse, const float* q, const float* k,
                       const float* v, const AttentionShape& s) {
  check_shape(s, "attention_forward");
  if (s.batch == 0 || s.seq == 0) return;
  switch (s.head_dim) {
    case 16: return launch_forward<16>(ctx, out, lse, q, k, v, s);
    case 32: return launch_forward<32>(ctx, out, lse, q, k, v, s);
    case 64: return launch_forward<64>(ctx, out, lse, q, k, v, s);
    case 128: return launch_forward<128>(ctx, out, lse, q, k, v, s);
  }
}

void attention_backward(const Context& ctx, float* dq, float* dk, float* dv, const float* dout,
                        const float* out, const float* lse, const float* q, const float* k,
                        const float* v, const AttentionShape& s) {
  check_shape(s, "attention_backward");
  const size_t needed = delta_bytes(s);
  DSA_CHECK(ctx.workspace_bytes >= needed && (needed == 0 || ctx.workspace != nullptr),
            "op attention_backward: workspace of ", ctx.workspace_bytes,
            " bytes is smaller than the ", needed, " it needs for delta [B=", s.batch,
            ", H=", s.heads, ", T=", s.seq, "]");
  if (s.batch == 0 || s.seq == 0) return;
  float* delta = static_cast<float*>(ctx.workspace);  // [B, H, T]

  const int64_t rows = s.batch * s.seq * s.heads;
  constexpr int kRowsPerBlock = kThreads / kWarpSize;
  launch<attention_delta_kernel>({blocks_for(rows, kRowsPerBlock), kThreads, 0, stream_of(ctx)},
      delta, dout, out, rows, int(s.seq), int(s.heads), int(s.head_dim));
  DSA_LAUNCH_CHECK("attention_delta_kernel", "B=", s.batch, " T=", s.seq, " H=", s.heads,
                   " Dh=", s.head_dim);

  switch (s.head_dim) {
    case 16: return launch_backward<16>(ctx, dq, dk, dv, dout, lse, delta, q, k, v, s);
    case 32: return launch_backward<32>(ctx, dq, dk, dv, dout, lse, delta, q, k, v, s);
    case 64: return launch_backward<64>(ctx, dq, dk, dv, dout, lse, delta, q, k, v, s);
    case 128: return launch_backward<128>(ctx, dq, dk, dv, dout, lse, delta, q, k, v, s);
  }
}

}  // namespace dsa::DSA_CUDA_TWIN
