// RMSNorm over the last dimension (contract: ops/rmsnorm.h), fp32 with fp32 statistics.
// Forward and the input gradient: one warp per row (a row of d_model floats is a few KiB: 32 lanes
// with 16-byte accesses cover it in a few steps, and a warp needs no block barrier); every lane
// sums its columns in order, then the xor butterfly: fixed order, same bits every run.
// Weight gradient without atomics: each block sums a fixed chunk of kRowsPerChunk rows for 128
// columns into ctx.workspace (partials [chunks, dim]); a second kernel adds the chunks in
// a fixed order onto dweight. The partition depends only on the shapes.
#include "check.cuh"
#include "cuda_ops.h"
#include "kernel_util.cuh"

namespace dsa::DSA_CUDA_TWIN {
namespace {

constexpr int kRowThreads = 256;               // 8 warps: one row each
constexpr int kWeightGradColumns = 128;        // threads of the partial-sum block: one column each
constexpr int64_t kRowsPerChunk = 32;          // rows summed by one partial-sum block
constexpr int kChunkGroups = 8;                // warps of the chunk-sum block: each sums every 8th chunk
constexpr int kChunkSumThreads = kChunkGroups * kWarpSize;  // a block covers 32 columns

// out [rows, dim], rstd [rows], in [rows, dim], weight [dim]
template <int kVec>
__global__ void __launch_bounds__(kRowThreads)
    rmsnorm_forward_kernel(float* __restrict__ out, float* __restrict__ rstd,
                           const float* __restrict__ in, const float* __restrict__ weight,
                           int64_t rows, int64_t dim, float eps) {
  const WarpPosition pos = warp_position();
  for (int64_t row = pos.warp; row < rows; row += pos.warp_count) {
    const float* x = in + row * dim;
    float sum_sq = 0.0f;
    for (int64_t col = int64_t(pos.lane) * kVec; col < dim; col += kWarpSize * kVec) {
      float xs[kVec];
      load_vec<kVec>(xs, x + col);
#pragma unroll
      for (int k = 0; k < kVec; ++k) sum_sq += xs[k] * xs[k];
    }
    sum_sq = warp_sum(sum_sq);
    // IEEE sqrt and division (no rsqrtf): the CPU twin's 1 / sqrt(mean + eps).
    const float inv_rms = 1.0f / sqrtf(sum_sq / float(dim) + eps);
    if (pos.lane == 0) rstd[row] = inv_rms;
    float* y = out + row * dim;
    for (int64_t col = int64_t(pos.lane) * kVec; col < dim; col += kWarpSize * kVec) {
      float xs[kVec], ws[kVec], ys[kVec];
      load_vec<kVec>(xs, x + col);  // second read of the row: an L1/L2 hit
      load_vec<kVec>(ws, weight + col);
#pragma unroll
      for (int k = 0; k < kVec; ++k) ys[k] = xs[k] * inv_rms * ws[k];
      store_vec<kVec>(y + col, ys);
    }
  }
}

// din += rstd * (dout*weight - xhat * mean(dout*weight*xhat)), xhat = in * rstd.
// din, dout, in [rows, dim]; weight [dim]; rstd [rows]
template <int kVec>
__global__ void __launch_bounds__(kRowThreads)
    rmsnorm_input_grad_kernel(float* __restrict__ din, const float* __restrict__ dout,
                              const float* __restrict__ in, const float* __restrict__ weight,
                              const float* __restrict__ rstd, int64_t rows, int64_t dim) {
  const WarpPosition pos = warp_position();
  for (int64_t row = pos.warp; row < rows; row += pos.warp_count) {
    const float* x = in + row * dim;
    const float* dy = dout + row * dim;
    float dot = 0.0f;  // sum_d dy * w * x
    for (int64_t col = int64_t(pos.lane) * kVec; col < dim; col += kWarpSize * kVec) {
      float xs[kVec], dys[kVec], ws[kVec];
      load_vec<kVec>(xs, x + col);
      load_vec<kVec>(dys, dy + col);
      load_vec<kVec>(ws, weight + col);
#pragma unroll
      for (int k = 0; k < kVec; ++k) dot += dys[k] * ws[k] * xs[k];
    }
    dot = warp_sum(dot);
    const float inv_rms = rstd[row];
    const float mean_gy_xhat = dot * inv_rms / float(dim);
    float* dx = din + row * dim;
    for (int64_t col = int64_t(pos.lane) * kVec; col < dim; col += kWarpSize * kVec) {
      float xs[kVec], dys[kVec], ws[kVec], dxs[kVec];
      load_vec<kVec>(xs, x + col);
      load_vec<kVec>(dys, dy + col);
      load_vec<kVec>(ws, weight + col);
      load_vec<kVec>(dxs, dx + col);
#pragma unroll
      for (int k = 0; k < kVec; ++k)
        dxs[k] += inv_rms * (dys[k] * ws[k] - xs[k] * inv_rms * mean_gy_xhat);
      store_vec<kVec>(dx + col, dxs);
    }
  }
}

// partials[chunk, d] = sum over the chunk's rows n, in increasing n, of dout[n, d] * in[n, d] * rstd[n].
// Block (x: chunk of kRowsPerChunk rows, y: tile of kWeightGradColumns columns); one column per thread,
// so a warp reads 128 contiguous bytes of each row.
// partials [chunks, dim]; dout, in [rows, dim]; rstd [rows]
__global__ void __launch_bounds__(kWeightGradColumns)
    rmsnorm_weight_grad_partial_kernel(float* __restrict__ partials, const float* __restrict__ dout,
                                       const float* __restrict__ in, const float* __restrict__ rstd,
                                       int64_t rows, int64_t dim) {
  const int64_t chunk = blockIdx.x;
  const int64_t col = int64_t(blockIdx.y) * kWeightGradColumns + threadIdx.x;
  if (col >= dim) return;
  const int64_t first = chunk * kRowsPerChunk;
  const int64_t last = std::min<int64_t>(rows, first + kRowsPerChunk);
  float acc = 0.0f;
#pragma unroll 8
  for (int64_t n = first; n < last; ++n) acc += dout[n * dim + col] * in[n * dim + col] * rstd[n];
  partials[chunk * dim + col] = acc;
}

// dweight[d] += sum over chunks of partials[c, d]: thread (group g, lane) sums the chunks
// c = g, g + kChunkGroups, ... in increasing c for column tile*32 + lane; then group 0 adds the
// kChunkGroups group sums in increasing g. A fixed tree: the same bits on every run.
// dweight [dim]; partials [chunks, dim]
__global__ void __launch_bounds__(kChunkSumThreads)
    rmsnorm_weight_grad_sum_kernel(float* __restrict__ dweight, const float* __restrict__ partials,
                                   int64_t chunks, int64_t dim) {
  DSA_SHARED(float[kChunkGroups][kWarpSize], group_sums);
  const int lane = threadIdx.x % kWarpSize, group = threadIdx.x / kWarpSize;
  const int64_t col = int64_t(blockIdx.x) * kWarpSize + lane;
  float acc = 0.0f;
  if (col < dim) {
#pragma unroll 4
    for (int64_t c = group; c < chunks; c += kChunkGroups) acc += partials[c * dim + col];
  }
  group_sums[group][lane] = acc;
  __syncthreads();
  if (group == 0 && col < dim) {
    float total = group_sums[0][lane];
#pragma unroll
    for (int g = 1; g < kChunkGroups; ++g) total += group_sums[g][lane];
    dweight[col] += total;
  }
}

size_t weight_grad_bytes(int64_t rows, int64_t dim) {
  return round_up_256(size_t(ceil_div(rows, kRowsPerChunk)) * size_t(dim) * sizeof(float));
}

}  // namespace

size_t rmsnorm_workspace(const ops::WorkspaceQuery& query) {
  return weight_grad_bytes(query.rows, query.max_dim);
}

void rmsnorm_forward(const Context& ctx, float* out, float* rstd, const float* in,
                     const float* weight, int64_t rows, int64_t dim, double eps) {
  if (rows == 0) return;
  const unsigned grid = grid_for(rows, kRowThreads / kWarpSize);
  // eps rounded to float first, as the CPU twin's T(eps).
  if (dim % 4 == 0 && aligned16(out) && aligned16(in) && aligned16(weight)) {
    launch<rmsnorm_forward_kernel<4>>({grid, kRowThreads, 0, stream_of(ctx)}, out, rstd, in, weight, rows, dim, float(eps));
  } else {
    launch<rmsnorm_forward_kernel<1>>({grid, kRowThreads, 0, stream_of(ctx)}, out, rstd, in, weight, rows, dim, float(eps));
  }
  DSA_LAUNCH_CHECK("rmsnorm_forward_kernel", "rows ", rows, " dim ", dim);
}

void rmsnorm_backward(const Context& ctx, float* din, float* dweight, const float* dout,
                      const float* in, const float* weight, const float* rstd, int64_t rows,
                      int64_t dim) {
  if (rows == 0 || dim == 0) return;
  const size_t needed = weight_grad_bytes(rows, dim);
  DSA_CHECK(ctx.workspace != nullptr && ctx.workspace_bytes >= needed, "op rmsnorm_backward: ctx.workspace holds ",
            ctx.workspace_bytes, " bytes, the weight-gradient partials of rows ", rows, " dim ", dim, " need ",
            needed, " (cuda::rmsnorm_workspace)");
  const cudaStream_t stream = stream_of(ctx);
  const unsigned grid = grid_for(rows, kRowThreads / kWarpSize);
  if (dim % 4 == 0 && aligned16(din) && aligned16(dout) && aligned16(in) && aligned16(weight)) {
    launch<rmsnorm_input_grad_kernel<4>>({grid, kRowThreads, 0, stream}, din, dout, in, weight, rstd, rows, dim);
  } else {
    launch<rmsnorm_input_grad_kernel<1>>({grid, kRowThreads, 0, stream}, din, dout, in, weight, rstd, rows, dim);
  }
  DSA_LAUNCH_CHECK("rmsnorm_input_grad_kernel", "rows ", rows, " dim ", dim);

  float* partials = static_cast<float*>(ctx.workspace);
  const int64_t chunks = ceil_div(rows, kRowsPerChunk);
  const int64_t column_tiles = ceil_div(dim, kWeightGradColumns);
  DSA_CHECK(column_tiles <= kMaxGridYZ, "op rmsnorm_backward: dim ", dim, " exceeds the grid's y extent");
  const dim3 partial_grid{unsigned(chunks), unsigned(column_tiles)};
  launch<rmsnorm_weight_grad_partial_kernel>({partial_grid, kWeightGradColumns, 0, stream}, partials, dout, in, rstd, rows, dim);
  DSA_LAUNCH_CHECK("rmsnorm_weight_grad_partial_kernel", "rows ", rows, " dim ", dim, " chunks ", chunks);
  launch<rmsnorm_weight_grad_sum_kernel>({unsigned(ceil_div(dim, kWarpSize)), kChunkSumThreads, 0, stream},
      dweight, partials, chunks, dim);
  DSA_LAUNCH_CHECK("rmsnorm_weight_grad_sum_kernel", "dim ", dim, " chunks ", chunks);
}

}  // namespace dsa::DSA_CUDA_TWIN
