// SwiGLU over the fused gate|up product (contract: ops/swiglu.h), fp32.
// One warp per row; lanes walk the hidden columns, kVec at a time (kVec = 4 when hidden % 4 == 0
// and the bases are 16-byte aligned, so the gate, up and output rows all stay aligned). Purely
// elementwise: each output element is written by one thread, nothing is accumulated.
// sigmoid uses IEEE expf and division (the CPU float twin uses a polynomial exp_fast: the two
// agree to a few 1e-7, see tests/test_cuda_ops.cpp).
#include "check.cuh"
#include "cuda_ops.h"
#include "kernel_util.cuh"

namespace dsa::DSA_CUDA_TWIN {
namespace {

constexpr int kSwiGluThreads = 256;  // 8 warps: one row each

__device__ __forceinline__ float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

// out [rows, hidden]; gate_up [rows, 2*hidden] (gate | up)
template <int kVec>
__global__ void __launch_bounds__(kSwiGluThreads)
    swiglu_forward_kernel(float* __restrict__ out, const float* __restrict__ gate_up, int64_t rows,
                          int64_t hidden) {
  const WarpPosition pos = warp_position();
  for (int64_t row = pos.warp; row < rows; row += pos.warp_count) {
    const float* gate = gate_up + row * 2 * hidden;
    const float* up = gate + hidden;
    float* y = out + row * hidden;
    for (int64_t col = int64_t(pos.lane) * kVec; col < hidden; col += kWarpSize * kVec) {
      float g[kVec], u[kVec], ys[kVec];
      load_vec<kVec>(g, gate + col);
      load_vec<kVec>(u, up + col);
#pragma unroll
      for (int k = 0; k < kVec; ++k) ys[k] = g[k] * sigmoid(g[k]) * u[k];
      store_vec<kVec>(y + col, ys);
    }
  }
}

// dgate_up [rows, 2*hidden] (written); dout [rows, hidden]; gate_up [rows, 2*hidden]
template <int kVec>
__global__ void __launch_bounds__(kSwiGluThreads)
    swiglu_backward_kernel(float* __restrict__ dgate_up, const float* __restrict__ dout,
                           const float* __restrict__ gate_up, int64_t rows, int64_t hidden) {
  const WarpPosition pos = warp_position();
  for (int64_t row = pos.warp; row < rows; row += pos.warp_count) {
    const float* gate = gate_up + row * 2 * hidden;
    const float* up = gate + hidden;
    const float* dy = dout + row * hidden;
    float* dgate = dgate_up + row * 2 * hidden;
    float* dup = dgate + hidden;
    for (int64_t col = int64_t(pos.lane) * kVec; col < hidden; col += kWarpSize * kVec) {
      float g[kVec], u[kVec], dys[kVec], dg[kVec], du[kVec];
      load_vec<kVec>(g, gate + col);
      load_vec<kVec>(u, up + col);
      load_vec<kVec>(dys, dy + col);
#pragma unroll
      for (int k = 0; k < kVec; ++k) {
        const float sig = sigmoid(g[k]);
        const float silu = g[k] * sig;
        du[k] = dys[k] * silu;
        dg[k] = dys[k] * u[k] * sig * (1.0f + g[k] * (1.0f - sig));
      }
      store_vec<kVec>(dgate + col, dg);
      store_vec<kVec>(dup + col, du);
    }
  }
}

}  // namespace

void swiglu_forward(const Context& ctx, float* out, const float* gate_up, int64_t rows,
                    int64_t hidden) {
  if (rows == 0 || hidden == 0) return;
  const unsigned grid = grid_for(rows, kSwiGluThreads / kWarpSize);
  if (hidden % 4 == 0 && aligned16(out) && aligned16(gate_up)) {
    launch<swiglu_forward_kernel<4>>({grid, kSwiGluThreads, 0, stream_of(ctx)}, out, gate_up, rows, hidden);
  } else {
    launch<swiglu_forward_kernel<1>>({grid, kSwiGluThreads, 0, stream_of(ctx)}, out, gate_up, rows, hidden);
  }
  DSA_LAUNCH_CHECK("swiglu_forward_kernel", "rows ", rows, " hidden ", hidden);
}

void swiglu_backward(const Context& ctx, float* dgate_up, const float* dout, const float* gate_up,
                     int64_t rows, int64_t hidden) {
  if (rows == 0 || hidden == 0) return;
  const unsigned grid = grid_for(rows, kSwiGluThreads / kWarpSize);
  if (hidden % 4 == 0 && aligned16(dgate_up) && aligned16(dout) && aligned16(gate_up)) {
    launch<swiglu_backward_kernel<4>>({grid, kSwiGluThreads, 0, stream_of(ctx)}, dgate_up, dout, gate_up, rows, hidden);
  } else {
    launch<swiglu_backward_kernel<1>>({grid, kSwiGluThreads, 0, stream_of(ctx)}, dgate_up, dout, gate_up, rows, hidden);
  }
  DSA_LAUNCH_CHECK("swiglu_backward_kernel", "rows ", rows, " hidden ", hidden);
}

}  // namespace dsa::DSA_CUDA_TWIN
