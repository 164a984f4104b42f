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

namespace dsa::cpu {

// Gathers of random key/value/query rows (sparse attention over random lists) are bound by memory
// latency once K and V outgrow the caches: asking for row j + kGatherAhead while row j is being
// used keeps a few rows in flight and hides most of it.
constexpr int64_t kGatherAhead = 4;

// Requests the cache lines of n elements from p (a hint: no effect on results).
template <class T>
inline void prefetch_elements(const T* p, int64_t n) {
  constexpr int64_t kLine = 64;
  const char* bytes = reinterpret_cast<const char*>(p);
  for (int64_t at = 0; at < n * int64_t(sizeof(T)); at += kLine) __builtin_prefetch(bytes + at);
}

}  // namespace dsa::cpu
