// Embedding lookup.
//   forward:  out[n, :] = table[tokens[n], :]                 out [N, D], table [V, D], tokens [N]
//   backward: dtable[v, :] += sum over n with tokens[n] == v of dout[n, :]   (accumulates)
// Tokens outside [0, V) are an error of the forward (the CPU twin throws naming the row and the
// value); the backward runs on the same tokens after its forward and does not check again.
// The backward is deterministic: every dtable row sums its rows in increasing n.
#pragma once
#include "ops/context.h"

namespace dsa::ops {

template <class T>
using EmbeddingForward = void(const Context& ctx, T* out, const int32_t* tokens, const T* table,
                              int64_t rows, int64_t dim, int64_t vocab);
template <class T>
using EmbeddingBackward = void(const Context& ctx, T* dtable, const T* dout, const int32_t* tokens,
                               int64_t rows, int64_t dim, int64_t vocab);

}  // namespace dsa::ops
