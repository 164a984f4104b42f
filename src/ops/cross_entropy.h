// Fused softmax + cross-entropy (+ its gradient), row by row over logits [N, V]: each row is read
// from memory once and stays in cache for the max, exp-sum and gradient passes.
//   losses[n]     = logsumexp(logits[n, :]) - logits[n, targets[n]]          (natural log)
//   predictions[n] = argmax_v logits[n, v] (smallest v on ties)              (skipped when null)
//   when grad_scale != 0 the logits are overwritten in place by the gradient of
//   grad_scale * sum_n losses[n]:  dlogits[n, v] = grad_scale * (softmax(logits[n])_v - [v == targets[n]])
// Targets outside [0, V) are an error.
#pragma once
#include "ops/context.h"

namespace dsa::ops {

template <class T>
using CrossEntropy = void(const Context& ctx, T* logits, T* losses, int32_t* predictions,
                          const int32_t* targets, int64_t rows, int64_t vocab, T grad_scale);

}  // namespace dsa::ops
