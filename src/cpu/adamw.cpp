#include <algorithm>
#include <cmath>

#include "cpu/cpu_ops.h"

namespace dsa::cpu {

template <class T>
void adamw_update(const Context&, T* param, const T* grad, T* m, T* v, int64_t n,
                  const ops::AdamWHyper& hp) {
  const T beta1 = T(hp.beta1), beta2 = T(hp.beta2), eps = T(hp.eps);
  const T lr = T(hp.lr), decay = T(hp.weight_decay), scale = T(hp.grad_scale);
  const T inv_bias1 = T(1.0 / hp.bias1), inv_bias2 = T(1.0 / hp.bias2);
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const T g = grad[i] * scale;
    m[i] = beta1 * m[i] + (T(1) - beta1) * g;
    v[i] = beta2 * v[i] + (T(1) - beta2) * g * g;
    const T update = (m[i] * inv_bias1) / (std::sqrt(v[i] * inv_bias2) + eps);
    param[i] -= lr * (update + decay * param[i]);
  }
}

// Fixed chunks, summed in order: the same bits for any thread count.
template <class T>
double sum_squares(const Context&, const T* x, int64_t n) {
  constexpr int64_t kMaxChunks = 1024;
  const int64_t chunk = std::max<int64_t>(1 << 14, (n + kMaxChunks - 1) / kMaxChunks);
  const int64_t chunks = (n + chunk - 1) / chunk;
  double partial[kMaxChunks];
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t begin = c * chunk, end = std::min(n, begin + chunk);
    double acc = 0;
#pragma omp simd reduction(+ : acc)
    for (int64_t i = begin; i < end; ++i) acc += double(x[i]) * double(x[i]);
    partial[c] = acc;
  }
  double total = 0;
  for (int64_t c = 0; c < chunks; ++c) total += partial[c];
  return total;
}

#define DSA_INSTANTIATE(T)                                                                    \
  template void adamw_update<T>(const Context&, T*, const T*, T*, T*, int64_t,               \
                                const ops::AdamWHyper&);                                      \
  template double sum_squares<T>(const Context&, const T*, int64_t);
DSA_INSTANTIATE(float)
DSA_INSTANTIATE(double)
#undef DSA_INSTANTIATE

}  // namespace dsa::cpu
