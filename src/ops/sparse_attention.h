// Sparse attention over index lists (docs/design.md §4, docs/kernels.md §K4) with grouped-query heads (GQA): the
// dense attention of ops/attention.h with the causal set {s <= t} replaced by the list S_t.
//   forward: for batch b, query head h (key/value head g = h / (H / Hkv)), position t, and the
//   keys s_j of row (b, t) of the index lists (-1 padding skipped, never read):
//     x_tj = q_t . k_{s_j} / sqrt(Dh);  lse_t = log sum_j exp(x_tj)          (natural log)
//     out_t = sum_j exp(x_tj - lse_t) v_{s_j}
//     a row with no keys gives out_t = 0 and lse_t = -inf (and no gradient).
//   backward (P recomputed from q, k and the saved lse; the forward keeps no probabilities):
//     delta_t = dout_t . out_t;  dP_tj = dout_t . v_{s_j};  dS_tj = P_tj (dP_tj - delta_t)
//     dq_t = sum_j dS_tj k_{s_j} / sqrt(Dh)                         (per query)
//     dk_s = sum_{(t, j): s_j = s} dS_tj q_t / sqrt(Dh);  dv_s = sum_{(t, j): s_j = s} P_tj dout_t
//     dk and dv of head g sum over the H/Hkv query heads that read it. dq, dk, dv are overwritten;
//     keys that no list holds get dk = dv = 0.
// Work is proportional to the attended pairs sum_t n_t, never T^2. Determinism without atomics:
// dq is computed per query; dk and dv are gathered per key through the transposed lists (for
// each key s, the list slots (t, j) that hold it, in increasing t: a counting sort in
// ctx.workspace) and summed in that order, each slot adding its query heads in increasing h.
// Layouts: exactly those of ops/attention.h (q, k, v, dq, dk, dv strided, so they may live inside
// one fused QKV buffer; out and dout contiguous [B, T, H, Dh]; lse [B, H, T]); index lists as in
// ops/index_lists.h, checked before use (a future key is an error naming b, t, slot). With every
// list = {s <= t} (k >= T) the results equal the dense attention's to rounding.
// ctx.workspace must hold what the twin's sparse attention workspace function asks for this shape
// and list width. The CPU twin's backward keeps P and dS of every list slot and head between its
// dq and its dk/dv pass (2 x B*T*width*H scalars) besides the transposed lists (B*(T+1) int64 +
// B*T*width int32) and [H, width] scores and their gradient per OpenMP thread; the size covers
// the forward and the backward.
#pragma once
#include "ops/attention.h"
#include "ops/index_lists.h"

namespace dsa::ops {

template <class T>
using SparseAttentionForward = void(const Context& ctx, T* out, T* lse, const T* q, const T* k,
                                    const T* v, const IndexLists& lists,
                                    const AttentionShape& shape);
template <class T>
using SparseAttentionBackward = void(const Context& ctx, T* dq, T* dk, T* dv, const T* dout,
                                     const T* out, const T* lse, const T* q, const T* k,
                                     const T* v, const IndexLists& lists,
                                     const AttentionShape& shape);

}  // namespace dsa::ops
