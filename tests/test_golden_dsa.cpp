// DeepSeek Sparse Attention golden fixtures (tools/make_golden.py, PyTorch float64, docs/design.md §4):
// the same weights and tokens through dsatrain's model with a lightning indexer must give the
// golden indexer scores, selections, L_I per layer, LM loss, logits and every gradient, in the
// two indexer stages:
//   warm-up: dense attention, only the indexer trains (L_I over s <= t); the main gradients stay 0;
//   sparse:  S_t = top-k of the indexer scores; main model by the LM loss through the sparse
//            attention, indexer by L_I over S_t.
// Tolerances: the double twin agrees to 1e-9 relative (only summation order differs) and selects
// exactly the golden sets. The float twin agrees to 2e-5 relative; its sets must equal the golden
// ones except in rows whose golden k-th-place margin (sparse.margin.{l}, relative to the row's
// score scale) is below 1e-5, where rounding may legitimately pick another set: if any such row
// differs, the float run is redone with the golden lists forced (DsaProbe::forced_lists), so that
// losses and gradients compare on the same selection. (The committed fixtures keep every margin
// above 1e-4, so today the float twin must select the golden sets everywhere.)
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "core/safetensors.h"
#include "cpu/cpu_ops.h"
#include "model/model.h"
#include "test_util.h"

namespace dsa {
namespace {

constexpr double kFloatMarginFloor = 1e-5;  // below: float may select another set in that row

struct DsaGolden {
  std::string name;
  SafeTensorsFile file;
  config::ModelConfig model;
  config::IndexerConfig indexer;
  int64_t batch = 0, k = 0;
  std::vector<int32_t> inputs, targets;

  int64_t rows() const { return batch * model.seq_len; }
  std::vector<double> values(const std::string& tensor, const Shape& shape) const {
    return tensor_values<double>(file, tensor, shape);
  }
};

DsaGolden load_golden(const std::string& name) {
  DsaGolden g;
  g.name = name;
  g.file = read_safetensors(std::string(DSA_SOURCE_DIR) + "/tests/golden/" + name + ".safetensors");
  auto meta = [&](const char* key) { return g.file.metadata.at(key); };
  config::ModelConfig& m = g.model;
  m.vocab_size = std::stoll(meta("vocab_size"));
  m.d_model = std::stoll(meta("d_model"));
  m.n_layers = std::stoll(meta("n_layers"));
  m.n_heads = std::stoll(meta("n_heads"));
  m.n_kv_heads = std::stoll(meta("n_kv_heads"));
  m.d_ff = std::stoll(meta("d_ff"));
  m.seq_len = std::stoll(meta("seq_len"));
  m.tie_embeddings = meta("tie_embeddings") == "true";
  m.rope_theta = std::stod(meta("rope_theta"));
  m.norm_eps = std::stod(meta("norm_eps"));
  g.indexer.heads = std::stoll(meta("indexer_heads"));
  g.indexer.dim = std::stoll(meta("indexer_dim"));
  g.indexer.rope_dims = std::stoll(meta("indexer_rope_dims"));
  g.indexer.weights = meta("indexer_weights") == "true";
  g.batch = std::stoll(meta("batch"));
  g.k = std::stoll(meta("top_k"));
  const Shape tokens{g.batch, m.seq_len};
  g.inputs = tensor_values<int32_t>(g.file, "inputs", tokens);
  g.targets = tensor_values<int32_t>(g.file, "targets", tokens);
  return g;
}

using test::relative_error;

template <class T>
std::vector<double> as_double(const std::vector<T>& values) {
  return std::vector<double>(values.begin(), values.end());
}

// A model with the fixture's indexer and weights (loaded by tensor name).
template <class T>
std::unique_ptr<model::Model<T>> make_model(const DsaGolden& g) {
  auto net = std::make_unique<model::Model<T>>(g.model, config::OptimizerConfig{},
                                               cpu::backend<T>(), g.batch,
                                               model::DsaSpec{g.indexer, g.k});
  for (const model::ParamSpec& spec : net->layout().specs) {
    const std::vector<double> values = g.values(spec.name, spec.shape);
    std::copy(values.begin(), values.end(), spec.view(net->params()).data);
  }
  return net;
}

// The probe's scores of every layer against `prefix`.scores.{l}, on s <= t only (the golden
// files hold 0 above the diagonal, the model -inf).
template <class T>
void expect_scores(const DsaGolden& g, const model::DsaProbe<T>& probe, const std::string& prefix,
                   double tolerance) {
  const int64_t B = g.batch, Tn = g.model.seq_len;
  ASSERT_EQ(int64_t(probe.scores.size()), g.model.n_layers);
  for (int64_t l = 0; l < g.model.n_layers; ++l) {
    const std::vector<double> golden = g.values(prefix + ".scores." + std::to_string(l), {B, Tn, Tn});
    ASSERT_EQ(int64_t(probe.scores[l].size()), B * Tn * Tn);
    std::vector<double> ours, ref;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < Tn; ++t)
        for (int64_t s = 0; s <= t; ++s) {
          const int64_t at = (b * Tn + t) * Tn + s;
          ours.push_back(double(probe.scores[l][at]));
          ref.push_back(golden[at]);
        }
    EXPECT_LT(relative_error(ours, ref), tolerance) << g.name << " " << prefix << " scores of layer " << l;
  }
}

void expect_indexer_losses(const DsaGolden& g, const std::vector<double>& ours,
                           const std::string& prefix, double tolerance) {
  const std::vector<double> golden = g.values(prefix + ".indexer_loss", {g.model.n_layers});
  ASSERT_EQ(ours.size(), golden.size()) << g.name << " " << prefix << ": L_I per layer";
  for (size_t l = 0; l < golden.size(); ++l)
    EXPECT_NEAR(ours[l], golden[l], tolerance * golden[l]) << g.name << " " << prefix << " L_I of layer " << l;
}

// Warm-up: dense attention; the indexer's gradient from L_I over s <= t, the main model none.
template <class T>
void check_warmup(const std::string& name, double tolerance) {
  const DsaGolden g = load_golden(name);
  auto net = make_model<T>(g);
  model::DsaProbe<T> probe;
  probe.capture_scores = true;
  net->set_probe(&probe);
  net->set_mode(model::AttentionMode::warmup, g.k);
  net->zero_grads();
  const double loss = net->forward(g.inputs.data(), g.targets.data(), g.batch, g.model.seq_len,
                                   model::ForwardOptions{.lm_grad_scale = 0, .indexer_grad = true}) /
                      g.rows();
  const double golden_loss = g.values("warmup.loss", {})[0];
  EXPECT_NEAR(loss, golden_loss, tolerance * golden_loss) << name << " warm-up LM loss";
  expect_scores(g, probe, "warmup", tolerance);
  expect_indexer_losses(g, net->dsa_stats().indexer_loss, "warmup", tolerance);
  int indexer_tensors = 0;
  for (const model::ParamSpec& spec : net->layout().specs) {
    const TensorView<T> grad = spec.view(net->grads());
    const std::vector<double> ours(grad.data, grad.data + grad.numel());
    if (spec.group == model::ParamGroup::indexer) {
      ++indexer_tensors;
      EXPECT_LT(relative_error(ours, g.values("warmup.grad." + spec.name, spec.shape)), tolerance)
          << name << " warm-up gradient of " << spec.name;
    } else {
      EXPECT_EQ(std::count(ours.begin(), ours.end(), 0.0), int64_t(ours.size()))
          << name << " warm-up: the main model's " << spec.name << " got a gradient";
    }
  }
  EXPECT_EQ(indexer_tensors, g.model.n_layers * (g.indexer.weights ? 3 : 2)) << name;
}

// Rows (b, t) of layer l whose list differs from the golden one; each must be a row the golden
// margin marks as a near tie (allowed: true) or the selection is wrong.
struct ListMismatches {
  int64_t allowed = 0, wrong = 0;
};

template <class T>
ListMismatches compare_lists(const DsaGolden& g, const model::Model<T>& net, double margin_floor) {
  const int64_t B = g.batch, Tn = g.model.seq_len, k = std::min(g.k, Tn);
  ListMismatches result;
  for (int64_t l = 0; l < g.model.n_layers; ++l) {
    std::vector<int32_t> lists;
    net.read_lists(l, lists);
    const std::string layer = std::to_string(l);
    const std::vector<int32_t> golden = tensor_values<int32_t>(g.file, "sparse.lists." + layer, {B, Tn, k});
    const std::vector<double> margin = g.values("sparse.margin." + layer, {B, Tn});
    EXPECT_EQ(lists.size(), golden.size()) << g.name << " layer " << l;
    if (lists.size() != golden.size()) return {0, 1};
    for (int64_t row = 0; row < B * Tn; ++row) {
      if (std::equal(golden.begin() + row * k, golden.begin() + (row + 1) * k, lists.begin() + row * k))
        continue;
      const bool allowed = margin[row] < margin_floor;
      (allowed ? result.allowed : result.wrong) += 1;
      std::string ours_text, golden_text;
      for (int64_t j = 0; j < k; ++j)
        ours_text += " " + std::to_string(lists[row * k + j]),
            golden_text += " " + std::to_string(golden[row * k + j]);
      if (!allowed)
        ADD_FAILURE() << g.name << " layer " << l << " row (b " << row / Tn << ", t " << row % Tn
                      << "): selected {" << ours_text << " } golden {" << golden_text
                      << " } with golden k-th-place margin " << margin[row];
    }
  }
  return result;
}

// Sparse stage: selection, LM loss, L_I, every gradient, then the logits of a prediction forward.
// force_golden_lists: select nothing, run on the golden lists from the start (DsaProbe's path).
template <class T>
void check_sparse(const std::string& name, double tolerance, bool force_golden_lists = false) {
  const DsaGolden g = load_golden(name);
  const int64_t B = g.batch, Tn = g.model.seq_len, N = g.model.n_layers;
  auto net = make_model<T>(g);
  model::DsaProbe<T> probe;
  probe.capture_scores = true;
  net->set_probe(&probe);
  net->set_mode(model::AttentionMode::sparse, g.k);
  const model::ForwardOptions training{.lm_grad_scale = 1.0 / g.rows(), .indexer_grad = true};
  auto force_golden = [&] {
    const int64_t k = std::min(g.k, Tn);
    for (int64_t l = 0; l < N; ++l)
      probe.forced_lists.push_back(
          tensor_values<int32_t>(g.file, "sparse.lists." + std::to_string(l), {B, Tn, k}));
  };
  if (force_golden_lists) force_golden();
  auto train_step = [&] {
    net->zero_grads();
    const double loss =
        net->forward(g.inputs.data(), g.targets.data(), B, Tn, training) / g.rows();
    net->backward();
    return loss;
  };
  double loss = train_step();

  // The double twin selects exactly the golden sets; the float twin too, except in near-tie rows.
  const double margin_floor = std::is_same_v<T, double> ? 0.0 : kFloatMarginFloor;
  const ListMismatches mismatches = compare_lists(g, *net, margin_floor);
  EXPECT_EQ(mismatches.wrong, 0) << name;
  if (mismatches.allowed > 0) {
    // Compare the rest on the golden selection.
    force_golden();
    loss = train_step();
    EXPECT_EQ(compare_lists(g, *net, 0.0).wrong, 0) << name << ": the forced lists were not used";
  }

  const double golden_loss = g.values("sparse.loss", {})[0];
  EXPECT_NEAR(loss, golden_loss, tolerance * golden_loss) << name << " sparse LM loss";
  expect_scores(g, probe, "sparse", tolerance);
  expect_indexer_losses(g, net->dsa_stats().indexer_loss, "sparse", tolerance);
  for (const model::ParamSpec& spec : net->layout().specs) {
    const TensorView<T> grad = spec.view(net->grads());
    const std::vector<double> ours(grad.data, grad.data + grad.numel());
    EXPECT_LT(relative_error(ours, g.values("sparse.grad." + spec.name, spec.shape)), tolerance)
        << name << " sparse gradient of " << spec.name;
  }

  // Logits: only a forward without LM gradient leaves them in place.
  const double eval_loss =
      net->forward(g.inputs.data(), g.targets.data(), B, Tn, model::ForwardOptions{.predictions = true}) /
      g.rows();
  EXPECT_NEAR(eval_loss, golden_loss, tolerance * golden_loss) << name << " sparse LM loss (evaluation)";
  std::vector<T> logits;
  net->read_logits(logits);
  EXPECT_LT(relative_error(as_double(logits), g.values("sparse.logits", {B, Tn, g.model.vocab_size})),
            tolerance)
      << name << " sparse logits";
}

TEST(GoldenDsa, WarmupGqaWeightsDouble) { check_warmup<double>("dsa_gqa_weights", 1e-9); }
TEST(GoldenDsa, WarmupMhaNoWeightsDouble) { check_warmup<double>("dsa_mha_noweights", 1e-9); }
TEST(GoldenDsa, SparseGqaWeightsDouble) { check_sparse<double>("dsa_gqa_weights", 1e-9); }
TEST(GoldenDsa, SparseMhaNoWeightsDouble) { check_sparse<double>("dsa_mha_noweights", 1e-9); }
TEST(GoldenDsa, WarmupGqaWeightsFloat) { check_warmup<float>("dsa_gqa_weights", 2e-5); }
TEST(GoldenDsa, WarmupMhaNoWeightsFloat) { check_warmup<float>("dsa_mha_noweights", 2e-5); }
TEST(GoldenDsa, SparseGqaWeightsFloat) { check_sparse<float>("dsa_gqa_weights", 2e-5); }
TEST(GoldenDsa, SparseMhaNoWeightsFloat) { check_sparse<float>("dsa_mha_noweights", 2e-5); }
// The forced-list path the float check falls back on, exercised even when it is not needed.
TEST(GoldenDsa, SparseForcedListsFloat) { check_sparse<float>("dsa_mha_noweights", 2e-5, true); }
TEST(GoldenDsa, SparseForcedListsDouble) { check_sparse<double>("dsa_gqa_weights", 1e-9, true); }

}  // namespace
}  // namespace dsa
