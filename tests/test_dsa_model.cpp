// DeepSeek Sparse Attention inside the model (docs/design.md §4), on the CPU twin:
//   - gradient checks in double: the indexer's gradient is exactly that of its L_I (warm-up over
//     s <= t, sparse stage over S_t), the main model's that of the LM loss through sparse attention;
//   - detach: the LM loss gives every indexer weight an exactly zero gradient and L_I every main
//     weight an exactly zero gradient, and with both the gradients are the bits of each alone;
//   - k >= T: sparse attention's model equals the dense model (loss, logits, gradients);
//   - causality: tokens after t change no selection, score, logit or loss at <= t, for k = 1,
//     small k and k >= T, across the attention's 64-row block.
#include <algorithm>
#include <cmath>

#include "cpu/cpu_ops.h"
#include "model/accounting.h"
#include "model/model.h"
#include "test_util.h"

namespace dsa {
namespace {

using model::AttentionMode;

config::ModelConfig tiny_model(int64_t seq = 6) {
  config::ModelConfig m;
  m.vocab_size = 13;
  m.d_model = 8;
  m.n_layers = 2;
  m.n_heads = 2;
  m.n_kv_heads = 1;
  m.d_ff = 12;
  m.seq_len = seq;
  m.init_std = 0.3;  // large enough that every path carries a visible gradient
  return m;
}

model::DsaSpec tiny_indexer(int64_t k, bool weights = true) {
  config::IndexerConfig ix;
  ix.heads = 2;
  ix.dim = 4;
  ix.rope_dims = 2;
  ix.weights = weights;
  return {ix, k};
}

// Positions of the parameters of one optimizer group inside the parameter buffer.
std::vector<int64_t> group_elements(const model::ParamLayout& layout, model::ParamGroup group) {
  std::vector<int64_t> at;
  for (const model::ParamSpec& spec : layout.specs)
    if (spec.group == group)
      for (int64_t i = 0; i < spec.numel(); ++i) at.push_back(spec.offset + i);
  return at;
}

template <class T>
std::vector<double> gather(const T* buffer, const std::vector<int64_t>& at) {
  std::vector<double> values;
  for (int64_t i : at) values.push_back(double(buffer[i]));
  return values;
}

template <class T>
std::vector<T> all_of(const T* buffer, int64_t count) {
  return std::vector<T>(buffer, buffer + count);
}

struct Batch {
  int64_t batch, seq;
  std::vector<int32_t> inputs, targets;
};

Batch random_batch(const config::ModelConfig& m, int64_t batch, uint64_t seed) {
  return {batch, m.seq_len, test::random_tokens(batch * m.seq_len, m.vocab_size, seed),
          test::random_tokens(batch * m.seq_len, m.vocab_size, seed + 100)};
}

template <class T>
double run(model::Model<T>& net, const Batch& b, const model::ForwardOptions& options) {
  return net.forward(b.inputs.data(), b.targets.data(), b.batch, b.seq, options);
}

model::ForwardOptions train_options(double lm_grad_scale, bool indexer_grad) {
  model::ForwardOptions options;
  options.lm_grad_scale = lm_grad_scale;
  options.indexer_grad = indexer_grad;
  return options;
}

double sum_of(const std::vector<double>& values) {
  double sum = 0;
  for (double v : values) sum += v;
  return sum;
}

// The lists every layer used in the last forward, to force them in later forwards: selection is
// piecewise constant, so central differences must not cross a change of S_t.
template <class T>
std::vector<std::vector<int32_t>> current_lists(const model::Model<T>& net, int64_t layers) {
  std::vector<std::vector<int32_t>> lists(layers);
  for (int64_t l = 0; l < layers; ++l) net.read_lists(l, lists[l]);
  return lists;
}

// d(sum over layers of L_I)/d(indexer weights) == the indexer gradients forward() accumulates.
void check_indexer_gradient(AttentionMode mode, bool weights) {
  const config::ModelConfig m = tiny_model();
  const int64_t k = 3;
  model::Model<double> net(m, config::OptimizerConfig{}, cpu::backend<double>(), 2,
                           tiny_indexer(k, weights));
  net.init_weights(5);
  net.set_mode(mode, k);
  const Batch b = random_batch(m, 2, 1);
  model::DsaProbe<double> probe;
  net.set_probe(&probe);
  net.zero_grads();
  run(net, b, train_options(0.0, true));
  if (mode == AttentionMode::sparse) probe.forced_lists = current_lists(net, m.n_layers);
  const std::vector<int64_t> at = group_elements(net.layout(), model::ParamGroup::indexer);
  const std::vector<double> analytic = gather(net.grads(), at);
  auto loss = [&](const std::vector<std::vector<double>>& in) {
    for (size_t i = 0; i < at.size(); ++i) net.params()[at[i]] = in[0][i];
    run(net, b, train_options(0.0, true));
    return sum_of(net.dsa_stats().indexer_loss);
  };
  test::expect_gradients({gather(net.params(), at)}, loss, {analytic}, {"indexer weights"}, 1e-6);
}

TEST(DsaModelGradCheck, IndexerGetsItsWarmupLoss) {
  check_indexer_gradient(AttentionMode::warmup, true);
  check_indexer_gradient(AttentionMode::warmup, false);
}

TEST(DsaModelGradCheck, IndexerGetsItsSparseLoss) {
  check_indexer_gradient(AttentionMode::sparse, true);
}

TEST(DsaModelGradCheck, MainModelGetsTheLmLossThroughSparseAttention) {
  const config::ModelConfig m = tiny_model();
  const int64_t k = 2;
  model::Model<double> net(m, config::OptimizerConfig{}, cpu::backend<double>(), 2,
                           tiny_indexer(k));
  net.init_weights(7);
  net.set_mode(AttentionMode::sparse, k);
  const Batch b = random_batch(m, 2, 3);
  const double scale = 1.0 / double(b.batch * b.seq);
  model::DsaProbe<double> probe;
  net.set_probe(&probe);
  net.zero_grads();
  run(net, b, train_options(scale, false));
  net.backward();
  probe.forced_lists = current_lists(net, m.n_layers);
  const std::vector<int64_t> at = group_elements(net.layout(), model::ParamGroup::main);
  const std::vector<double> analytic = gather(net.grads(), at);
  auto loss = [&](const std::vector<std::vector<double>>& in) {
    for (size_t i = 0; i < at.size(); ++i) net.params()[at[i]] = in[0][i];
    return run(net, b, train_options(0.0, false)) * scale;
  };
  test::expect_gradients({gather(net.params(), at)}, loss, {analytic}, {"main weights"}, 1e-6);
}

// Gradients of a sparse-stage step with the LM loss, L_I, or both.
struct Gradients {
  std::vector<float> lm_only, indexer_only, both;
};

Gradients sparse_gradients(model::Model<float>& net, const Batch& b) {
  const int64_t total = net.layout().total;
  const double scale = 1.0 / double(b.batch * b.seq);
  Gradients g;
  net.zero_grads();
  run(net, b, train_options(scale, false));
  net.backward();
  g.lm_only = all_of(net.grads(), total);
  net.zero_grads();
  run(net, b, train_options(0.0, true));
  g.indexer_only = all_of(net.grads(), total);
  net.zero_grads();
  run(net, b, train_options(scale, true));
  net.backward();
  g.both = all_of(net.grads(), total);
  return g;
}

TEST(DsaModelDetach, EachLossReachesOnlyItsOwnGroup) {
  config::ModelConfig m = tiny_model(40);
  m.d_model = 32;
  m.n_heads = 4;
  m.n_kv_heads = 2;
  m.init_std = 0.1;
  const int64_t k = 8;
  model::Model<float> net(m, config::OptimizerConfig{}, cpu::backend<float>(), 3, tiny_indexer(k));
  net.init_weights(11);
  net.set_mode(AttentionMode::sparse, k);
  const Gradients g = sparse_gradients(net, random_batch(m, 3, 5));
  for (const model::ParamSpec& spec : net.layout().specs) {
    const bool indexer = spec.group == model::ParamGroup::indexer;
    double own_norm = 0;
    for (int64_t i = spec.offset; i < spec.offset + spec.numel(); ++i) {
      const float from_lm = g.lm_only[i], from_indexer_loss = g.indexer_only[i];
      if (indexer) {
        ASSERT_EQ(from_lm, 0.0f) << "the LM loss reached indexer weight " << spec.name;
        ASSERT_EQ(g.both[i], from_indexer_loss) << spec.name;
      } else {
        ASSERT_EQ(from_indexer_loss, 0.0f) << "L_I reached main weight " << spec.name;
        ASSERT_EQ(g.both[i], from_lm) << spec.name;
      }
      own_norm += std::abs(indexer ? from_indexer_loss : from_lm);
    }
    EXPECT_GT(own_norm, 0.0) << spec.name << " got no gradient from its own loss";
  }
}

// With k >= T every S_t is {s <= t}: the sparse model is the dense model to rounding.
TEST(DsaModelEquivalence, SparseWithFullListsIsDense) {
  const config::ModelConfig m = tiny_model(9);
  const int64_t k = 16;  // > T: clamped to T
  model::Model<double> net(m, config::OptimizerConfig{}, cpu::backend<double>(), 2,
                           tiny_indexer(k));
  net.init_weights(13);
  const Batch b = random_batch(m, 2, 7);
  const double scale = 1.0 / double(b.batch * b.seq);
  std::vector<double> dense_logits, sparse_logits;
  model::ForwardOptions eval;
  eval.predictions = true;
  net.set_mode(AttentionMode::dense);
  const double dense_loss = run(net, b, eval);
  net.read_logits(dense_logits);
  net.zero_grads();
  run(net, b, train_options(scale, false));
  net.backward();
  const std::vector<double> dense_grads = all_of(net.grads(), net.layout().total);

  net.set_mode(AttentionMode::sparse, k);
  const double sparse_loss = run(net, b, eval);
  net.read_logits(sparse_logits);
  net.zero_grads();
  run(net, b, train_options(scale, false));
  net.backward();
  const std::vector<double> sparse_grads = all_of(net.grads(), net.layout().total);
  EXPECT_NEAR(sparse_loss, dense_loss, 1e-12 * std::abs(dense_loss));
  EXPECT_LT(test::relative_error(sparse_logits, dense_logits), 1e-12);
  EXPECT_LT(test::relative_error(sparse_grads, dense_grads), 1e-10);
  EXPECT_GT(test::relative_error(dense_grads, std::vector<double>(dense_grads.size(), 0.0)), 0.5);
}

// Everything the model computes at positions <= t, for one forward.
struct Observed {
  std::vector<float> logits, losses;
  std::vector<std::vector<int32_t>> lists;
  std::vector<std::vector<float>> scores;
};

Observed observe(model::Model<float>& net, model::DsaProbe<float>& probe,
                 const std::vector<int32_t>& tokens) {
  const int64_t seq = int64_t(tokens.size()), layers = net.config().n_layers;
  model::ForwardOptions options;
  options.predictions = true;
  options.selection_metrics = true;  // warm-up selects only when measuring
  Observed o;
  net.forward(tokens.data(), tokens.data(), 1, seq, options);
  net.read_logits(o.logits);
  std::vector<int32_t> predictions;
  net.read_token_losses(o.losses, predictions);
  o.lists = current_lists(net, layers);
  o.scores = probe.scores;
  return o;
}

// Row-major [T, width] buffers: rows <= t equal bit for bit.
template <class T>
void expect_rows_equal(const std::vector<T>& a, const std::vector<T>& b, int64_t t, int64_t width,
                       const std::string& what) {
  for (int64_t i = 0; i < (t + 1) * width; ++i)
    ASSERT_EQ(a[i], b[i]) << what << " of position " << i / width << " changed when tokens after "
                          << t << " changed";
}

void check_causality(AttentionMode mode, int64_t k) {
  config::ModelConfig m = tiny_model(70);  // crosses the 64-row attention and loss blocks
  m.d_model = 16;
  m.n_heads = 2;
  model::Model<float> net(m, config::OptimizerConfig{}, cpu::backend<float>(), 1, tiny_indexer(k));
  net.init_weights(9);
  net.set_mode(mode, k);
  model::DsaProbe<float> probe;
  probe.capture_scores = true;
  net.set_probe(&probe);
  const std::vector<int32_t> base = test::random_tokens(m.seq_len, m.vocab_size, 3);
  const Observed reference = observe(net, probe, base);
  const int64_t width = std::min(k, m.seq_len), V = m.vocab_size, T = m.seq_len;
  for (int64_t t : {int64_t(0), int64_t(1), int64_t(k - 1), int64_t(40), int64_t(64)}) {
    if (t < 0 || t >= T - 1) continue;
    std::vector<int32_t> tokens = base;
    for (int64_t s = t + 1; s < T; ++s) tokens[s] = (tokens[s] + 1 + s) % V;
    const Observed changed = observe(net, probe, tokens);
    const std::string where = " (k=" + std::to_string(k) + ")";
    expect_rows_equal(reference.logits, changed.logits, t, V, "logits" + where);
    expect_rows_equal(reference.losses, changed.losses, t, 1, "token loss" + where);
    for (int64_t l = 0; l < m.n_layers; ++l) {
      expect_rows_equal(reference.lists[l], changed.lists[l], t, width, "selection" + where);
      expect_rows_equal(reference.scores[l], changed.scores[l], t, T, "indexer scores" + where);
    }
    EXPECT_NE(reference.logits, changed.logits) << "later positions must change (the test can fail)";
  }
}

TEST(DsaModelCausality, SparseStage) {
  for (int64_t k : {1, 5, 70, 100}) check_causality(AttentionMode::sparse, k);
}

TEST(DsaModelCausality, WarmupStage) { check_causality(AttentionMode::warmup, 5); }

TEST(DsaModelErrors, ModesNeedTheIndexer) {
  const config::ModelConfig m = tiny_model();
  model::Model<float> dense_only(m, config::OptimizerConfig{}, cpu::backend<float>(), 1);
  EXPECT_HAS(test::error_of([&] { dense_only.set_mode(AttentionMode::sparse, 2); }),
             "needs the lightning indexer");
  model::Model<float> net(m, config::OptimizerConfig{}, cpu::backend<float>(), 1, tiny_indexer(3));
  EXPECT_HAS(test::error_of([&] { net.set_mode(AttentionMode::sparse, 4); }),
             "exceeds the planned index-list width 3");
}

}  // namespace
}  // namespace dsa

namespace dsa {
namespace {

TEST(DsaAccounting, CountsMatchTheModel) {
  config::Config cfg;
  cfg.model = tiny_model(37);
  cfg.indexer = tiny_indexer(5).indexer;
  cfg.selection.k = 5;
  cfg.train.batch_size = 3;
  cfg.stages = {config::StageConfig{}, config::StageConfig{}};
  cfg.stages[0].steps = cfg.stages[1].steps = 1;
  cfg.stages[1].kind = config::StageKind::sparse;
  const model::LayerAccounting a = model::account_layer(cfg);
  const model::ParamLayout layout =
      model::make_param_layout(cfg.model, cfg.optimizer, &cfg.indexer);
  int64_t indexer_params = 0, attention_params = 0;
  for (const model::ParamSpec& spec : layout.specs) {
    if (spec.name.rfind("model.layers.0.", 0) != 0) continue;
    if (spec.group == model::ParamGroup::indexer) indexer_params += spec.numel();
    else if (spec.name.find("self_attn.") != std::string::npos) attention_params += spec.numel();
  }
  EXPECT_EQ(a.indexer_params, indexer_params);
  EXPECT_EQ(a.attention_params, attention_params);
  double sparse_pairs = 0;
  for (int64_t t = 0; t < 37; ++t) sparse_pairs += std::min<int64_t>(5, t + 1);
  EXPECT_EQ(a.dense_pairs, 37.0 * 38.0 / 2.0);
  EXPECT_EQ(a.sparse_pairs, sparse_pairs);
  EXPECT_EQ(a.list_width, 5);
  // docs/kernels.md §K2: 14 pairs Dh per head (forward 4 + backward 10), times the batch.
  EXPECT_DOUBLE_EQ(a.attention_sparse_flops, 14.0 * 3 * sparse_pairs * 4 * 2);
  EXPECT_DOUBLE_EQ(a.lists_bytes, 3.0 * 37 * 5 * 4);
  const std::string text = model::describe(a, cfg);
  EXPECT_HAS(text, "sparse k=5");
  EXPECT_HAS(text, "indexer 2x4");
}

}  // namespace
}  // namespace dsa
