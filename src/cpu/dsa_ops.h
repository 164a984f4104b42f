// The CPU twin of the DeepSeek Sparse Attention ops, for float (training) and double (gradient
// checks). Contracts live in ops/indexer.h, ops/topk.h, ops/sparse_attention.h and
// ops/indexer_loss.h (index lists: ops/index_lists.h); this file only declares. Each op sizes its
// ctx.workspace per OpenMP thread with the matching *_workspace function (plan it with the thread
// count the op will run with, as for the dense attention).
#pragma once
#include <cstddef>
#include <cstdint>

#include "ops/indexer.h"
#include "ops/indexer_loss.h"
#include "ops/sparse_attention.h"
#include "ops/topk.h"

namespace dsa::cpu {

using ops::AttentionShape;
using ops::Context;
using ops::IndexerShape;
using ops::IndexLists;
using ops::TopKShape;

template <class T>
void indexer_forward(const Context& ctx, T* scores, const T* q, const T* k, const T* w,
                     const IndexerShape& shape);
template <class T>
void indexer_backward(const Context& ctx, T* dq, T* dk, T* dw, const T* dscores, const T* q,
                      const T* k, const T* w, const IndexerShape& shape);
size_t indexer_workspace(const IndexerShape& shape, size_t scalar_bytes);

template <class T>
void topk_select(const Context& ctx, int32_t* indices, const T* scores, const TopKShape& shape);
size_t topk_workspace(const TopKShape& shape);

template <class T>
void sparse_attention_forward(const Context& ctx, T* out, T* lse, const T* q, const T* k,
                              const T* v, const IndexLists& lists, const AttentionShape& shape);
template <class T>
void sparse_attention_backward(const Context& ctx, T* dq, T* dk, T* dv, const T* dout,
                               const T* out, const T* lse, const T* q, const T* k, const T* v,
                               const IndexLists& lists, const AttentionShape& shape);
size_t sparse_attention_workspace(const AttentionShape& shape, int64_t list_width,
                                  size_t scalar_bytes);

template <class T>
double indexer_loss(const Context& ctx, T* dscores, T* row_loss, const T* scores, const T* q,
                    const T* k, const T* lse, const IndexLists& domain,
                    const AttentionShape& shape);
template <class T>
void attention_target(const Context& ctx, T* target, const T* q, const T* k, const T* lse,
                      const AttentionShape& shape);
size_t indexer_loss_workspace(const AttentionShape& shape, int64_t list_width,
                              size_t scalar_bytes);

}  // namespace dsa::cpu
