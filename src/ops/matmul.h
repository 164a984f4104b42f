// Matrix products. Row-major throughout; weights follow the PyTorch Linear convention [out, in].
//
// gemm (the primitive):  C[M,N] = alpha * op(A) op(B) + beta * C,  op(X) = X or X^T,
//   A is [M,K] (or [K,M] when trans_a), B is [K,N] (or [N,K] when trans_b); lda/ldb/ldc are row
//   strides, so strided sub-matrices (one head of a fused QKV buffer) need no copy.
//
// matmul (linear layer):
//   forward:  out[N,O] = in[N,I] weight[O,I]^T        (+= into out when accumulate)
//   backward: din[N,I] = dout[N,O] weight[O,I]         (+= when accumulate_din; skipped if din null)
//             dweight[O,I] += dout^T[O,N] in[N,I]      (accumulates)
#pragma once
#include "ops/context.h"

namespace dsa::ops {

template <class T>
using Gemm = void(const Context& ctx, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                  T alpha, const T* a, int64_t lda, const T* b, int64_t ldb, T beta, T* c,
                  int64_t ldc);
template <class T>
using MatmulForward = void(const Context& ctx, T* out, const T* in, const T* weight, int64_t rows,
                           int64_t in_dim, int64_t out_dim, bool accumulate);
template <class T>
using MatmulBackward = void(const Context& ctx, T* din, T* dweight, const T* dout, const T* in,
                            const T* weight, int64_t rows, int64_t in_dim, int64_t out_dim,
                            bool accumulate_din);

}  // namespace dsa::ops
