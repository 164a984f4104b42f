// Residual connection.
//   forward:  out = a + b               (out may alias a: the residual stream updated in place)
//   backward: da += dout; db += dout    (either may be null; accumulates)
// All tensors hold n elements.
#pragma once
#include "ops/context.h"

namespace dsa::ops {

template <class T>
using ResidualForward = void(const Context& ctx, T* out, const T* a, const T* b, int64_t n);
template <class T>
using ResidualBackward = void(const Context& ctx, T* da, T* db, const T* dout, int64_t n);

}  // namespace dsa::ops
