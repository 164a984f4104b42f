#include "cpu/cpu_ops.h"

namespace dsa::cpu {

template <class T>
void residual_forward(const Context&, T* out, const T* a, const T* b, int64_t n) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

template <class T>
void residual_backward(const Context&, T* da, T* db, const T* dout, int64_t n) {
  if (da != nullptr) {
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; ++i) da[i] += dout[i];
  }
  if (db != nullptr) {
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; ++i) db[i] += dout[i];
  }
}

#define DSA_INSTANTIATE(T)                                                          \
  template void residual_forward<T>(const Context&, T*, const T*, const T*, int64_t); \
  template void residual_backward<T>(const Context&, T*, T*, const T*, int64_t);
DSA_INSTANTIATE(float)
DSA_INSTANTIATE(double)
#undef DSA_INSTANTIATE

}  // namespace dsa::cpu
