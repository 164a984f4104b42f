// The model's tensor table: every parameter with its Hugging Face Llama name (docs/design.md §6), shape,
// offset in the parameter arena (in elements), initialisation and optimizer treatment. Gradients
// and AdamW moments use the same layout, so one offset addresses all four.
//
// Fused GEMMs rely on adjacency: q_proj, k_proj, v_proj are consecutive, so their rows form one
// [(H + 2 Hkv) Dh, D] matrix; gate_proj and up_proj likewise form one [2F, D] matrix.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/tensor.h"

namespace dsa::model {

enum class ParamGroup { main, indexer };

struct ParamSpec {
  std::string name;
  Shape shape;
  int64_t offset = 0;      // elements from the start of the parameter arena
  double init_std = 0.0;   // normal(0, init_std); 0 means "ones" (norm gains)
  bool weight_decay = true;
  ParamGroup group = ParamGroup::main;
  int64_t numel() const { return dsa::numel(shape); }
  // This tensor inside a parameter-layout buffer (parameters, gradients or either AdamW moment).
  template <class T>
  TensorView<T> view(T* base) const {
    return {base + offset, shape};
  }
};

// Offsets of one transformer layer's tensors. indexer: the lightning indexer's fused projection
// [wq (HI dI rows) | wk (dI rows) | weights_proj (HI rows, only with indexer.weights)] x D, one
// GEMM operand; -1 when the model has no indexer.
struct LayerOffsets {
  int64_t attn_norm, wqkv, wo, mlp_norm, w_gate_up, w_down;
  int64_t indexer = -1;
};

struct ParamLayout {
  std::vector<ParamSpec> specs;
  std::vector<LayerOffsets> layers;
  int64_t embed = 0, final_norm = 0, lm_head = 0;  // lm_head == embed when tied
  int64_t total = 0;                               // elements

  const ParamSpec& find(const std::string& name) const;  // throws naming the tensor
};

// indexer: the lightning indexer's shape (docs/design.md §4), or null for a model without one (a run
// whose stages are all dense). Indexer tensors form the ParamGroup::indexer optimizer group.
ParamLayout make_param_layout(const config::ModelConfig& model,
                              const config::OptimizerConfig& optimizer,
                              const config::IndexerConfig* indexer = nullptr);

// Rows of the fused indexer projection: HI dI + dI (+ HI with per-head weights).
int64_t indexer_projection_rows(const config::IndexerConfig& indexer);

}  // namespace dsa::model
