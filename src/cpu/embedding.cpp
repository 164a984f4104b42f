#include "core/error.h"
#include "cpu/cpu_ops.h"

namespace dsa::cpu {

template <class T>
void embedding_forward(const Context&, T* out, const int32_t* tokens, const T* table,
                       int64_t rows, int64_t dim, int64_t vocab) {
  for (int64_t n = 0; n < rows; ++n)
    DSA_CHECK(tokens[n] >= 0 && tokens[n] < vocab, "op embedding_forward: token ", tokens[n],
              " at row ", n, " is outside the vocabulary [0, ", vocab, ")");
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < rows; ++n) {
    const T* row = table + tokens[n] * dim;
    T* dst = out + n * dim;
    for (int64_t d = 0; d < dim; ++d) dst[d] = row[d];
  }
}

// Threads own slices of columns and walk the rows in order: every dtable element sums its
// contributions in increasing n, whatever the thread count (deterministic, no atomics).
template <class T>
void embedding_backward(const Context&, T* dtable, const T* dout, const int32_t* tokens,
                        int64_t rows, int64_t dim, int64_t vocab) {
  (void)vocab;
  constexpr int64_t kColumnsPerTask = 64;
  const int64_t tasks = (dim + kColumnsPerTask - 1) / kColumnsPerTask;
#pragma omp parallel for schedule(static)
  for (int64_t task = 0; task < tasks; ++task) {
    const int64_t begin = task * kColumnsPerTask;
    const int64_t end = std::min(dim, begin + kColumnsPerTask);
    for (int64_t n = 0; n < rows; ++n) {
      T* dst = dtable + tokens[n] * dim;
      const T* src = dout + n * dim;
      for (int64_t d = begin; d < end; ++d) dst[d] += src[d];
    }
  }
}

#define DSA_INSTANTIATE(T)                                                                       \
  template void embedding_forward<T>(const Context&, T*, const int32_t*, const T*, int64_t,    \
                                     int64_t, int64_t);                                          \
  template void embedding_backward<T>(const Context&, T*, const T*, const int32_t*, int64_t,   \
                                      int64_t, int64_t);
DSA_INSTANTIATE(float)
DSA_INSTANTIATE(double)
#undef DSA_INSTANTIATE

}  // namespace dsa::cpu
