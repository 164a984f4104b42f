// The ops of the backend table, declared once (as FlashMLA declares its supported features once):
// the Backend struct (ops/backend.h), both twins' tables (cpu/backend.cpp, cuda/runtime.cu), the
// missing-op check of the DSA stages (ops::first_missing) and the table tests are all expanded
// from these lists. Adding an op: one line here, its contract in src/ops/, its two twins.
//
// X(member, Type): the table member `member`, of type Type<T>* (a function-pointer type from the
// op's contract header), implemented by each twin as a function of the same name.
#pragma once

// The dense model's ops: every twin has them all.
#define DSA_DENSE_OPS(X)                            \
  X(embedding_forward, EmbeddingForward)            \
  X(embedding_backward, EmbeddingBackward)          \
  X(rmsnorm_forward, RmsNormForward)                \
  X(rmsnorm_backward, RmsNormBackward)              \
  X(gemm, Gemm)                                     \
  X(matmul_forward, MatmulForward)                  \
  X(matmul_backward, MatmulBackward)                \
  X(rope_forward, RopeApply)                        \
  X(rope_backward, RopeApply)                       \
  X(attention_forward, AttentionForward)            \
  X(attention_backward, AttentionBackward)          \
  X(swiglu_forward, SwiGluForward)                  \
  X(swiglu_backward, SwiGluBackward)                \
  X(residual_forward, ResidualForward)              \
  X(residual_backward, ResidualBackward)            \
  X(cross_entropy, CrossEntropy)                    \
  X(adamw_update, AdamWUpdate)                      \
  X(sum_squares, SumSquares)

// DeepSeek Sparse Attention (docs/design.md §4): a twin may lack them (left null); the model then
// refuses the warmup and sparse stages on it, naming the first missing op.
#define DSA_SPARSE_OPS(X)                                 \
  X(indexer_forward, IndexerForward)                      \
  X(indexer_backward, IndexerBackward)                    \
  X(topk_select, TopKSelect)                              \
  X(sparse_attention_forward, SparseAttentionForward)     \
  X(sparse_attention_backward, SparseAttentionBackward)   \
  X(indexer_loss, IndexerLoss)                            \
  X(attention_target, AttentionTarget)

#define DSA_ALL_OPS(X) DSA_DENSE_OPS(X) DSA_SPARSE_OPS(X)
