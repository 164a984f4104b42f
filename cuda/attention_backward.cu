// Dense causal attention, backward, CUDA twin (fp32): three launches, no atomics, so every
// result is bit-identical run to run:
//   1. delta[b, h, t] = dout_t . out_t into ctx.workspace;
//   2. one block per (key tile, kv head, batch) owns its dK, dV in registers and visits the query
//      heads of its group and the query tiles that see the key tile in a fixed order, recomputing
//      P from q, k and the LSE;
//   3. one block per (query tile, head, batch) owns its dQ and walks the key tiles.
// Tiles and helpers: attention_tiles.cuh.
#include "attention_tiles.cuh"

namespace dsa::DSA_CUDA_TWIN {

namespace {

using namespace attention_detail;

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
