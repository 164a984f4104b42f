// Short-vector helpers of the CPU twin's sparse ops (a head row of Dh elements), written so that
// GCC vectorises them. Internal to src/cpu/.
#pragma once
#include <cstdint>

namespace dsa::cpu {

// sum_d a[d] b[d] over n elements.
template <class T>
inline T row_dot(const T* a, const T* b, int64_t n) {
  T sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t d = 0; d < n; ++d) sum += a[d] * b[d];
  return sum;
}

// acc[d] += alpha x[d] over n elements.
template <class T>
inline void add_scaled(T* acc, T alpha, const T* x, int64_t n) {
#pragma omp simd
  for (int64_t d = 0; d < n; ++d) acc[d] += alpha * x[d];
}

}  // namespace dsa::cpu
