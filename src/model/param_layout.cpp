#include "model/param_layout.h"

#include <cmath>

#include "core/error.h"

namespace dsa::model {

namespace {

// Appends specs and assigns offsets; every tensor starts on a 64-element boundary so that each
// one is aligned for vector loads on both twins.
class LayoutBuilder {
 public:
  explicit LayoutBuilder(bool decay_norms_and_embeddings)
      : decay_norms_and_embeddings_(decay_norms_and_embeddings) {}

  // fused_with_next: the next tensor follows without an alignment gap (one fused GEMM operand).
  int64_t matrix(const std::string& name, Shape shape, double init_std,
                 bool fused_with_next = false, ParamGroup group = ParamGroup::main) {
    return add({name, std::move(shape), 0, init_std, true, group}, !fused_with_next);
  }
  int64_t embedding(const std::string& name, Shape shape, double init_std) {
    return add({name, std::move(shape), 0, init_std, decay_norms_and_embeddings_, ParamGroup::main});
  }
  int64_t norm(const std::string& name, int64_t dim) {
    return add({name, {dim}, 0, 0.0, decay_norms_and_embeddings_, ParamGroup::main});
  }
  ParamLayout& layout() { return layout_; }

 private:
  int64_t add(ParamSpec spec, bool pad_after = true) {
    constexpr int64_t kAlignElems = 64;
    spec.offset = layout_.total;
    layout_.total += pad_after ? (spec.numel() + kAlignElems - 1) / kAlignElems * kAlignElems
                               : spec.numel();
    layout_.specs.push_back(std::move(spec));
    return layout_.specs.back().offset;
  }
  ParamLayout layout_;
  bool decay_norms_and_embeddings_;
};

}  // namespace

const ParamSpec& ParamLayout::find(const std::string& name) const {
  for (const ParamSpec& spec : specs)
    if (spec.name == name) return spec;
  fail("model: no parameter named '", name, "'");
}

int64_t indexer_projection_rows(const config::IndexerConfig& indexer) {
  return indexer.heads * indexer.dim + indexer.dim + (indexer.weights ? indexer.heads : 0);
}

namespace {

// wq, wk and weights_proj are adjacent: one [indexer_projection_rows, D] GEMM operand.
int64_t add_indexer(LayoutBuilder& builder, const std::string& prefix,
                    const config::IndexerConfig& indexer, int64_t D, double std) {
  const ParamGroup group = ParamGroup::indexer;
  const std::string name = prefix + "self_attn.indexer.";
  const int64_t offset = builder.matrix(name + "wq.weight", {indexer.heads * indexer.dim, D}, std,
                                        true, group);
  builder.matrix(name + "wk.weight", {indexer.dim, D}, std, indexer.weights, group);
  if (indexer.weights)
    builder.matrix(name + "weights_proj.weight", {indexer.heads, D}, std, false, group);
  return offset;
}

}  // namespace

ParamLayout make_param_layout(const config::ModelConfig& m,
                              const config::OptimizerConfig& optimizer,
                              const config::IndexerConfig* indexer) {
  const int64_t D = m.d_model, Dh = m.head_dim(), H = m.n_heads, Hkv = m.n_kv_heads;
  const double std = m.init_std, out_std = m.init_std / std::sqrt(2.0 * m.n_layers);
  LayoutBuilder builder(optimizer.decay_norms_and_embeddings);
  ParamLayout& layout = builder.layout();
  layout.embed = builder.embedding("model.embed_tokens.weight", {m.vocab_size, D}, std);
  for (int64_t l = 0; l < m.n_layers; ++l) {
    const std::string prefix = "model.layers." + std::to_string(l) + ".";
    LayerOffsets offsets{};
    offsets.attn_norm = builder.norm(prefix + "input_layernorm.weight", D);
    offsets.wqkv = builder.matrix(prefix + "self_attn.q_proj.weight", {H * Dh, D}, std, true);
    builder.matrix(prefix + "self_attn.k_proj.weight", {Hkv * Dh, D}, std, true);
    builder.matrix(prefix + "self_attn.v_proj.weight", {Hkv * Dh, D}, std);
    offsets.wo = builder.matrix(prefix + "self_attn.o_proj.weight", {D, H * Dh}, out_std);
    offsets.mlp_norm = builder.norm(prefix + "post_attention_layernorm.weight", D);
    offsets.w_gate_up = builder.matrix(prefix + "mlp.gate_proj.weight", {m.d_ff, D}, std, true);
    builder.matrix(prefix + "mlp.up_proj.weight", {m.d_ff, D}, std);
    offsets.w_down = builder.matrix(prefix + "mlp.down_proj.weight", {D, m.d_ff}, out_std);
    if (indexer != nullptr) offsets.indexer = add_indexer(builder, prefix, *indexer, D, std);
    layout.layers.push_back(offsets);
  }
  layout.final_norm = builder.norm("model.norm.weight", D);
  layout.lm_head = m.tie_embeddings ? layout.embed
                                    : builder.matrix("lm_head.weight", {m.vocab_size, D}, std);
  return layout;
}

}  // namespace dsa::model
