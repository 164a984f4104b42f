// Residual connection (contract: ops/residual.h), fp32.
// Flat grid-stride loops: 16-byte accesses over the first n/4*4 elements when every pointer is
// 16-byte aligned, then the last n % 4 elements one by one (kVec = 1 does everything one by one).
// No __restrict__: out may alias a (the residual stream updated in place) and da may alias db.
// Each element is read and written by the same thread, so aliasing is safe.
#include "check.cuh"
#include "cuda_ops.h"
#include "kernel_util.cuh"

namespace dsa::DSA_CUDA_TWIN {
namespace {

constexpr int kResidualThreads = 256;

// out, a, b [n]
template <int kVec>
__global__ void __launch_bounds__(kResidualThreads)
    residual_forward_kernel(float* out, const float* a, const float* b, int64_t n) {
  const int64_t stride = int64_t(gridDim.x) * kResidualThreads;
  const int64_t first = int64_t(blockIdx.x) * kResidualThreads + threadIdx.x;
  const int64_t vector_end = n / kVec * kVec;
  for (int64_t i = first * kVec; i < vector_end; i += stride * kVec) {
    float as[kVec], bs[kVec];
    load_vec<kVec>(as, a + i);
    load_vec<kVec>(bs, b + i);
#pragma unroll
    for (int k = 0; k < kVec; ++k) as[k] += bs[k];
    store_vec<kVec>(out + i, as);
  }
  for (int64_t i = vector_end + first; i < n; i += stride) out[i] = a[i] + b[i];
}

// da, db [n] (+=, either may be null); dout [n]
template <int kVec>
__global__ void __launch_bounds__(kResidualThreads)
    residual_backward_kernel(float* da, float* db, const float* dout, int64_t n) {
  const int64_t stride = int64_t(gridDim.x) * kResidualThreads;
  const int64_t first = int64_t(blockIdx.x) * kResidualThreads + threadIdx.x;
  const int64_t vector_end = n / kVec * kVec;
  for (int64_t i = first * kVec; i < vector_end; i += stride * kVec) {
    float d[kVec];
    load_vec<kVec>(d, dout + i);
    if (da != nullptr) {
      float acc[kVec];
      load_vec<kVec>(acc, da + i);
#pragma unroll
      for (int k = 0; k < kVec; ++k) acc[k] += d[k];
      store_vec<kVec>(da + i, acc);
    }
    if (db != nullptr) {
      float acc[kVec];
      load_vec<kVec>(acc, db + i);  // after the da store: correct when db aliases da
#pragma unroll
      for (int k = 0; k < kVec; ++k) acc[k] += d[k];
      store_vec<kVec>(db + i, acc);
    }
  }
  for (int64_t i = vector_end + first; i < n; i += stride) {
    const float d = dout[i];
    if (da != nullptr) da[i] += d;
    if (db != nullptr) db[i] += d;
  }
}

}  // namespace

void residual_forward(const Context& ctx, float* out, const float* a, const float* b, int64_t n) {
  if (n <= 0) return;
  const bool vectorizable = aligned16(out) && aligned16(a) && aligned16(b);
  const int64_t vec = vectorizable ? 4 : 1;
  const unsigned grid = grid_for(ceil_div(n, vec), kResidualThreads);
  if (vectorizable) {
    launch<residual_forward_kernel<4>>({grid, kResidualThreads, 0, stream_of(ctx)}, out, a, b, n);
  } else {
    launch<residual_forward_kernel<1>>({grid, kResidualThreads, 0, stream_of(ctx)}, out, a, b, n);
  }
  DSA_LAUNCH_CHECK("residual_forward_kernel", "n ", n);
}

void residual_backward(const Context& ctx, float* da, float* db, const float* dout, int64_t n) {
  if (n <= 0 || (da == nullptr && db == nullptr)) return;
  const bool vectorizable = aligned16(dout) && (da == nullptr || aligned16(da)) && (db == nullptr || aligned16(db));
  const int64_t vec = vectorizable ? 4 : 1;
  const unsigned grid = grid_for(ceil_div(n, vec), kResidualThreads);
  if (vectorizable) {
    launch<residual_backward_kernel<4>>({grid, kResidualThreads, 0, stream_of(ctx)}, da, db, dout, n);
  } else {
    launch<residual_backward_kernel<1>>({grid, kResidualThreads, 0, stream_of(ctx)}, da, db, dout, n);
  }
  DSA_LAUNCH_CHECK("residual_backward_kernel", "n ", n);
}

}  // namespace dsa::DSA_CUDA_TWIN
