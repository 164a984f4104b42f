// Dense causal attention with grouped-query heads (GQA).
//   forward: for batch b, query head h (key/value head g = h / (H / Hkv)), position t:
//     s_ts = q_t . k_s / sqrt(Dh) for s <= t;  lse_t = log sum_s exp(s_ts)   (natural log)
//     out_t = sum_s exp(s_ts - lse_t) v_s
//   backward (P recomputed from q, k and lse, never stored):
//     delta_t = dout_t . out_t;  dP_ts = dout_t . v_s;  dS_ts = P_ts (dP_ts - delta_t)
//     dq_t = sum_s dS_ts k_s / sqrt(Dh);  dk_s = sum_t dS_ts q_t / sqrt(Dh);  dv_s = sum_t P_ts dout_t
//     dk and dv of head g sum over the H/Hkv query heads that read it. dq, dk, dv are overwritten.
// Layouts: q element (b, t, h, d) at q[(b*T + t) * q_stride + h*Dh + d]; k and v (b, t, g, d) at
// [(b*T + t) * kv_stride + g*Dh + d] (strides let q, k, v live inside one fused QKV buffer; dq, dk,
// dv use the same strides). out and dout are contiguous [B, T, H, Dh]; lse is [B, H, T].
// H must be a multiple of Hkv (an error otherwise). ctx.workspace must hold what the twin's
// workspace_bytes (ops/workspace.h) asks for this shape; the CPU twin sizes it per OpenMP thread,
// so the model plans it with the thread count it will run with (train.threads is applied first).
#pragma once
#include "ops/context.h"

namespace dsa::ops {

struct AttentionShape {
  int64_t batch, seq, heads, kv_heads, head_dim;
  int64_t q_stride, kv_stride;  // elements between consecutive tokens in q and in k/v
};

template <class T>
using AttentionForward = void(const Context& ctx, T* out, T* lse, const T* q, const T* k,
                              const T* v, const AttentionShape& shape);
template <class T>
using AttentionBackward = void(const Context& ctx, T* dq, T* dk, T* dv, const T* dout,
                               const T* out, const T* lse, const T* q, const T* k, const T* v,
                               const AttentionShape& shape);

}  // namespace dsa::ops
