// Dense causal attention, forward, CUDA twin (fp32, plain FFMA: no TF32, no tensor cores yet):
// one block per (query tile, head, batch). The query tile stays in shared memory; the block walks
// the key tiles up to the diagonal, staging K and V in shared memory, and keeps an online softmax
// (running max and sum per row, accumulator rescaled) in registers. Nothing T x T is ever stored;
// out and the natural-log LSE are written once. Tiles and helpers: attention_tiles.cuh.
#include "attention_tiles.cuh"

namespace dsa::DSA_CUDA_TWIN {

namespace {

using namespace attention_detail;

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

// ---- host side --------------------------------------------------------------------------------

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

}  // namespace

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

}  // namespace dsa::DSA_CUDA_TWIN
