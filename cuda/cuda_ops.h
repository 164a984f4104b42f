// The CUDA twin of every op of src/ops/ (fp32), inside the twin: declared for the .cu files of
// one build (namespace dsa::cuda_hw or dsa::cuda_emu, twin_namespace.h); host code reaches them
// through the backend table (cuda_backend.h). Contracts (shapes, math) live in the matching
// src/ops/ header; the definitions live in one .cu per op family. ctx.stream is a cudaStream_t and
// ctx.blas a cublasHandle_t (cuda/runtime.cu). All pointers are device memory.
#pragma once
#include "cuda_backend.h"
#include "ops/backend.h"
#include "twin_namespace.h"

namespace dsa::DSA_CUDA_TWIN {

using ops::AttentionShape;
using ops::Context;

// runtime.cu: this build's device, its backend table, and what it exports to the chooser.
cuda::DeviceStatus device_status();
const ops::Backend<float>& backend();
const ops::Backend<float>& profiled_backend();
void set_tf32(bool enabled);
size_t allocated_bytes();
// ceilings.cu (fails on the emulated device: speed is not emulated)
cuda::Ceilings measure_ceilings();

// embedding.cu
void embedding_forward(const Context& ctx, float* out, const int32_t* tokens, const float* table,
                       int64_t rows, int64_t dim, int64_t vocab);
void embedding_backward(const Context& ctx, float* dtable, const float* dout,
                        const int32_t* tokens, int64_t rows, int64_t dim, int64_t vocab);
// rmsnorm.cu
void rmsnorm_forward(const Context& ctx, float* out, float* rstd, const float* in,
                     const float* weight, int64_t rows, int64_t dim, double eps);
void rmsnorm_backward(const Context& ctx, float* din, float* dweight, const float* dout,
                      const float* in, const float* weight, const float* rstd, int64_t rows,
                      int64_t dim);
// matmul.cu (cuBLAS)
void gemm(const Context& ctx, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
          float alpha, const float* a, int64_t lda, const float* b, int64_t ldb, float beta,
          float* c, int64_t ldc);
void matmul_forward(const Context& ctx, float* out, const float* in, const float* weight,
                    int64_t rows, int64_t in_dim, int64_t out_dim, bool accumulate);
void matmul_backward(const Context& ctx, float* din, float* dweight, const float* dout,
                     const float* in, const float* weight, int64_t rows, int64_t in_dim,
                     int64_t out_dim, bool accumulate_din);
// rope.cu
void rope_forward(const Context& ctx, float* x, const float* cos, const float* sin, int64_t batch,
                  int64_t seq, int64_t heads, int64_t head_dim, int64_t rot_dims,
                  int64_t row_stride);
void rope_backward(const Context& ctx, float* x, const float* cos, const float* sin,
                   int64_t batch, int64_t seq, int64_t heads, int64_t head_dim, int64_t rot_dims,
                   int64_t row_stride);
// attention_forward.cu, attention_backward.cu (tiles: attention_tiles.cuh)
void attention_forward(const Context& ctx, float* out, float* lse, const float* q, const float* k,
                       const float* v, const AttentionShape& shape);
void attention_backward(const Context& ctx, float* dq, float* dk, float* dv, const float* dout,
                        const float* out, const float* lse, const float* q, const float* k,
                        const float* v, const AttentionShape& shape);
// swiglu.cu
void swiglu_forward(const Context& ctx, float* out, const float* gate_up, int64_t rows,
                    int64_t hidden);
void swiglu_backward(const Context& ctx, float* dgate_up, const float* dout, const float* gate_up,
                     int64_t rows, int64_t hidden);
// residual.cu
void residual_forward(const Context& ctx, float* out, const float* a, const float* b, int64_t n);
void residual_backward(const Context& ctx, float* da, float* db, const float* dout, int64_t n);
// cross_entropy.cu
void cross_entropy(const Context& ctx, float* logits, float* losses, int32_t* predictions,
                   const int32_t* targets, int64_t rows, int64_t vocab, float grad_scale);
// adamw.cu
void adamw_update(const Context& ctx, float* param, const float* grad, float* m, float* v,
                  int64_t n, const ops::AdamWHyper& hyper);
double sum_squares(const Context& ctx, const float* x, int64_t n);

// DeepSeek Sparse Attention (docs/design.md §4; contracts in ops/indexer.h, ops/topk.h,
// ops/sparse_attention.h, ops/indexer_loss.h). UNVERIFIED ON HARDWARE: compiled, never run on a GPU.
// Bad inputs (a NaN score, a bad index list) throw dsa::Error naming batch, query and key or slot,
// as the CPU twin does; finding them costs one stream synchronisation per call.
// dsa_indexer.cu (no workspace)
void indexer_forward(const Context& ctx, float* scores, const float* q, const float* k,
                     const float* w, const ops::IndexerShape& shape);
void indexer_backward(const Context& ctx, float* dq, float* dk, float* dw, const float* dscores,
                      const float* q, const float* k, const float* w,
                      const ops::IndexerShape& shape);
// dsa_topk.cu
void topk_select(const Context& ctx, int32_t* indices, const float* scores,
                 const ops::TopKShape& shape);
// dsa_sparse_attention.cu
void sparse_attention_forward(const Context& ctx, float* out, float* lse, const float* q,
                              const float* k, const float* v, const ops::IndexLists& lists,
                              const AttentionShape& shape);
void sparse_attention_backward(const Context& ctx, float* dq, float* dk, float* dv,
                               const float* dout, const float* out, const float* lse,
                               const float* q, const float* k, const float* v,
                               const ops::IndexLists& lists, const AttentionShape& shape);
// dsa_indexer_loss.cu
double indexer_loss(const Context& ctx, float* dscores, float* row_loss, const float* scores,
                    const float* q, const float* k, const float* lse,
                    const ops::IndexLists& domain, const AttentionShape& shape);
void attention_target(const Context& ctx, float* target, const float* q, const float* k,
                      const float* lse, const AttentionShape& shape);

// Bytes of ctx.workspace each op family needs for the model's largest calls; the backend's
// workspace_bytes is the maximum of these (ops run one after another on one stream).
size_t embedding_workspace(const ops::WorkspaceQuery& query);  // the backward's sort of query.rows
size_t rmsnorm_workspace(const ops::WorkspaceQuery& query);
size_t attention_workspace(const ops::WorkspaceQuery& query);
size_t sum_squares_workspace(const ops::WorkspaceQuery& query);
// The DSA ops (0 when query.indexer.heads == 0), and each op's own for one call's shape.
size_t dsa_workspace(const ops::WorkspaceQuery& query);
size_t topk_workspace(const ops::TopKShape& shape);
size_t sparse_attention_workspace(const AttentionShape& shape, int64_t list_width);
size_t indexer_loss_workspace(const AttentionShape& shape, int64_t list_width);  // 0: dense domain

}  // namespace dsa::DSA_CUDA_TWIN
