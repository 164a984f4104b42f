// Rotary position embedding, half-split pairing, in place (contract: ops/rope.h), fp32.
// One warp per (batch, position) row; its lanes walk the row's heads x pairs, kVec consecutive
// pairs per step (kVec = 4 when the pairs, the head stride, the row stride and all three bases
// keep 16-byte alignment: a strided view inside the fused QKV buffer usually does). Each pair is
// read and written by one thread: no two threads touch the same element.
// Backward = the same kernel with the sine negated (a rotation's transpose is its inverse).
#include "check.cuh"
#include "cuda_ops.h"
#include "kernel_util.cuh"

namespace dsa::DSA_CUDA_TWIN {
namespace {

constexpr int kRopeThreads = 256;  // 8 warps: one (batch, position) row each

// x: element (b, t, h, d) at x[(b*seq + t) * row_stride + h * head_dim + d], rows = batch * seq;
// cos, sin [seq, half] (half = rot_dims / 2); sign = +1 forward, -1 backward.
template <int kVec>
__global__ void __launch_bounds__(kRopeThreads)
    rope_rotate_kernel(float* __restrict__ x, const float* __restrict__ cos_table,
                       const float* __restrict__ sin_table, int64_t rows, int64_t seq, int heads,
                       int64_t head_dim, int half, int64_t row_stride, float sign) {
  const int groups_per_head = half / kVec;  // kVec == 4 only when half % 4 == 0
  const int groups_per_row = heads * groups_per_head;
  const WarpPosition pos = warp_position();
  for (int64_t row = pos.warp; row < rows; row += pos.warp_count) {
    const int64_t t = row % seq;
    const float* c_row = cos_table + t * half;
    const float* s_row = sin_table + t * half;
    float* x_row = x + row * row_stride;
    for (int group = pos.lane; group < groups_per_row; group += kWarpSize) {
      const int head = group / groups_per_head;
      const int i = (group - head * groups_per_head) * kVec;  // first pair of this group
      float* lo = x_row + head * head_dim + i;
      float* hi = lo + half;
      float a[kVec], b[kVec], c[kVec], s[kVec];
      load_vec<kVec>(a, lo);
      load_vec<kVec>(b, hi);
      load_vec<kVec>(c, c_row + i);
      load_vec<kVec>(s, s_row + i);
#pragma unroll
      for (int k = 0; k < kVec; ++k) {
        const float sn = sign * s[k];
        const float a_k = a[k], b_k = b[k];
        a[k] = a_k * c[k] - b_k * sn;
        b[k] = a_k * sn + b_k * c[k];
      }
      store_vec<kVec>(lo, a);
      store_vec<kVec>(hi, b);
    }
  }
}

void rope_rotate(const Context& ctx, float* x, const float* cos, const float* sin, int64_t batch,
                 int64_t seq, int64_t heads, int64_t head_dim, int64_t rot_dims,
                 int64_t row_stride, float sign, const char* op) {
  DSA_CHECK(rot_dims % 2 == 0 && rot_dims <= head_dim, "op ", op, ": rot_dims ", rot_dims,
            " must be even and <= head_dim ", head_dim);
  DSA_CHECK(heads * (rot_dims / 2) < (int64_t{1} << 31), "op ", op, ": heads ", heads, " x pairs ",
            rot_dims / 2, " per row must fit in int32");
  const int64_t rows = batch * seq;
  const int half = int(rot_dims / 2);
  if (rows == 0 || heads == 0 || half == 0) return;
  const unsigned grid = grid_for(rows, kRopeThreads / kWarpSize);
  const bool vectorizable = half % 4 == 0 && head_dim % 4 == 0 && row_stride % 4 == 0 &&
                            aligned16(x) && aligned16(cos) && aligned16(sin);
  if (vectorizable) {
    launch<rope_rotate_kernel<4>>({grid, kRopeThreads, 0, stream_of(ctx)}, x, cos, sin, rows, seq, int(heads), head_dim,
                                                                     half, row_stride, sign);
  } else {
    launch<rope_rotate_kernel<1>>({grid, kRopeThreads, 0, stream_of(ctx)}, x, cos, sin, rows, seq, int(heads), head_dim,
                                                                     half, row_stride, sign);
  }
  DSA_LAUNCH_CHECK("rope_rotate_kernel", op, " batch ", batch, " seq ", seq, " heads ", heads, " head_dim ",
                   head_dim, " rot_dims ", rot_dims, " row_stride ", row_stride);
}

}  // namespace

void rope_forward(const Context& ctx, float* x, const float* cos, const float* sin, int64_t batch,
                  int64_t seq, int64_t heads, int64_t head_dim, int64_t rot_dims,
                  int64_t row_stride) {
  rope_rotate(ctx, x, cos, sin, batch, seq, heads, head_dim, rot_dims, row_stride, 1.0f, "rope_forward");
}

void rope_backward(const Context& ctx, float* x, const float* cos, const float* sin,
                   int64_t batch, int64_t seq, int64_t heads, int64_t head_dim, int64_t rot_dims,
                   int64_t row_stride) {
  rope_rotate(ctx, x, cos, sin, batch, seq, heads, head_dim, rot_dims, row_stride, -1.0f, "rope_backward");
}

}  // namespace dsa::DSA_CUDA_TWIN
