// Helpers shared by the memory-bound kernels (embedding, rmsnorm, rope, swiglu, residual,
// cross_entropy, adamw): vector loads through register arrays, warp and block sums in a fixed
// order (deterministic), grid sizing for grid-stride loops.
#pragma once

#include <algorithm>
#include <cstdint>

#include "check.cuh"
#include "cuda_ops.h"

namespace dsa::DSA_CUDA_TWIN {

constexpr int kWarpSize = 32;
constexpr unsigned kFullWarpMask = 0xffffffffu;
// gridDim.y and gridDim.z may not exceed this (CUDA's limit; gridDim.x goes to 2^31 - 1).
constexpr int64_t kMaxGridYZ = 65535;
// Dynamic shared memory a kernel may use without cudaFuncSetAttribute (CUDA's default limit).
constexpr size_t kDefaultDynamicShared = 48 * 1024;
// Resident 256-thread blocks per SM that fill it (2048 threads); grid-stride loops cover the rest.
constexpr int kBlocksPerSm = 8;

// ---- host side ---------------------------------------------------------------------------------

inline cudaStream_t stream_of(const Context& ctx) { return static_cast<cudaStream_t>(ctx.stream); }

inline bool aligned16(const void* pointer) {
  return reinterpret_cast<uintptr_t>(pointer) % 16 == 0;
}

__host__ __device__ constexpr int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Bytes rounded up to 256, the alignment of every region carved from ctx.workspace.
inline size_t round_up_256(size_t bytes) { return (bytes + 255) / 256 * 256; }

inline int sm_count() {
  int device = 0, count = 0;
  DSA_CUDA_CHECK(cudaGetDevice(&device), "current device");
  DSA_CUDA_CHECK(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device),
                 "multiprocessor count of device ", device);
  return count;
}

// Blocks for a grid-stride loop over `items` work items, `items_per_block` per block per step:
// enough to fill the GPU, never more than the work needs, at least 1. Only elementwise and per-row
// work is sized this way: every reduction's partition is fixed by the shapes alone.
inline unsigned grid_for(int64_t items, int64_t items_per_block) {
  const int64_t needed = ceil_div(std::max<int64_t>(items, 1), items_per_block);
  const int64_t resident = int64_t(sm_count()) * kBlocksPerSm;
  return static_cast<unsigned>(std::min(needed, resident));
}

// Raises a kernel's dynamic shared-memory limit to `bytes` when it is above the default.
template <class Kernel>
void allow_dynamic_shared(Kernel kernel, size_t bytes, const char* name) {
  if (bytes <= kDefaultDynamicShared) return;
  DSA_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                      static_cast<int>(bytes)),
                 name, " dynamic shared memory of ", bytes, " bytes");
}

// ---- device side -------------------------------------------------------------------------------

// kVec consecutive floats through one 16-byte access (kVec = 4; the caller checked alignment) or
// one scalar access (kVec = 1), into a register array indexed only by unrolled constants.
template <int kVec>
__device__ __forceinline__ void load_vec(float (&dst)[kVec], const float* src) {
  static_assert(kVec == 1 || kVec == 4, "vector width is 1 or 4 floats");
  if constexpr (kVec == 4) {
    const float4 v = *reinterpret_cast<const float4*>(src);
    dst[0] = v.x, dst[1] = v.y, dst[2] = v.z, dst[3] = v.w;
  } else {
    dst[0] = *src;
  }
}

template <int kVec>
__device__ __forceinline__ void store_vec(float* dst, const float (&src)[kVec]) {
  static_assert(kVec == 1 || kVec == 4, "vector width is 1 or 4 floats");
  if constexpr (kVec == 4) {
    *reinterpret_cast<float4*>(dst) = make_float4(src[0], src[1], src[2], src[3]);
  } else {
    *dst = src[0];
  }
}

// Sum over the 32 lanes by an xor butterfly. Lanes i and i^offset add the same two values (IEEE
// addition is commutative), so every lane ends with the same bits, the same on every run.
template <class T>
__device__ __forceinline__ T warp_sum(T value) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2)
    value += __shfl_xor_sync(kFullWarpMask, value, offset);
  return value;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024) in a fixed tree: per-warp sums,
// then every warp sums the warp totals, so every thread returns the same value. warp_totals is a
// __shared__ T[32]; it is free again when this returns.
template <class T>
__device__ __forceinline__ T block_sum(T value, T* warp_totals) {
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  const int warps = blockDim.x / kWarpSize;
  value = warp_sum(value);
  if (lane == 0) warp_totals[warp] = value;
  __syncthreads();
  T total = lane < warps ? warp_totals[lane] : T(0);
  total = warp_sum(total);
  __syncthreads();  // every warp has read warp_totals before anyone writes it again
  return total;
}

// Warp-per-row kernels: this thread's warp, lane, and the number of warps in the grid.
struct WarpPosition {
  int64_t warp;        // global warp index: the first row this warp handles
  int64_t warp_count;  // warps in the grid: the row stride
  int lane;
};

__device__ __forceinline__ WarpPosition warp_position() {
  const int warps_per_block = blockDim.x / kWarpSize;
  return {int64_t(blockIdx.x) * warps_per_block + threadIdx.x / kWarpSize,
          int64_t(gridDim.x) * warps_per_block, int(threadIdx.x % kWarpSize)};
}

}  // namespace dsa::DSA_CUDA_TWIN
