// The backend table: one entry per op of the contracts in src/ops/. The model layer calls ops only
// through this table, so the CPU twin (cpu/backend.cpp) and the CUDA twin (cuda/) are
// interchangeable. T is float for training; the CPU twin also instantiates double (gradient checks).
#pragma once
#include "ops/adamw.h"
#include "ops/attention.h"
#include "ops/context.h"
#include "ops/cross_entropy.h"
#include "ops/embedding.h"
#include "ops/indexer.h"
#include "ops/indexer_loss.h"
#include "ops/matmul.h"
#include "ops/memory.h"
#include "ops/residual.h"
#include "ops/rmsnorm.h"
#include "ops/rope.h"
#include "ops/sparse_attention.h"
#include "ops/swiglu.h"
#include "ops/topk.h"
#include "ops/workspace.h"

namespace dsa::ops {

template <class T>
struct Backend {
  const char* name;
  Device device;
  MemoryOps memory;
  // A context on this twin's device: its stream and BLAS handle (workspace left empty).
  Context (*make_context)();
  EmbeddingForward<T>* embedding_forward;
  EmbeddingBackward<T>* embedding_backward;
  RmsNormForward<T>* rmsnorm_forward;
  RmsNormBackward<T>* rmsnorm_backward;
  Gemm<T>* gemm;
  MatmulForward<T>* matmul_forward;
  MatmulBackward<T>* matmul_backward;
  RopeApply<T>* rope_forward;
  RopeApply<T>* rope_backward;
  AttentionForward<T>* attention_forward;
  AttentionBackward<T>* attention_backward;
  WorkspaceBytes* workspace_bytes;
  SwiGluForward<T>* swiglu_forward;
  SwiGluBackward<T>* swiglu_backward;
  ResidualForward<T>* residual_forward;
  ResidualBackward<T>* residual_backward;
  CrossEntropy<T>* cross_entropy;
  AdamWUpdate<T>* adamw_update;
  SumSquares<T>* sum_squares;
  // DeepSeek Sparse Attention (docs/design.md §4). A twin that lacks them leaves them null; the model
  // refuses the warmup and sparse stages on it, naming the missing op.
  IndexerForward<T>* indexer_forward;
  IndexerBackward<T>* indexer_backward;
  TopKSelect<T>* topk_select;
  SparseAttentionForward<T>* sparse_attention_forward;
  SparseAttentionBackward<T>* sparse_attention_backward;
  IndexerLoss<T>* indexer_loss;
  AttentionTarget<T>* attention_target;
};

}  // namespace dsa::ops
