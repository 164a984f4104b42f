// The tiles of the dense causal attention's CUDA twin (attention_forward.cu, attention_backward.cu):
// the thread layout, tile shapes, shared-memory sizes and the device helpers both directions use.
// The math and layouts are the contract of ops/attention.h; the structure is FlashAttention-2
// (docs/kernels.md §K3). Internal to cuda/.
//
// Thread layout shared by all tile kernels: 128 threads = 16 row groups x 8 column groups. A block
// computes a score tile of (16·R) rows x (8·C) columns; thread (row_group, col_group) owns rows
// row_group·R + i (i < R) and columns col_group + 8·j (j < C). The 8 threads of a row group are 8
// consecutive lanes of one warp, so a row's max and sum are three xor-shuffles away. Every [rows x
// Dh] operand sits row-major in shared memory with rows padded by 4 floats: 16-byte loads stay
// aligned, and the 8 lanes of a row group reading 8 consecutive rows (or 8 consecutive 4-float
// slices of one row) hit distinct banks.
#pragma once
#include <cmath>
#include <cstdint>

#include "check.cuh"
#include "cuda_ops.h"
#include "kernel_util.cuh"

namespace dsa::DSA_CUDA_TWIN::attention_detail {


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

// ---- host helpers -----------------------------------------------------------------------------

inline unsigned blocks_for(int64_t n, int per_block) { return static_cast<unsigned>(ceil_div(n, per_block)); }

inline void check_shape(const AttentionShape& s, const char* op) {
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

}  // namespace dsa::DSA_CUDA_TWIN::attention_detail
