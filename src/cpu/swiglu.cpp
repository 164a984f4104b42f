#include "cpu/cpu_ops.h"
#include "cpu/vec_math.h"

namespace dsa::cpu {

template <class T>
void swiglu_forward(const Context&, T* out, const T* gate_up, int64_t rows, int64_t hidden) {
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < rows; ++n) {
    const T* gate = gate_up + n * 2 * hidden;
    const T* up = gate + hidden;
    T* y = out + n * hidden;
#pragma omp simd
    for (int64_t f = 0; f < hidden; ++f) y[f] = gate[f] * sigmoid(gate[f]) * up[f];
  }
}

template <class T>
void swiglu_backward(const Context&, T* dgate_up, const T* dout, const T* gate_up, int64_t rows,
                     int64_t hidden) {
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < rows; ++n) {
    const T* gate = gate_up + n * 2 * hidden;
    const T* up = gate + hidden;
    const T* dy = dout + n * hidden;
    T* dgate = dgate_up + n * 2 * hidden;
    T* dup = dgate + hidden;
#pragma omp simd
    for (int64_t f = 0; f < hidden; ++f) {
      const T sig = sigmoid(gate[f]);
      const T silu = gate[f] * sig;
      dup[f] = dy[f] * silu;
      dgate[f] = dy[f] * up[f] * sig * (T(1) + gate[f] * (T(1) - sig));
    }
  }
}

#define DSA_INSTANTIATE(T)                                                                     \
  template void swiglu_forward<T>(const Context&, T*, const T*, int64_t, int64_t);             \
  template void swiglu_backward<T>(const Context&, T*, const T*, const T*, int64_t, int64_t);
DSA_INSTANTIATE(float)
DSA_INSTANTIATE(double)
#undef DSA_INSTANTIATE

}  // namespace dsa::cpu
