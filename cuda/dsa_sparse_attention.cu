// Sparse attention over index lists, CUDA twin (fp32 FFMA; contract: ops/sparse_attention.h).
// UNVERIFIED ON HARDWARE: compiled for sm_90, never run on a GPU; tests/test_cuda_dsa.cpp
// compares it with the CPU twin.
//
// Every list is checked on the device first (cuda/dsa_index_lists.cu: a bad entry throws naming
// b, t and slot, as the CPU twin does; one stream synchronisation). Then, one warp per (query
// row, head), 4 warps per block = 4 consecutive heads of one row, so the heads of a GQA group
// gather the same key rows through L1:
//   forward   lanes take 32 list entries at a time: lane j computes x_j = q . k_{s_j} / sqrt(Dh)
//             (q broadcast from L1, its key row read whole); the warp keeps an online softmax
//             (max and sum by xor trees); then lanes switch to head dims (d = lane + 32 m) and
//             add P_j v_{s_j} for the chunk's keys in list order. Writes out and lse (-inf and
//             out = 0 for an empty row).
//   backward  (1) per (row, head) warp as above: delta = dout . out (xor tree), P and dS for
//             each list slot into the workspace ([B, T, width, H], as the CPU twin), dq in
//             registers summed in list order; (2) the transposed lists (dsa_index_lists.cu:
//             histogram and scan for the offsets, a stable CUB radix sort of (batch, key) ->
//             slot, so each key's slots stay in increasing t); (3) one warp per (key row,
//             kv head): dk, dv over its slots in increasing t, the query heads of the group in
//             increasing h within a slot, lanes over head dims.
// Deterministic: every output element is summed by one lane in a fixed order; warp reductions
// are fixed xor trees; no float atomics. Not bit-identical to the CPU twin (different
// association), equal to rounding. Plain version: no shared-memory staging or cp.async of the
// gathered rows yet (docs/kernels.md).
#include <cmath>
#include <cstdint>

#include "dsa_util.cuh"

namespace dsa::DSA_CUDA_TWIN {

using namespace dsa_detail;

namespace {

constexpr int kThreads = 128;                  // 4 warps: 4 (row, head) pairs per block
constexpr int kWarpsPerBlock = kThreads / kWarpSize;
constexpr int kMaxHeadDim = 128;               // head dims per lane: kMaxHeadDim / 32
constexpr int kDimsPerLane = kMaxHeadDim / kWarpSize;
constexpr float kNegInf = -INFINITY;

// Shapes passed to every kernel.
struct SparseDims {
  int64_t batch, seq, width;
  int heads, group, head_dim;
  int64_t q_stride, kv_stride;
  float scale;
};

__device__ __forceinline__ float row_dot(const float* a, const float* b, int n) {
  float sum = 0.0f;
  for (int d = 0; d < n; ++d) sum = fmaf(a[d], b[d], sum);
  return sum;
}

// This warp's (row, head) pair, or false when the warp is past the last one.
struct RowHead {
  int64_t row, b, t;
  int h;
};
__device__ __forceinline__ bool row_head_of_warp(RowHead& rh, const SparseDims& s) {
  const int64_t pair = int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / kWarpSize;
  if (pair >= s.batch * s.seq * s.heads) return false;
  rh.row = pair / s.heads;
  rh.h = int(pair % s.heads);
  rh.b = rh.row / s.seq;
  rh.t = rh.row % s.seq;
  return true;
}

// Forward. grid ceil(B*T*H / 4), block kThreads.
//   q [B, T, q_stride];  k, v [B, T, kv_stride];  lists [B, T, width] (checked)
//   out [B, T, H, Dh];  lse [B, H, T]
__global__ void __launch_bounds__(kThreads)
    sparse_forward_kernel(float* __restrict__ out, float* __restrict__ lse,
                          const float* __restrict__ q, const float* __restrict__ k,
                          const float* __restrict__ v, const int32_t* __restrict__ lists,
                          SparseDims s) {
  RowHead rh;
  if (!row_head_of_warp(rh, s)) return;  // whole warps leave: shuffles below stay full-warp
  const int lane = threadIdx.x % kWarpSize, Dh = s.head_dim;
  const int64_t kv_col = int64_t(rh.h / s.group) * Dh;
  const float* q_row = q + rh.row * s.q_stride + int64_t(rh.h) * Dh;
  const float* k_b = k + rh.b * s.seq * s.kv_stride + kv_col;
  const float* v_b = v + rh.b * s.seq * s.kv_stride + kv_col;
  const int32_t* keys = lists + rh.row * s.width;
  const int n = warp_list_length(keys, s.width, lane);

  float running_max = kNegInf, running_sum = 0.0f, acc[kDimsPerLane] = {};
  for (int c0 = 0; c0 < n; c0 += kWarpSize) {
    const int j = c0 + lane;
    const int32_t key = j < n ? keys[j] : 0;
    const float x = j < n ? s.scale * row_dot(q_row, k_b + key * s.kv_stride, Dh) : kNegInf;
    const float new_max = fmaxf(running_max, warp_max(x));  // finite: the chunk has a key
    const float correction = expf(running_max - new_max);   // 0 on the first chunk
    const float p = j < n ? expf(x - new_max) : 0.0f;
    running_sum = running_sum * correction + warp_sum(p);
    running_max = new_max;
#pragma unroll
    for (int m = 0; m < kDimsPerLane; ++m) acc[m] *= correction;
    const int chunk = min(kWarpSize, n - c0);
    for (int jj = 0; jj < chunk; ++jj) {
      const float p_j = __shfl_sync(kFullWarpMask, p, jj);
      const float* v_row = v_b + __shfl_sync(kFullWarpMask, key, jj) * s.kv_stride;
#pragma unroll
      for (int m = 0; m < kDimsPerLane; ++m) {
        const int d = lane + kWarpSize * m;
        if (d < Dh) acc[m] = fmaf(p_j, v_row[d], acc[m]);
      }
    }
  }
  const float inv_sum = n > 0 ? 1.0f / running_sum : 0.0f;
  float* out_row = out + (rh.row * s.heads + rh.h) * Dh;
#pragma unroll
  for (int m = 0; m < kDimsPerLane; ++m) {
    const int d = lane + kWarpSize * m;
    if (d < Dh) out_row[d] = acc[m] * inv_sum;
  }
  if (lane == 0)
    lse[(rh.b * s.heads + rh.h) * s.seq + rh.t] =
        n > 0 ? running_max + logf(running_sum) : kNegInf;
}

// Backward, per query. grid ceil(B*T*H / 4), block kThreads.
//   dout, out [B, T, H, Dh];  lse [B, H, T];  q, k, v, lists as in the forward
//   dq [B, T, q_stride] (head h's columns, overwritten)
//   probs, dscores [B, T, width, H]: P and dS of every list slot (slots past n_t untouched)
__global__ void __launch_bounds__(kThreads)
    sparse_dq_kernel(float* __restrict__ dq, float* __restrict__ probs,
                     float* __restrict__ dscores, const float* __restrict__ dout,
                     const float* __restrict__ out, const float* __restrict__ lse,
                     const float* __restrict__ q, const float* __restrict__ k,
                     const float* __restrict__ v, const int32_t* __restrict__ lists,
                     SparseDims s) {
  RowHead rh;
  if (!row_head_of_warp(rh, s)) return;
  const int lane = threadIdx.x % kWarpSize, Dh = s.head_dim;
  const int64_t kv_col = int64_t(rh.h / s.group) * Dh;
  const float* q_row = q + rh.row * s.q_stride + int64_t(rh.h) * Dh;
  const float* dout_row = dout + (rh.row * s.heads + rh.h) * Dh;
  const float* out_row = out + (rh.row * s.heads + rh.h) * Dh;
  const float* k_b = k + rh.b * s.seq * s.kv_stride + kv_col;
  const float* v_b = v + rh.b * s.seq * s.kv_stride + kv_col;
  const int32_t* keys = lists + rh.row * s.width;
  const int n = warp_list_length(keys, s.width, lane);

  float delta = 0.0f;
  for (int d = lane; d < Dh; d += kWarpSize) delta = fmaf(dout_row[d], out_row[d], delta);
  delta = warp_sum(delta);
  const float lse_th = lse[(rh.b * s.heads + rh.h) * s.seq + rh.t];

  float acc[kDimsPerLane] = {};
  for (int c0 = 0; c0 < n; c0 += kWarpSize) {
    const int j = c0 + lane;
    const int32_t key = j < n ? keys[j] : 0;
    float ds = 0.0f;
    if (j < n) {
      const float p = expf(s.scale * row_dot(q_row, k_b + key * s.kv_stride, Dh) - lse_th);
      const float dp = row_dot(dout_row, v_b + key * s.kv_stride, Dh);
      ds = p * (dp - delta);
      const int64_t pair = (rh.row * s.width + j) * s.heads + rh.h;
      probs[pair] = p;
      dscores[pair] = ds;
    }
    const int chunk = min(kWarpSize, n - c0);
    for (int jj = 0; jj < chunk; ++jj) {
      const float ds_j = s.scale * __shfl_sync(kFullWarpMask, ds, jj);
      const float* k_row = k_b + __shfl_sync(kFullWarpMask, key, jj) * s.kv_stride;
#pragma unroll
      for (int m = 0; m < kDimsPerLane; ++m) {
        const int d = lane + kWarpSize * m;
        if (d < Dh) acc[m] = fmaf(ds_j, k_row[d], acc[m]);
      }
    }
  }
  float* dq_row = dq + rh.row * s.q_stride + int64_t(rh.h) * Dh;
#pragma unroll
  for (int m = 0; m < kDimsPerLane; ++m) {
    const int d = lane + kWarpSize * m;
    if (d < Dh) dq_row[d] = acc[m];
  }
}

// Backward, per key. grid ceil(B*T*Hkv / 4), block kThreads; one warp per (key row, kv head g).
//   offsets [B, T + 1], slots [B, T*width] (transposed lists);  probs, dscores [B, T, width, H]
//   q [B, T, q_stride];  dout [B, T, H, Dh]
//   dk, dv [B, T, kv_stride] (kv head g's columns, overwritten; 0 for keys in no list)
__global__ void __launch_bounds__(kThreads)
    sparse_dkdv_kernel(float* __restrict__ dk, float* __restrict__ dv,
                       const int32_t* __restrict__ offsets, const int32_t* __restrict__ slots,
                       const float* __restrict__ probs, const float* __restrict__ dscores,
                       const float* __restrict__ q, const float* __restrict__ dout,
                       SparseDims s) {
  const int kv_heads = s.heads / s.group;
  const int64_t pair = int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / kWarpSize;
  if (pair >= s.batch * s.seq * kv_heads) return;
  const int64_t key_row = pair / kv_heads, b = key_row / s.seq, key = key_row % s.seq;
  const int g = int(pair % kv_heads), lane = threadIdx.x % kWarpSize, Dh = s.head_dim;
  const int32_t* offsets_b = offsets + b * (s.seq + 1);
  const int32_t* slots_b = slots + b * s.seq * s.width;

  float dk_acc[kDimsPerLane] = {}, dv_acc[kDimsPerLane] = {};
  for (int32_t e = offsets_b[key]; e < offsets_b[key + 1]; ++e) {
    const int64_t slot = slots_b[e];                 // t * width + j, in increasing t
    const int64_t row = b * s.seq + slot / s.width;  // the query row that listed this key
    const int64_t pair_base = (b * s.seq * s.width + slot) * s.heads;
    for (int h = g * s.group; h < (g + 1) * s.group; ++h) {
      const float ds = s.scale * dscores[pair_base + h], p = probs[pair_base + h];
      const float* q_row = q + row * s.q_stride + int64_t(h) * Dh;
      const float* dout_row = dout + (row * s.heads + h) * Dh;
#pragma unroll
      for (int m = 0; m < kDimsPerLane; ++m) {
        const int d = lane + kWarpSize * m;
        if (d < Dh) {
          dk_acc[m] = fmaf(ds, q_row[d], dk_acc[m]);
          dv_acc[m] = fmaf(p, dout_row[d], dv_acc[m]);
        }
      }
    }
  }
  const int64_t at = key_row * s.kv_stride + int64_t(g) * Dh;
#pragma unroll
  for (int m = 0; m < kDimsPerLane; ++m) {
    const int d = lane + kWarpSize * m;
    if (d < Dh) {
      dk[at + d] = dk_acc[m];
      dv[at + d] = dv_acc[m];
    }
  }
}

// ---- host side --------------------------------------------------------------------------------

// Workspace: [error record][P: B*T*width*H floats][dS: the same][transposed lists].
struct SparseLayout {
  size_t pair_bytes, lists_bytes;
  size_t probs_offset() const { return kErrorRegionBytes; }
  size_t dscores_offset() const { return kErrorRegionBytes + pair_bytes; }
  size_t lists_offset() const { return kErrorRegionBytes + 2 * pair_bytes; }
  size_t total() const { return lists_offset() + lists_bytes; }
};

SparseLayout layout_of(const AttentionShape& s, int64_t width) {
  return {round_up_256(size_t(s.batch * s.seq * width * s.heads) * sizeof(float)),
          transposed_lists_bytes(s.batch, s.seq, width)};
}

void check_shape(const Context& ctx, const AttentionShape& s, const ops::IndexLists& lists,
                 const char* op) {
  DSA_CHECK(s.kv_heads > 0 && s.heads % s.kv_heads == 0, "op ", op, ": heads ", s.heads,
            " must be a multiple of kv_heads ", s.kv_heads);
  DSA_CHECK(s.head_dim >= 1 && s.head_dim <= kMaxHeadDim, "op ", op, ": head_dim ", s.head_dim,
            " is not supported by the CUDA twin (1 ... ", kMaxHeadDim, ")");
  DSA_CHECK(s.batch >= 0 && s.seq >= 0 && s.seq <= INT32_MAX, "op ", op, ": shape [B=", s.batch,
            ", T=", s.seq, "] is outside the CUDA twin's limits");
  require_workspace(ctx, layout_of(s, lists.width).total(), op, s.batch, s.seq);
  check_index_lists(ctx, lists, s.batch, s.seq, op);
}

SparseDims dims_of(const AttentionShape& s, int64_t width) {
  return {s.batch,          s.seq,       width,       int(s.heads),
          int(s.heads / s.kv_heads), int(s.head_dim), s.q_stride, s.kv_stride,
          1.0f / std::sqrt(float(s.head_dim))};
}

unsigned blocks_for_warps(int64_t warps) {
  return static_cast<unsigned>(ceil_div(warps, kWarpsPerBlock));
}

}  // namespace

size_t sparse_attention_workspace(const AttentionShape& shape, int64_t list_width) {
  return layout_of(shape, list_width).total();
}

void sparse_attention_forward(const Context& ctx, float* out, float* lse, const float* q,
                              const float* k, const float* v, const ops::IndexLists& lists,
                              const AttentionShape& s) {
  check_shape(ctx, s, lists, "sparse_attention_forward");
  if (s.batch == 0 || s.seq == 0) return;
  const SparseDims dims = dims_of(s, lists.width);
  launch<sparse_forward_kernel>({blocks_for_warps(s.batch * s.seq * s.heads), kThreads, 0,
                          stream_of(ctx)}, out, lse, q, k, v, lists.indices, dims);
  DSA_LAUNCH_CHECK("sparse_forward_kernel", "B=", s.batch, " T=", s.seq, " H=", s.heads,
                   " Hkv=", s.kv_heads, " Dh=", s.head_dim, " k=", lists.width);
}

void sparse_attention_backward(const Context& ctx, float* dq, float* dk, float* dv,
                               const float* dout, const float* out, const float* lse,
                               const float* q, const float* k, const float* v,
                               const ops::IndexLists& lists, const AttentionShape& s) {
  check_shape(ctx, s, lists, "sparse_attention_backward");
  if (s.batch == 0 || s.seq == 0) return;
  const SparseDims dims = dims_of(s, lists.width);
  const SparseLayout layout = layout_of(s, lists.width);
  char* base = static_cast<char*>(ctx.workspace);
  float* probs = reinterpret_cast<float*>(base + layout.probs_offset());
  float* dscores = reinterpret_cast<float*>(base + layout.dscores_offset());
  const TransposedLists by_key = transposed_lists_at(base + layout.lists_offset(), s.batch, s.seq,
                                                      lists.width);

  launch<sparse_dq_kernel>({blocks_for_warps(s.batch * s.seq * s.heads), kThreads, 0, stream_of(ctx)},
      dq, probs, dscores, dout, out, lse, q, k, v, lists.indices, dims);
  DSA_LAUNCH_CHECK("sparse_dq_kernel", "B=", s.batch, " T=", s.seq, " H=", s.heads, " Hkv=",
                   s.kv_heads, " Dh=", s.head_dim, " k=", lists.width);
  build_transposed_lists(ctx, by_key, lists, s.batch, s.seq);
  launch<sparse_dkdv_kernel>({blocks_for_warps(s.batch * s.seq * s.kv_heads), kThreads, 0,
                       stream_of(ctx)}, dk, dv, by_key.offsets, by_key.slots, probs, dscores, q,
                                         dout, dims);
  DSA_LAUNCH_CHECK("sparse_dkdv_kernel", "B=", s.batch, " T=", s.seq, " H=", s.heads, " Hkv=",
                   s.kv_heads, " Dh=", s.head_dim, " k=", lists.width);
}

}  // namespace dsa::DSA_CUDA_TWIN
