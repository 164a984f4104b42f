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
#pragma omp simd reduction(max : row_max)
    for (int64_t v = 0; v < vocab; ++v) row_max = std::max(row_max, row[v]);
    if (predictions != nullptr)  // first index holding the max: the smallest id wins ties
      predictions[n] = static_cast<int32_t>(std::find(row, row + vocab, row_max) - row);
    const int32_t target = targets[n];
    const T target_logit = row[target];
    T sum = 0;
    if (grad_scale == T(0)) {
#pragma omp simd reduction(+ : sum)
      for (int64_t v = 0; v < vocab; ++v) sum += exp_fast(row[v] - row_max);
    } else {
      // Keep exp(x - max) in the row so the gradient pass needs no second exp.
#pragma omp simd reduction(+ : sum)
      for (int64_t v = 0; v < vocab; ++v) sum += (row[v] = exp_fast(row[v] - row_max));
    }
    losses[n] = row_max + std::log(sum) - target_logit;
    if (grad_scale != T(0)) {
      const T scale = grad_scale / sum;
#pragma omp simd
      for (int64_t v = 0; v < vocab; ++v) row[v] *= scale;
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
