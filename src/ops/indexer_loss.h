// Indexer KL loss (docs/design.md §4): trains the lightning indexer to imitate the main attention.
//   For each row (b, t), over its domain D_t (every s <= t in the dense warm-up, the keys of the
//   index list row (b, t) in the sparse stage), with H query heads:
//     p_ts = (1/H) sum_h exp(q_th . k_s / sqrt(Dh) - lse_th)        target, detached, s in D_t
//     r_ts = softmax_{s in D_t}(I_ts)                                the indexer's distribution
//     KL_t = sum_{s in D_t} p_ts (log p_ts - log r_ts)               (terms with p_ts = 0 are 0)
//   L_I = (1 / rows) sum_t KL_t, rows = B*T  (returned, in double)
//   dscores[b, t, s] = (r_ts - p_ts) / rows for s in D_t, 0 for every other s (s > t included):
//     dL_I/dI_ts exactly, given sum_{s in D_t} p_ts = 1 (the lse is the attention's over D_t).
//   p is detached: nothing flows to q or k; the indexer receives dscores through
//   ops/indexer.h's backward, the main model nothing.
// Inputs: scores [B, T, T] (the indexer forward's; only s in D_t is read); q and k of the main
// attention (after RoPE) with the strided layouts and GQA rule of ops/attention.h (v unused);
// lse [B, H, T], the log-sum-exp the attention saved over the same domain (dense attention for
// the dense domain, sparse attention over S_t for the sparse domain). domain: index lists
// (ops/index_lists.h), or indices == null for the dense domain {s <= t}. Lists are checked.
// Outputs: dscores [B, T, T], written in full; row_loss [B, T] gets KL_t when not null.
// Never materialises T x T x H: the CPU twin holds the head-averaged target of one block of 64
// query rows (dense) or one list row (sparse) per thread, built head by head. L_I is summed over
// rows in increasing (b, t) order: identical bits for any thread count.
//
// Attention target (evaluation metrics, docs/design.md §6): the dense-domain target p itself,
//   target[b, t, s] = p_ts = (1/H) sum_h exp(q_th . k_s / sqrt(Dh) - lse_th)   for s <= t,
//   target[b, t, s] = 0                                                        for s > t,
// with lse the dense attention's. [B, T, T], written in full. attn_mass_recall and topk_overlap
// read it (the top-k of the head-averaged dense attention is topk_select over it). Its workspace
// is the indexer loss's for the dense domain (list_width 0).
#pragma once
#include "ops/attention.h"
#include "ops/index_lists.h"

namespace dsa::ops {

template <class T>
using IndexerLoss = double(const Context& ctx, T* dscores, T* row_loss, const T* scores,
                           const T* q, const T* k, const T* lse, const IndexLists& domain,
                           const AttentionShape& shape);
template <class T>
using AttentionTarget = void(const Context& ctx, T* target, const T* q, const T* k, const T* lse,
                             const AttentionShape& shape);

}  // namespace dsa::ops
