// Device code on the emulated GPU: the CUDA keywords, the built-in variables, and the intrinsics
// the kernels use, as the host compiler sees them. Barriers and warp collectives go through the
// engine (engine.h), which switches fibers there; atomics are plain read-modify-writes (a block's
// threads never run at the same time); math is the host's libm (CUDA's expf and friends differ
// by an ulp or two: precision is something only a real GPU can check).
//
// What a C++ compiler cannot see: `__launch_bounds__` (expanded to nothing; the hardware and
// tools/gpu_check.sh check it), and raw `__shared__`, which would silently make shared memory
// per thread — it is an error here; declare shared memory with DSA_SHARED / DSA_DYNAMIC_SHARED
// (cuda/platform.cuh), which both builds share.
#pragma once
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "engine.h"
#include "types.h"

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __shared__                                                                               \
  _Pragma("GCC error \"raw __shared__ would be per-thread on the emulated device: use DSA_SHARED / DSA_DYNAMIC_SHARED (cuda/platform.cuh)\"")

#define threadIdx (::dsa::emu::this_thread().thread_idx)
#define blockIdx (::dsa::emu::this_thread().block_idx)
#define blockDim (::dsa::emu::this_thread().block_dim)
#define gridDim (::dsa::emu::this_thread().grid_dim)

namespace dsa::emu {

inline constexpr int warpSize = 32;

// ---- barriers and warp collectives ----------------------------------------------------------------

inline void __syncthreads() { block_barrier(BarrierOp::sync, 0); }
inline int __syncthreads_or(int predicate) { return block_barrier(BarrierOp::sync_or, predicate); }
inline int __syncthreads_and(int predicate) { return block_barrier(BarrierOp::sync_and, predicate); }
inline int __syncthreads_count(int predicate) { return block_barrier(BarrierOp::sync_count, predicate); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { warp_collective(WarpOp::syncwarp, mask, 0, 0, warpSize); }
// Memory fences order nothing here: one thread runs at a time and all memory is coherent.
inline void __threadfence() {}
inline void __threadfence_block() {}

namespace detail {
template <class T>
uint64_t to_bits(T value) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= sizeof(uint64_t),
                "warp shuffles move values of up to 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(T));
  return bits;
}
template <class T>
T from_bits(uint64_t bits) {
  T value;
  std::memcpy(&value, &bits, sizeof(T));
  return value;
}
}  // namespace detail

template <class T>
T __shfl_sync(unsigned mask, T value, int source_lane, int width = warpSize) {
  return detail::from_bits<T>(warp_collective(WarpOp::shfl, mask, detail::to_bits(value), source_lane, width));
}
template <class T>
T __shfl_up_sync(unsigned mask, T value, unsigned delta, int width = warpSize) {
  return detail::from_bits<T>(warp_collective(WarpOp::shfl_up, mask, detail::to_bits(value), int(delta), width));
}
template <class T>
T __shfl_down_sync(unsigned mask, T value, unsigned delta, int width = warpSize) {
  return detail::from_bits<T>(warp_collective(WarpOp::shfl_down, mask, detail::to_bits(value), int(delta), width));
}
template <class T>
T __shfl_xor_sync(unsigned mask, T value, int lane_mask, int width = warpSize) {
  return detail::from_bits<T>(warp_collective(WarpOp::shfl_xor, mask, detail::to_bits(value), lane_mask, width));
}
inline unsigned __ballot_sync(unsigned mask, int predicate) {
  return unsigned(warp_collective(WarpOp::ballot, mask, predicate != 0, 0, warpSize));
}
inline int __any_sync(unsigned mask, int predicate) {
  return int(warp_collective(WarpOp::any, mask, predicate != 0, 0, warpSize));
}
inline int __all_sync(unsigned mask, int predicate) {
  return int(warp_collective(WarpOp::all, mask, predicate != 0, 0, warpSize));
}
inline unsigned __activemask() { return active_mask(); }

[[noreturn]] inline void __trap() { device_fail("__trap() was called"); }

// ---- atomics (return the old value, as CUDA's do) ----------------------------------------------------

namespace detail {
template <class T, class Update>
T atomic_update(T* address, Update update) {
  const T old = *address;
  *address = update(old);
  return old;
}
}  // namespace detail

template <class T>
T atomicAdd(T* a, T v) { return detail::atomic_update(a, [v](T old) { return T(old + v); }); }
template <class T>
T atomicSub(T* a, T v) { return detail::atomic_update(a, [v](T old) { return T(old - v); }); }
template <class T>
T atomicMin(T* a, T v) { return detail::atomic_update(a, [v](T old) { return v < old ? v : old; }); }
template <class T>
T atomicMax(T* a, T v) { return detail::atomic_update(a, [v](T old) { return v > old ? v : old; }); }
template <class T>
T atomicExch(T* a, T v) { return detail::atomic_update(a, [v](T) { return v; }); }
template <class T>
T atomicCAS(T* a, T compare, T v) { return detail::atomic_update(a, [=](T old) { return old == compare ? v : old; }); }
template <class T>
T atomicAnd(T* a, T v) { return detail::atomic_update(a, [v](T old) { return T(old & v); }); }
template <class T>
T atomicOr(T* a, T v) { return detail::atomic_update(a, [v](T old) { return T(old | v); }); }

// ---- loads, bits and math ------------------------------------------------------------------------------

template <class T>
T __ldg(const T* address) {
  return *address;
}

inline unsigned __float_as_uint(float x) { return std::bit_cast<unsigned>(x); }
inline float __uint_as_float(unsigned x) { return std::bit_cast<float>(x); }
inline int __float_as_int(float x) { return std::bit_cast<int>(x); }
inline float __int_as_float(int x) { return std::bit_cast<float>(x); }
inline int __popc(unsigned x) { return std::popcount(x); }
inline int __popcll(unsigned long long x) { return std::popcount(x); }
inline int __clz(int x) { return x == 0 ? 32 : std::countl_zero(unsigned(x)); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline unsigned __brev(unsigned x) {
  unsigned r = 0;
  for (int i = 0; i < 32; ++i) r |= ((x >> i) & 1u) << (31 - i);
  return r;
}

// The _rn forms are never fused with a neighbouring add or multiply (nvcc keeps them apart too):
// the empty asm hides the value from the host compiler's contraction.
inline float __fmul_rn(float a, float b) {
  float r = a * b;
  asm("" : "+x"(r));
  return r;
}
inline float __fadd_rn(float a, float b) {
  float r = a + b;
  asm("" : "+x"(r));
  return r;
}
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __saturatef(float x) { return x > 0.0f ? (x < 1.0f ? x : 1.0f) : 0.0f; }  // NaN -> 0, as CUDA
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
// CUDA's min/max overloads for device code (mixed types: the common type). For floating types they
// are fminf/fmaxf: a NaN operand gives the other one.
template <class A, class B, class = std::enable_if_t<std::is_arithmetic_v<A> && std::is_arithmetic_v<B>>>
std::common_type_t<A, B> min(A a, B b) {
  using T = std::common_type_t<A, B>;
  if constexpr (std::is_floating_point_v<T>) return std::fmin(T(a), T(b));
  else return T(b) < T(a) ? T(b) : T(a);
}
template <class A, class B, class = std::enable_if_t<std::is_arithmetic_v<A> && std::is_arithmetic_v<B>>>
std::common_type_t<A, B> max(A a, B b) {
  using T = std::common_type_t<A, B>;
  if constexpr (std::is_floating_point_v<T>) return std::fmax(T(a), T(b));
  else return T(a) < T(b) ? T(b) : T(a);
}
using std::isinf;
using std::isnan;

}  // namespace dsa::emu
