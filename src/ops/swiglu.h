// SwiGLU activation over a fused gate|up product.
//   gate_up [N, 2F]: columns 0..F-1 are gate = h Wgate^T, columns F..2F-1 are up = h Wup^T.
//   forward:  out[n,f] = silu(gate) * up,   silu(x) = x * sigmoid(x)        out [N, F]
//   backward: dgate = dout * up * sigmoid(gate) * (1 + gate * (1 - sigmoid(gate)))
//             dup   = dout * silu(gate)                 written (not accumulated) into dgate_up [N, 2F]
#pragma once
#include "ops/context.h"

namespace dsa::ops {

template <class T>
using SwiGluForward = void(const Context& ctx, T* out, const T* gate_up, int64_t rows,
                           int64_t hidden);
template <class T>
using SwiGluBackward = void(const Context& ctx, T* dgate_up, const T* dout, const T* gate_up,
                            int64_t rows, int64_t hidden);

}  // namespace dsa::ops
