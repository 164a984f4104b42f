// AdamW (Loshchilov & Hutter: decoupled weight decay) and the global gradient norm.
//   g  = grad * grad_scale                    (grad_scale carries global-norm clipping)
//   m  = beta1 m + (1 - beta1) g;   v = beta2 v + (1 - beta2) g^2
//   param -= lr * ( (m / bias1) / (sqrt(v / bias2) + eps) + weight_decay * param )
//   with bias1 = 1 - beta1^step, bias2 = 1 - beta2^step (step counts this group's updates, from 1).
// param, grad, m and v each hold n elements; param, m and v are updated in place (m and v start at 0).
// sum_squares returns sum x^2 in double, reduced in fixed chunks in a fixed order (deterministic).
#pragma once
#include "ops/context.h"

namespace dsa::ops {

struct AdamWHyper {
  double lr, beta1, beta2, eps, weight_decay, grad_scale, bias1, bias2;
};

template <class T>
using AdamWUpdate = void(const Context& ctx, T* param, const T* grad, T* m, T* v, int64_t n,
                         const AdamWHyper& hyper);
template <class T>
using SumSquares = double(const Context& ctx, const T* x, int64_t n);

}  // namespace dsa::ops
