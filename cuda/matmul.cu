// GEMMs through cuBLAS. Our tensors are row-major; cuBLAS is column-major, so C = op(A) op(B)
// (row-major) is computed as C^T = op(B)^T op(A)^T: swap the operands and the m/n extents.
#include "check.cuh"
#include "cuda_ops.h"

namespace dsa::DSA_CUDA_TWIN {

void gemm(const Context& ctx, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
          float alpha, const float* a, int64_t lda, const float* b, int64_t ldb, float beta,
          float* c, int64_t ldc) {
  const auto blas = static_cast<cublasHandle_t>(ctx.blas);
  DSA_CUBLAS_CHECK(cublasSgemm(blas, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                               static_cast<int>(n), static_cast<int>(m), static_cast<int>(k), &alpha, b,
                               static_cast<int>(ldb), a, static_cast<int>(lda), &beta, c, static_cast<int>(ldc)),
                   "gemm M=", m, " N=", n, " K=", k, trans_a ? " A^T" : "", trans_b ? " B^T" : "");
}

void matmul_forward(const Context& ctx, float* out, const float* in, const float* weight,
                    int64_t rows, int64_t in_dim, int64_t out_dim, bool accumulate) {
  gemm(ctx, false, true, rows, out_dim, in_dim, 1.0f, in, in_dim, weight, in_dim,
       accumulate ? 1.0f : 0.0f, out, out_dim);
}

void matmul_backward(const Context& ctx, float* din, float* dweight, const float* dout,
                     const float* in, const float* weight, int64_t rows, int64_t in_dim,
                     int64_t out_dim, bool accumulate_din) {
  if (din != nullptr)
    gemm(ctx, false, false, rows, in_dim, out_dim, 1.0f, dout, out_dim, weight, in_dim,
         accumulate_din ? 1.0f : 0.0f, din, in_dim);
  gemm(ctx, true, false, out_dim, in_dim, rows, 1.0f, dout, out_dim, in, in_dim, 1.0f, dweight, in_dim);
}

}  // namespace dsa::DSA_CUDA_TWIN
