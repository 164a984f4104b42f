#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "cpu/cpu_ops.h"
#include "cpu/vec_math.h"

namespace dsa::cpu {

template <class T>
void cross_entropy(const Context&, T* logits, T* losses, int32_t* predictions,
                   const int32_t* targets, int64_t rows, int64_t vocab, T grad_scale) {
  for (int64_t n = 0; n < rows; ++n)
    DSA_CHECK(targets[n] >= 0 && targets[n] < vocab, "op cross_entropy: target ", targets[n],
              " at row ", n, " is outside the vocabulary [0, ", vocab, ")");
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < rows; ++n) {
    T* row = logits + n * vocab;
    T row_max = -std::numeric_limits<T>::infinity();
    int64_t argmax = 0;
    for (int64_t v = 0; v < vocab; ++v)
      if (row[v] > row_max) row_max = row[v], argmax = v;
    T sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t v = 0; v < vocab; ++v) sum += exp_fast(row[v] - row_max);
    const T lse = row_max + std::log(sum);
    const int32_t target = targets[n];
    losses[n] = lse - row[target];
    if (predictions != nullptr) predictions[n] = static_cast<int32_t>(argmax);
    if (grad_scale != T(0)) {
#pragma omp simd
      for (int64_t v = 0; v < vocab; ++v) row[v] = grad_scale * exp_fast(row[v] - lse);
      row[target] -= grad_scale;
    }
  }
}

#define DSA_INSTANTIATE(T)                                                                   \
  template void cross_entropy<T>(const Context&, T*, T*, int32_t*, const int32_t*, int64_t, \
                                 int64_t, T);
DSA_INSTANTIATE(float)
DSA_INSTANTIATE(double)
#undef DSA_INSTANTIATE

}  // namespace dsa::cpu
