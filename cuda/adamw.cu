// AdamW and the squared norm (contract: ops/adamw.h), fp32 tensors.
// adamw_update: one fused elementwise pass over param, grad, m, v (read 4, write 3 floats per
// element), 16-byte accesses when all four are 16-byte aligned (the parameter layout starts every
// tensor on a 64-element boundary), the constants rounded to float on the host exactly as the CPU
// twin rounds them.
// sum_squares: deterministic two-stage reduction in double. Stage 1: block c sums chunk c of
// kSumSquaresChunk elements (fixed by n alone, never by the GPU) in a fixed tree into
// ctx.workspace; stage 2: one block sums the partials in a fixed order; the double comes back to
// the host with a stream sync. Products of floats are exact in double.
#include "check.cuh"
#include "cuda_ops.h"
#include "kernel_util.cuh"

namespace dsa::DSA_CUDA_TWIN {
namespace {

constexpr int kAdamWThreads = 256;
constexpr int kSumSquaresThreads = 256;
constexpr int64_t kSumSquaresChunk = 16384;  // elements per partial: 64 per thread of a block
constexpr int kPartialSumThreads = 1024;     // the single block of stage 2

// The hyper-parameters in the float arithmetic of the CPU twin (cpu/adamw.cpp).
struct AdamWConstants {
  float lr, beta1, beta2, one_minus_beta1, one_minus_beta2, eps, decay, scale, inv_bias1, inv_bias2;
};

AdamWConstants constants_of(const ops::AdamWHyper& hp) {
  AdamWConstants k;
  k.lr = float(hp.lr);
  k.beta1 = float(hp.beta1);
  k.beta2 = float(hp.beta2);
  k.one_minus_beta1 = 1.0f - k.beta1;  // T(1) - beta1 in float, as the CPU twin
  k.one_minus_beta2 = 1.0f - k.beta2;
  k.eps = float(hp.eps);
  k.decay = float(hp.weight_decay);
  k.scale = float(hp.grad_scale);
  k.inv_bias1 = float(1.0 / hp.bias1);
  k.inv_bias2 = float(1.0 / hp.bias2);
  return k;
}

__device__ __forceinline__ void adamw_element(float& param, float grad, float& m, float& v,
                                              const AdamWConstants& k) {
  const float g = grad * k.scale;
  m = k.beta1 * m + k.one_minus_beta1 * g;
  v = k.beta2 * v + k.one_minus_beta2 * g * g;
  const float update = (m * k.inv_bias1) / (sqrtf(v * k.inv_bias2) + k.eps);
  param -= k.lr * (update + k.decay * param);
}

// param, grad, m, v [n]
template <int kVec>
__global__ void __launch_bounds__(kAdamWThreads)
    adamw_update_kernel(float* __restrict__ param, const float* __restrict__ grad,
                        float* __restrict__ m, float* __restrict__ v, int64_t n,
                        AdamWConstants k) {
  const int64_t stride = int64_t(gridDim.x) * kAdamWThreads;
  const int64_t first = int64_t(blockIdx.x) * kAdamWThreads + threadIdx.x;
  const int64_t vector_end = n / kVec * kVec;
  for (int64_t i = first * kVec; i < vector_end; i += stride * kVec) {
    float ps[kVec], gs[kVec], ms[kVec], vs[kVec];
    load_vec<kVec>(ps, param + i);
    load_vec<kVec>(gs, grad + i);
    load_vec<kVec>(ms, m + i);
    load_vec<kVec>(vs, v + i);
#pragma unroll
    for (int j = 0; j < kVec; ++j) adamw_element(ps[j], gs[j], ms[j], vs[j], k);
    store_vec<kVec>(param + i, ps);
    store_vec<kVec>(m + i, ms);
    store_vec<kVec>(v + i, vs);
  }
  for (int64_t i = vector_end + first; i < n; i += stride) adamw_element(param[i], grad[i], m[i], v[i], k);
}

// partials[c] = sum over chunk c of x^2 in double. x [n]; partials [ceil(n / kSumSquaresChunk)]
template <int kVec>
__global__ void __launch_bounds__(kSumSquaresThreads)
    sum_squares_partial_kernel(double* __restrict__ partials, const float* __restrict__ x, int64_t n) {
  DSA_SHARED(double[kWarpSize], warp_totals);
  const int64_t chunks = ceil_div(n, kSumSquaresChunk);
  for (int64_t chunk = blockIdx.x; chunk < chunks; chunk += gridDim.x) {
    const int64_t begin = chunk * kSumSquaresChunk;
    const int64_t end = std::min<int64_t>(n, begin + kSumSquaresChunk);
    const int64_t vector_end = begin + (end - begin) / kVec * kVec;  // chunks start on multiples of 4
    double acc = 0.0;
    for (int64_t i = begin + int64_t(threadIdx.x) * kVec; i < vector_end; i += int64_t(kSumSquaresThreads) * kVec) {
      float xs[kVec];
      load_vec<kVec>(xs, x + i);
#pragma unroll
      for (int k = 0; k < kVec; ++k) acc += double(xs[k]) * double(xs[k]);
    }
    for (int64_t i = vector_end + threadIdx.x; i < end; i += kSumSquaresThreads) acc += double(x[i]) * double(x[i]);
    acc = block_sum(acc, warp_totals);
    if (threadIdx.x == 0) partials[chunk] = acc;
  }
}

// result[0] = sum of partials[0 .. count): thread t sums t, t + 1024, ... in order, then a fixed tree.
__global__ void __launch_bounds__(kPartialSumThreads)
    sum_squares_total_kernel(double* __restrict__ result, const double* __restrict__ partials, int64_t count) {
  DSA_SHARED(double[kWarpSize], warp_totals);
  double acc = 0.0;
  for (int64_t i = threadIdx.x; i < count; i += kPartialSumThreads) acc += partials[i];
  acc = block_sum(acc, warp_totals);
  if (threadIdx.x == 0) result[0] = acc;
}

// Workspace: the result (256 bytes reserved) then the partials.
size_t sum_squares_bytes(int64_t n) {
  return 256 + round_up_256(size_t(std::max<int64_t>(ceil_div(n, kSumSquaresChunk), 1)) * sizeof(double));
}

}  // namespace

size_t sum_squares_workspace(const ops::WorkspaceQuery& query) { return sum_squares_bytes(query.max_elements); }

void adamw_update(const Context& ctx, float* param, const float* grad, float* m, float* v,
                  int64_t n, const ops::AdamWHyper& hyper) {
  if (n <= 0) return;
  const AdamWConstants k = constants_of(hyper);
  const bool vectorizable = aligned16(param) && aligned16(grad) && aligned16(m) && aligned16(v);
  const unsigned grid = grid_for(ceil_div(n, vectorizable ? 4 : 1), kAdamWThreads);
  if (vectorizable) {
    launch<adamw_update_kernel<4>>({grid, kAdamWThreads, 0, stream_of(ctx)}, param, grad, m, v, n, k);
  } else {
    launch<adamw_update_kernel<1>>({grid, kAdamWThreads, 0, stream_of(ctx)}, param, grad, m, v, n, k);
  }
  DSA_LAUNCH_CHECK("adamw_update_kernel", "n ", n);
}

double sum_squares(const Context& ctx, const float* x, int64_t n) {
  if (n <= 0) return 0.0;
  const size_t needed = sum_squares_bytes(n);
  DSA_CHECK(ctx.workspace != nullptr && ctx.workspace_bytes >= needed, "op sum_squares: ctx.workspace holds ",
            ctx.workspace_bytes, " bytes, the partials of ", n, " elements need ", needed,
            " (cuda::sum_squares_workspace)");
  const cudaStream_t stream = stream_of(ctx);
  double* result = static_cast<double*>(ctx.workspace);
  double* partials = reinterpret_cast<double*>(static_cast<char*>(ctx.workspace) + 256);
  const int64_t chunks = ceil_div(n, kSumSquaresChunk);
  const unsigned grid = grid_for(chunks, 1);
  if (aligned16(x)) {
    launch<sum_squares_partial_kernel<4>>({grid, kSumSquaresThreads, 0, stream}, partials, x, n);
  } else {
    launch<sum_squares_partial_kernel<1>>({grid, kSumSquaresThreads, 0, stream}, partials, x, n);
  }
  DSA_LAUNCH_CHECK("sum_squares_partial_kernel", "n ", n, " chunks ", chunks);
  launch<sum_squares_total_kernel>({1, kPartialSumThreads, 0, stream}, result, partials, chunks);
  DSA_LAUNCH_CHECK("sum_squares_total_kernel", "chunks ", chunks);
  double total = 0.0;
  DSA_CUDA_CHECK(cudaMemcpyAsync(&total, result, sizeof(double), cudaMemcpyDeviceToHost, stream),
                 "sum_squares result of n ", n);
  DSA_CUDA_CHECK(cudaStreamSynchronize(stream), "sum_squares of n ", n);
  return total;
}

}  // namespace dsa::DSA_CUDA_TWIN
