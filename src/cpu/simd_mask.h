// Comparison masks over short runs of scores, for the CPU twin's selection (cpu/row_topk.h):
// bit j of the mask is x[j] > threshold. AVX builds compare eight floats (four doubles) per
// instruction; other builds run the portable loop, which gives the same bits. Internal to src/cpu/.
#pragma once
#include <cstdint>

#if defined(__AVX__)
#include <immintrin.h>
#endif

namespace dsa::cpu {

constexpr int64_t kMaskRun = 64;  // scores per mask: the bits of a uint64_t

struct RunMask {
  uint64_t greater;  // bit j: x[j] > threshold
  bool nan;          // some x[j] is NaN
};

// The mask of x[0 .. kMaskRun) against `threshold`, one score at a time.
template <class T>
inline RunMask greater_mask_portable(const T* x, T threshold) {
  uint64_t greater = 0;
  bool nan = false;
  for (int64_t j = 0; j < kMaskRun; ++j) {
    greater |= uint64_t(x[j] > threshold) << j;
    nan |= x[j] != x[j];
  }
  return {greater, nan};
}

// The mask of x[0 .. kMaskRun) against `threshold`: greater_mask_portable's bits.
template <class T>
inline RunMask greater_mask(const T* x, T threshold) {
  return greater_mask_portable(x, threshold);
}

#if defined(__AVX__)
template <>
inline RunMask greater_mask<float>(const float* x, float threshold) {
  const __m256 limit = _mm256_set1_ps(threshold);
  uint64_t greater = 0;
  __m256 unordered = _mm256_setzero_ps();
  for (int64_t j = 0; j < kMaskRun; j += 8) {
    const __m256 v = _mm256_loadu_ps(x + j);
    greater |= uint64_t(uint32_t(_mm256_movemask_ps(_mm256_cmp_ps(v, limit, _CMP_GT_OQ)))) << j;
    unordered = _mm256_or_ps(unordered, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  }
  return {greater, _mm256_movemask_ps(unordered) != 0};
}

template <>
inline RunMask greater_mask<double>(const double* x, double threshold) {
  const __m256d limit = _mm256_set1_pd(threshold);
  uint64_t greater = 0;
  __m256d unordered = _mm256_setzero_pd();
  for (int64_t j = 0; j < kMaskRun; j += 4) {
    const __m256d v = _mm256_loadu_pd(x + j);
    greater |= uint64_t(uint32_t(_mm256_movemask_pd(_mm256_cmp_pd(v, limit, _CMP_GT_OQ)))) << j;
    unordered = _mm256_or_pd(unordered, _mm256_cmp_pd(v, v, _CMP_UNORD_Q));
  }
  return {greater, _mm256_movemask_pd(unordered) != 0};
}
#endif

}  // namespace dsa::cpu
