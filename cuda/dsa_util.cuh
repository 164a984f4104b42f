// Helpers shared by the CUDA twin's DeepSeek Sparse Attention ops (cuda/dsa_*.cu): the device
// error record that reports bad inputs (a NaN score, a bad index list) back to the host, the
// index-list check and the transposed lists (cuda/dsa_index_lists.cu), and the 64 x 64 score
// tile that the indexer and the indexer-loss target share. Internal to cuda/.
// UNVERIFIED ON HARDWARE: compiled for sm_90 only; no GPU has run these kernels yet.
#pragma once

#include <cstdint>

#include "kernel_util.cuh"

namespace dsa::DSA_CUDA_TWIN::dsa_detail {

// ---- the error record --------------------------------------------------------------------------
// Kernels cannot throw. An op that can meet a bad input keeps one uint64 at the start of
// ctx.workspace: set to kNoError before the kernel, lowered by atomicMin to the position of the
// first bad element (packed so that "smaller" means "first in (b, t, slot) order", as the CPU
// twin reports it), and read back after the kernel. Integer atomicMin is exact and order-free,
// so the reported position is the same on every run. Cost: one 8-byte download and a stream
// synchronisation per checked call (a few microseconds; the op waits for its kernels).
constexpr size_t kErrorRegionBytes = 256;  // keeps every later workspace region 256-aligned
constexpr unsigned long long kNoError = ~0ull;

unsigned long long* error_record(const Context& ctx);
void reset_error(const Context& ctx, const char* op);
unsigned long long read_error(const Context& ctx, const char* op);

// Fails naming the op and the sizes unless ctx.workspace holds `needed` bytes.
void require_workspace(const Context& ctx, size_t needed, const char* op, int64_t batch,
                       int64_t seq);

// ---- index lists (cuda/dsa_index_lists.cu) -----------------------------------------------------
// Fails (naming op, batch, query, slot and value, in the CPU twin's words) unless every row of
// lists [B, T, width] is a strictly increasing run of keys in [0, t] followed by -1 padding.
// Uses the error record; synchronises the stream.
void check_index_lists(const Context& ctx, const ops::IndexLists& lists, int64_t batch,
                       int64_t seq, const char* op);

// For each key s of batch b, the list slots t * width + j that hold it, in increasing t:
// slots[b][offsets[b][s] .. offsets[b][s + 1]). offsets [B, T + 1] int32 (per-batch positions),
// slots [B, T * width] int32. Built by a counting sort — an integer histogram and an exclusive
// scan per batch give the offsets — and a stable radix sort (CUB) of the entries by (b, key) with
// the slot index as the value: stable, so the slots of one key stay in increasing t; the -1
// padding sorts to the end of its batch. O(B T width), deterministic. The sort's buffers
// (keys in/out, values in, CUB's temporary storage) follow the slots in the same region.
struct TransposedLists {
  int32_t* offsets;
  int32_t* slots;
  uint32_t* sort_keys_in;   // [B * T * width]  b * (T + 1) + key (T for padding)
  uint32_t* sort_keys_out;  // [B * T * width]
  int32_t* sort_values_in;  // [B * T * width]  the slot index within the batch
  void* sort_temp;          // CUB's temporary storage
  size_t sort_temp_bytes;
};
size_t transposed_lists_bytes(int64_t batch, int64_t seq, int64_t width);
TransposedLists transposed_lists_at(void* region, int64_t batch, int64_t seq, int64_t width);
void build_transposed_lists(const Context& ctx, const TransposedLists& out,
                            const ops::IndexLists& lists, int64_t batch, int64_t seq);

// ---- device helpers ----------------------------------------------------------------------------

// Keys in list row [width] (a checked list: the entries >= 0), counted by the whole warp.
__device__ __forceinline__ int warp_list_length(const int32_t* row, int64_t width, int lane) {
  int n = 0;
  for (int64_t j0 = 0; j0 < width; j0 += kWarpSize) {
    const bool key = j0 + lane < width && row[j0 + lane] >= 0;
    n += __popc(__ballot_sync(kFullWarpMask, key));
  }
  return n;
}

__device__ __forceinline__ float warp_max(float value) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2)
    value = fmaxf(value, __shfl_xor_sync(kFullWarpMask, value, offset));
  return value;
}

// ---- the 64 x 64 score tile (indexer scores, indexer backward, dense indexer-loss target) ------
// 256 threads = 16 x 16; thread (ty, tx) owns tile rows ty + 16 i and columns tx + 16 c
// (i, c < 4). Operands sit in shared memory as [64 rows][dim + 1]: the odd row length puts the 16
// rows that 16 consecutive lanes read in 16 different banks, and the row a lane pair shares is
// a broadcast. Any dim <= kMaxTileDim works (runtime loop); shared memory is sized per call.
constexpr int kTile = 64;
constexpr int kTileSide = 16;
constexpr int kTilePer = kTile / kTileSide;  // rows (and columns) per thread
constexpr int kTileThreads = kTileSide * kTileSide;
constexpr int kMaxTileDim = 128;             // widest dI / Dh the tile kernels take
constexpr int kTileDimPer = kMaxTileDim / kTileSide;  // head-dim slots per thread (accumulators)

__host__ __device__ constexpr int tile_ld(int dim) { return dim + 1; }

// tile[r][d] = src[(row0 + r) * stride + d] for r < 64, d < dim; zero for rows at or past `seq`.
// Consecutive threads read consecutive d: coalesced.
__device__ __forceinline__ void load_tile(float* tile, const float* src, int64_t stride, int row0,
                                          int seq, int dim) {
  const int ld = tile_ld(dim);
  for (int e = threadIdx.x; e < kTile * dim; e += kTileThreads) {
    const int r = e / dim, d = e % dim;
    tile[r * ld + d] = row0 + r < seq ? src[int64_t(row0 + r) * stride + d] : 0.0f;
  }
}

// dot[i][c] = sum_d a[ty + 16 i][d] * b[tx + 16 c][d], in increasing d.
__device__ __forceinline__ void tile_dots(float (&dot)[kTilePer][kTilePer], const float* a,
                                          const float* b, int dim, int ty, int tx) {
  const int ld = tile_ld(dim);
#pragma unroll
  for (int i = 0; i < kTilePer; ++i)
#pragma unroll
    for (int c = 0; c < kTilePer; ++c) dot[i][c] = 0.0f;
  for (int d = 0; d < dim; ++d) {
    float a_frag[kTilePer], b_frag[kTilePer];
#pragma unroll
    for (int i = 0; i < kTilePer; ++i) a_frag[i] = a[(ty + kTileSide * i) * ld + d];
#pragma unroll
    for (int c = 0; c < kTilePer; ++c) b_frag[c] = b[(tx + kTileSide * c) * ld + d];
#pragma unroll
    for (int i = 0; i < kTilePer; ++i)
#pragma unroll
      for (int c = 0; c < kTilePer; ++c) dot[i][c] = fmaf(a_frag[i], b_frag[c], dot[i][c]);
  }
}

// acc[i][m] += sum_x g[ty + 16 i][x] * b[x][tx + 16 m] over the 64 tile columns x, in increasing
// x (g: [64][kTile + 1] scores, b: [64][dim + 1] operand rows; dims >= dim are skipped).
__device__ __forceinline__ void tile_gb(float (&acc)[kTilePer][kTileDimPer], const float* g,
                                        const float* b, int dim, int ty, int tx) {
  const int ld = tile_ld(dim), ld_g = tile_ld(kTile);
  for (int x = 0; x < kTile; ++x) {
    float g_frag[kTilePer];
#pragma unroll
    for (int i = 0; i < kTilePer; ++i) g_frag[i] = g[(ty + kTileSide * i) * ld_g + x];
#pragma unroll
    for (int m = 0; m < kTileDimPer; ++m) {
      const int d = tx + kTileSide * m;
      if (d >= dim) break;
      const float b_value = b[x * ld + d];
#pragma unroll
      for (int i = 0; i < kTilePer; ++i) acc[i][m] = fmaf(g_frag[i], b_value, acc[i][m]);
    }
  }
}

// Writes this thread's share of a finished score tile into out [T, T]: acc[i][c] * factor at (t, s) =
// (t0 + ty + 16 i, s0 + tx + 16 c) where s <= t, `above` where s > t (the causal fill); rows and
// columns at or past `seq` are left alone.
__device__ __forceinline__ void store_score_tile(float* out, const float (&acc)[kTilePer][kTilePer], float factor,
                                                 float above, int t0, int s0, int seq, int ty, int tx) {
#pragma unroll
  for (int i = 0; i < kTilePer; ++i) {
    const int t = t0 + ty + kTileSide * i;
    if (t >= seq) continue;
#pragma unroll
    for (int c = 0; c < kTilePer; ++c) {
      const int s = s0 + tx + kTileSide * c;
      if (s < seq) out[int64_t(t) * seq + s] = s <= t ? acc[i][c] * factor : above;
    }
  }
}

}  // namespace dsa::DSA_CUDA_TWIN::dsa_detail
