#include <algorithm>
#include <cmath>

#include "cpu/cpu_ops.h"

namespace dsa::cpu {

template <class T>
void rmsnorm_forward(const Context&, T* out, T* rstd, const T* in, const T* weight, int64_t rows,
                     int64_t dim, double eps) {
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < rows; ++n) {
    const T* x = in + n * dim;
    T sum_sq = 0;
#pragma omp simd reduction(+ : sum_sq)
    for (int64_t d = 0; d < dim; ++d) sum_sq += x[d] * x[d];
    const T inv_rms = T(1) / std::sqrt(sum_sq / T(dim) + T(eps));
    rstd[n] = inv_rms;
    T* y = out + n * dim;
    for (int64_t d = 0; d < dim; ++d) y[d] = x[d] * inv_rms * weight[d];
  }
}

template <class T>
static void rmsnorm_input_grad(T* din, const T* dout, const T* in, const T* weight,
                               const T* rstd, int64_t rows, int64_t dim) {
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < rows; ++n) {
    const T* x = in + n * dim;
    const T* dy = dout + n * dim;
    const T inv_rms = rstd[n];
    // mean_d(gy * xhat) with gy = dy * weight, xhat = x * inv_rms
    T dot = 0;
#pragma omp simd reduction(+ : dot)
    for (int64_t d = 0; d < dim; ++d) dot += dy[d] * weight[d] * x[d];
    const T mean_gy_xhat = dot * inv_rms / T(dim);
    T* dx = din + n * dim;
    for (int64_t d = 0; d < dim; ++d)
      dx[d] += inv_rms * (dy[d] * weight[d] - x[d] * inv_rms * mean_gy_xhat);
  }
}

// Threads own column slices and sum rows in order: deterministic for any thread count.
template <class T>
static void rmsnorm_weight_grad(T* dweight, const T* dout, const T* in, const T* rstd,
                                int64_t rows, int64_t dim) {
  constexpr int64_t kColumnsPerTask = 32;
  const int64_t tasks = (dim + kColumnsPerTask - 1) / kColumnsPerTask;
#pragma omp parallel for schedule(static)
  for (int64_t task = 0; task < tasks; ++task) {
    const int64_t begin = task * kColumnsPerTask;
    const int64_t end = std::min(dim, begin + kColumnsPerTask);
    T acc[kColumnsPerTask] = {};
    for (int64_t n = 0; n < rows; ++n) {
      const T* x = in + n * dim;
      const T* dy = dout + n * dim;
      for (int64_t d = begin; d < end; ++d) acc[d - begin] += dy[d] * x[d] * rstd[n];
    }
    for (int64_t d = begin; d < end; ++d) dweight[d] += acc[d - begin];
  }
}

template <class T>
void rmsnorm_backward(const Context&, T* din, T* dweight, const T* dout, const T* in,
                      const T* weight, const T* rstd, int64_t rows, int64_t dim) {
  rmsnorm_input_grad(din, dout, in, weight, rstd, rows, dim);
  rmsnorm_weight_grad(dweight, dout, in, rstd, rows, dim);
}

#define DSA_INSTANTIATE(T)                                                                      \
  template void rmsnorm_forward<T>(const Context&, T*, T*, const T*, const T*, int64_t, int64_t, \
                                   double);                                                     \
  template void rmsnorm_backward<T>(const Context&, T*, T*, const T*, const T*, const T*,       \
                                    const T*, int64_t, int64_t);
DSA_INSTANTIATE(float)
DSA_INSTANTIATE(double)
#undef DSA_INSTANTIATE

}  // namespace dsa::cpu
