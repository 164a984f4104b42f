// Scalar math written so that GCC vectorises the loops that call it (no libm calls, no branches).
// glibc's expf is a scalar call that blocks vectorisation; softmax, cross-entropy and SwiGLU call
// exp tens of millions of times per step, so the float twin uses this polynomial instead.
#pragma once
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

namespace dsa::cpu {

// e^x for float, relative error below 2e-7 over the whole range; inputs below -87 return ~1e-38
// (not 0: harmless in a softmax whose largest term is 1), inputs above 88 saturate.
inline float exp_fast(float x) {
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kShifter = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  constexpr float kLn2Hi = 0.693145751953125f;
  constexpr float kLn2Lo = 1.428606765330187e-06f;
  x = std::min(std::max(x, -87.0f), 88.0f);  // std::fmin is a libm call: no vectorisation
  const float n = (x * kLog2e + kShifter) - kShifter;
  const float r = (x - n * kLn2Hi) - n * kLn2Lo;  // |r| <= ln2 / 2
  // Cephes expf minimax polynomial: e^r = 1 + r + r^2 * p(r).
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float e_r = p * r * r + r + 1.0f;
  const int32_t exponent_bits = (static_cast<int32_t>(n) + 127) << 23;
  return e_r * std::bit_cast<float>(exponent_bits);
}

// The double twin is the reference: exact libm.
inline double exp_fast(double x) { return std::exp(x); }

template <class T>
inline T sigmoid(T x) {
  return T(1) / (T(1) + exp_fast(-x));
}

}  // namespace dsa::cpu
