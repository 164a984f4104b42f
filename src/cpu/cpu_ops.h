// The CPU twin: every op of src/ops/ for float (training) and double (gradient checks).
// Contracts (shapes, math) live in the matching src/ops/ header; this file only declares.
// Threading: OpenMP inside each op; BLAS is the OpenMP build of OpenBLAS, which runs
// single-threaded when called from inside our parallel regions (one thread pool, docs/design.md §7).
#pragma once
#include "ops/backend.h"

namespace dsa::cpu {

using ops::AttentionShape;
using ops::Context;
using ops::IndexerShape;
using ops::IndexLists;
using ops::TopKShape;

template <class T>
void embedding_forward(const Context& ctx, T* out, const int32_t* tokens, const T* table,
                       int64_t rows, int64_t dim, int64_t vocab);
template <class T>
void embedding_backward(const Context& ctx, T* dtable, const T* dout, const int32_t* tokens,
                        int64_t rows, int64_t dim, int64_t vocab);

template <class T>
void rmsnorm_forward(const Context& ctx, T* out, T* rstd, const T* in, const T* weight,
                     int64_t rows, int64_t dim, double eps);
template <class T>
void rmsnorm_backward(const Context& ctx, T* din, T* dweight, const T* dout, const T* in,
                      const T* weight, const T* rstd, int64_t rows, int64_t dim);

template <class T>
void gemm(const Context& ctx, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha,
          const T* a, int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc);
template <class T>
void matmul_forward(const Context& ctx, T* out, const T* in, const T* weight, int64_t rows,
                    int64_t in_dim, int64_t out_dim, bool accumulate);
template <class T>
void matmul_backward(const Context& ctx, T* din, T* dweight, const T* dout, const T* in,
                     const T* weight, int64_t rows, int64_t in_dim, int64_t out_dim,
                     bool accumulate_din);

template <class T>
void rope_forward(const Context& ctx, T* x, const T* cos, const T* sin, int64_t batch, int64_t seq,
                  int64_t heads, int64_t head_dim, int64_t rot_dims, int64_t row_stride);
template <class T>
void rope_backward(const Context& ctx, T* x, const T* cos, const T* sin, int64_t batch,
                   int64_t seq, int64_t heads, int64_t head_dim, int64_t rot_dims,
                   int64_t row_stride);

template <class T>
void attention_forward(const Context& ctx, T* out, T* lse, const T* q, const T* k, const T* v,
                       const AttentionShape& shape);
template <class T>
void attention_backward(const Context& ctx, T* dq, T* dk, T* dv, const T* dout, const T* out,
                        const T* lse, const T* q, const T* k, const T* v,
                        const AttentionShape& shape);
size_t attention_workspace(const AttentionShape& shape, size_t scalar_bytes);
// ctx.workspace for the whole model: the largest need of any op (dense and DSA), cpu/backend.cpp.
size_t workspace_bytes(const ops::WorkspaceQuery& query, size_t scalar_bytes);

template <class T>
void swiglu_forward(const Context& ctx, T* out, const T* gate_up, int64_t rows, int64_t hidden);
template <class T>
void swiglu_backward(const Context& ctx, T* dgate_up, const T* dout, const T* gate_up,
                     int64_t rows, int64_t hidden);

template <class T>
void residual_forward(const Context& ctx, T* out, const T* a, const T* b, int64_t n);
template <class T>
void residual_backward(const Context& ctx, T* da, T* db, const T* dout, int64_t n);

template <class T>
void cross_entropy(const Context& ctx, T* logits, T* losses, int32_t* predictions,
                   const int32_t* targets, int64_t rows, int64_t vocab, T grad_scale);

template <class T>
void adamw_update(const Context& ctx, T* param, const T* grad, T* m, T* v, int64_t n,
                  const ops::AdamWHyper& hyper);
template <class T>
double sum_squares(const Context& ctx, const T* x, int64_t n);

// DeepSeek Sparse Attention (contracts: ops/indexer.h, ops/topk.h, ops/sparse_attention.h,
// ops/indexer_loss.h; index lists: ops/index_lists.h). Each op sizes its ctx.workspace per OpenMP
// thread with the matching *_workspace function (plan it with the thread count the op will run
// with, as for the dense attention).
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

// The table of all the above, for the model layer; profiled_backend wraps every op in a
// profile::Scope (dsatrain bench --profile).
template <class T>
const ops::Backend<T>& backend();
template <class T>
const ops::Backend<T>& profiled_backend();

}  // namespace dsa::cpu
