#include "core/error.h"
#include "cpu/cpu_ops.h"

namespace dsa::cpu {

// Rotates every (x_i, x_{i+R/2}) pair by +angle (sign = 1, forward) or -angle (sign = -1, the
// backward: the transpose of a rotation is its inverse).
template <class T>
static void rope_rotate(T* x, const T* cos, const T* sin, int64_t batch, int64_t seq,
                        int64_t heads, int64_t head_dim, int64_t rot_dims, int64_t row_stride,
                        T sign) {
  DSA_CHECK(rot_dims % 2 == 0 && rot_dims <= head_dim, "op rope: rot_dims ", rot_dims,
            " must be even and <= head_dim ", head_dim);
  const int64_t half = rot_dims / 2;
#pragma omp parallel for schedule(static)
  for (int64_t row = 0; row < batch * seq; ++row) {
    const int64_t t = row % seq;
    const T* c = cos + t * half;
    const T* s = sin + t * half;
    for (int64_t h = 0; h < heads; ++h) {
      T* lo = x + row * row_stride + h * head_dim;
      T* hi = lo + half;
#pragma omp simd
      for (int64_t i = 0; i < half; ++i) {
        const T a = lo[i], b = hi[i], sn = sign * s[i];
        lo[i] = a * c[i] - b * sn;
        hi[i] = a * sn + b * c[i];
      }
    }
  }
}

template <class T>
void rope_forward(const Context&, T* x, const T* cos, const T* sin, int64_t batch, int64_t seq,
                  int64_t heads, int64_t head_dim, int64_t rot_dims, int64_t row_stride) {
  rope_rotate<T>(x, cos, sin, batch, seq, heads, head_dim, rot_dims, row_stride, T(1));
}

template <class T>
void rope_backward(const Context&, T* x, const T* cos, const T* sin, int64_t batch, int64_t seq,
                   int64_t heads, int64_t head_dim, int64_t rot_dims, int64_t row_stride) {
  rope_rotate<T>(x, cos, sin, batch, seq, heads, head_dim, rot_dims, row_stride, T(-1));
}

#define DSA_INSTANTIATE(T)                                                                      \
  template void rope_forward<T>(const Context&, T*, const T*, const T*, int64_t, int64_t,       \
                                int64_t, int64_t, int64_t, int64_t);                            \
  template void rope_backward<T>(const Context&, T*, const T*, const T*, int64_t, int64_t,      \
                                 int64_t, int64_t, int64_t, int64_t);
DSA_INSTANTIATE(float)
DSA_INSTANTIATE(double)
#undef DSA_INSTANTIATE

}  // namespace dsa::cpu
