#include <cblas.h>

#include "cpu/cpu_ops.h"

namespace dsa::cpu {

static CBLAS_TRANSPOSE cblas_trans(bool trans) { return trans ? CblasTrans : CblasNoTrans; }

template <>
void gemm<float>(const Context&, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                 float alpha, const float* a, int64_t lda, const float* b, int64_t ldb, float beta,
                 float* c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, cblas_trans(trans_a), cblas_trans(trans_b), m, n, k, alpha, a, lda,
              b, ldb, beta, c, ldc);
}

template <>
void gemm<double>(const Context&, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                  double alpha, const double* a, int64_t lda, const double* b, int64_t ldb,
                  double beta, double* c, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, cblas_trans(trans_a), cblas_trans(trans_b), m, n, k, alpha, a, lda,
              b, ldb, beta, c, ldc);
}

template <class T>
void matmul_forward(const Context& ctx, T* out, const T* in, const T* weight, int64_t rows,
                    int64_t in_dim, int64_t out_dim, bool accumulate) {
  // out[N,O] = in[N,I] . weight[O,I]^T
  gemm<T>(ctx, false, true, rows, out_dim, in_dim, T(1), in, in_dim, weight, in_dim,
          accumulate ? T(1) : T(0), out, out_dim);
}

template <class T>
void matmul_backward(const Context& ctx, T* din, T* dweight, const T* dout, const T* in,
                     const T* weight, int64_t rows, int64_t in_dim, int64_t out_dim,
                     bool accumulate_din) {
  if (din != nullptr)  // din[N,I] = dout[N,O] . weight[O,I]
    gemm<T>(ctx, false, false, rows, in_dim, out_dim, T(1), dout, out_dim, weight, in_dim,
            accumulate_din ? T(1) : T(0), din, in_dim);
  // dweight[O,I] += dout[N,O]^T . in[N,I]
  gemm<T>(ctx, true, false, out_dim, in_dim, rows, T(1), dout, out_dim, in, in_dim, T(1), dweight,
          in_dim);
}

#define DSA_INSTANTIATE(T)                                                                       \
  template void matmul_forward<T>(const Context&, T*, const T*, const T*, int64_t, int64_t,      \
                                  int64_t, bool);                                                \
  template void matmul_backward<T>(const Context&, T*, T*, const T*, const T*, const T*, int64_t, \
                                   int64_t, int64_t, bool);
DSA_INSTANTIATE(float)
DSA_INSTANTIATE(double)
#undef DSA_INSTANTIATE

}  // namespace dsa::cpu
