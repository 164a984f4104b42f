// Lightning indexer scores (docs/design.md §4): how much query t wants key s, from a few cheap heads.
//   forward, for batch b, query t and key s <= t, with c = (HI * dI)^(-1/2):
//     a_tjs = qI_tj . kI_s                                       (head j = 0..HI-1, dot over dI)
//     I_ts  = c * sum_j w_tj * ReLU(a_tjs)                       (w_tj = 1 when w is null)
//   entries s > t do not exist: consumers (top-k, indexer loss) never read them; the forward
//   fills them with -inf so that the buffer is fully written.
//   backward, given dI_ts for s <= t (entries s > t are never read, so callers need not zero them):
//     G_tjs  = c * w_tj * dI_ts * [a_tjs > 0]                    (ReLU'(0) = 0)
//     dqI_tj = sum_{s<=t} G_tjs kI_s
//     dkI_s  = sum_{t>=s} sum_j G_tjs qI_tj
//     dw_tj  = c * sum_{s<=t} dI_ts ReLU(a_tjs)                  (only when w is not null)
//   dqI, dkI and dw are overwritten, not accumulated. dw may be null when w is null.
// Layouts: qI element (b, t, j, d) at q[(b*T + t) * q_stride + j*dI + d]; kI (b, s, d) at
// k[(b*T + s) * k_stride + d]; w (b, t, j) at w[(b*T + t) * w_stride + j] (strides let qI, kI and
// w live inside one fused projection buffer; dqI, dkI, dw use the same strides). scores and dI are
// [B, T, T] (row t of batch b at (b*T + t) * T): the CPU twin materialises the T x T scores, a
// fused CUDA score+select pass may not (docs/kernels.md §K5).
// RoPE on the first rope_dims of qI and kI is not part of this op: the caller rotates that slice
// with ops/rope.h (rot_dims = rope_dims, head_dim = dI, heads = HI for qI and 1 for kI) before
// the forward, and applies the inverse rotation to dqI and dkI after the backward.
// Determinism: every output element is summed in a fixed order (heads in increasing j, dkI by
// tasks that own a block of keys), with no atomics: identical bits for any thread count.
// ctx.workspace must hold what the twin's indexer workspace function asks for this shape (the CPU
// twin sizes it per OpenMP thread, like the attention).
#pragma once
#include "ops/context.h"

namespace dsa::ops {

struct IndexerShape {
  int64_t batch, seq, heads, dim;        // B, T, HI, dI
  int64_t q_stride, k_stride, w_stride;  // elements between consecutive tokens in qI, kI, w
};

template <class T>
using IndexerForward = void(const Context& ctx, T* scores, const T* q, const T* k, const T* w,
                            const IndexerShape& shape);
template <class T>
using IndexerBackward = void(const Context& ctx, T* dq, T* dk, T* dw, const T* dscores,
                             const T* q, const T* k, const T* w, const IndexerShape& shape);

}  // namespace dsa::ops
