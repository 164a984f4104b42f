// RMSNorm over the last dimension.
//   forward:  rstd[n] = (mean_d in[n,d]^2 + eps)^(-1/2);   out[n,d] = in[n,d] * rstd[n] * weight[d]
//   backward: with xhat = in * rstd and gy = dout * weight,
//             din[n,:]  += rstd[n] * (gy - xhat * mean_d(gy * xhat))        (accumulates)
//             dweight[:] += sum_n dout[n,:] * xhat[n,:]                       (accumulates)
// Shapes: in, out, dout, din [N, D]; weight, dweight [D]; rstd [N] (saved by forward).
// The dweight reduction gives each task a fixed slice of columns and sums all rows in order: the
// result does not depend on the number of threads.
#pragma once
#include "ops/context.h"

namespace dsa::ops {

template <class T>
using RmsNormForward = void(const Context& ctx, T* out, T* rstd, const T* in, const T* weight,
                            int64_t rows, int64_t dim, double eps);
template <class T>
using RmsNormBackward = void(const Context& ctx, T* din, T* dweight, const T* dout, const T* in,
                             const T* weight, const T* rstd, int64_t rows, int64_t dim);

}  // namespace dsa::ops
