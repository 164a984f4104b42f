// Rotary position embedding, half-split ("NeoX", Hugging Face Llama) pairing, in place.
// For each sequence position t, head h and pair i < R/2 (R = rot_dims <= head_dim, even):
//   angle = t * theta^(-2i/R);  (x_i, x_{i+R/2}) <- (x_i cos - x_{i+R/2} sin, x_i sin + x_{i+R/2} cos)
// Dimensions R..head_dim-1 are left untouched (the indexer rotates only its first rope_dims).
// Element (b, t, h, d) lives at x[(b*T + t) * row_stride + h * head_dim + d], so q and k can be
// rotated inside a fused QKV buffer. cos/sin are [T, R/2] tables of the op's scalar type, made by
// ops::make_rope_table (ops/rope_table.h) and copied into the twin's memory by the caller.
//   backward: the inverse rotation (angle -> -angle) applied in place to the gradient.
#pragma once
#include "ops/context.h"

namespace dsa::ops {

template <class T>
using RopeApply = void(const Context& ctx, T* x, const T* cos, const T* sin, int64_t batch,
                       int64_t seq, int64_t heads, int64_t head_dim, int64_t rot_dims,
                       int64_t row_stride);

}  // namespace dsa::ops
