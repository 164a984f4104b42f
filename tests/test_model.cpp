// Whole-model checks on the CPU twin: gradient check in double, causality, determinism.
#include "cpu/cpu_ops.h"
#include "model/model.h"
#include "test_util.h"

namespace dsa {
namespace {

config::ModelConfig tiny_model() {
  config::ModelConfig m;
  m.vocab_size = 13;
  m.d_model = 8;
  m.n_layers = 2;
  m.n_heads = 2;
  m.n_kv_heads = 1;
  m.d_ff = 12;
  m.seq_len = 5;
  m.init_std = 0.3;  // large enough that every path carries a visible gradient
  return m;
}

template <class T>
std::vector<T> read_params(const model::Model<T>& net) {
  return std::vector<T>(net.params(), net.params() + net.layout().total);
}

TEST(ModelGradCheck, EveryParameterDouble) {
  for (bool tied : {true, false}) {
    config::ModelConfig m = tiny_model();
    m.tie_embeddings = tied;
    const int64_t batch = 2;
    model::Model<double> net(m, config::OptimizerConfig{}, cpu::backend<double>(), batch);
    net.init_weights(5);
    // Norm gains away from 1 so that their gradients are exercised too.
    for (const model::ParamSpec& spec : net.layout().specs)
      if (spec.init_std == 0.0)
        for (int64_t i = 0; i < spec.numel(); ++i) net.params()[spec.offset + i] = 1.0 + 0.1 * philox_normal(3, spec.offset, i);
    const std::vector<int32_t> inputs = test::random_tokens(batch * m.seq_len, m.vocab_size, 1);
    const std::vector<int32_t> targets = test::random_tokens(batch * m.seq_len, m.vocab_size, 2);
    const double scale = 1.0 / (batch * m.seq_len);
    net.zero_grads();
    net.forward(inputs.data(), targets.data(), batch, m.seq_len, scale);
    net.backward();
    const std::vector<double> analytic(net.grads(), net.grads() + net.layout().total);
    auto loss = [&](const std::vector<std::vector<double>>& in) {
      std::copy(in[0].begin(), in[0].end(), net.params());
      return net.forward(inputs.data(), targets.data(), batch, m.seq_len, 0.0) * scale;
    };
    test::expect_gradients({read_params(net)}, loss, {analytic}, {tied ? "params (tied)" : "params (untied)"}, 1e-6);
  }
}

TEST(ModelCausality, LaterTokensChangeNoEarlierLogit) {
  config::ModelConfig m = tiny_model();
  m.seq_len = 70;  // crosses the attention's 64-row block
  model::Model<float> net(m, config::OptimizerConfig{}, cpu::backend<float>(), 1);
  net.init_weights(9);
  const std::vector<int32_t> base = test::random_tokens(m.seq_len, m.vocab_size, 3);
  std::vector<float> reference, changed;
  net.forward(base.data(), base.data(), 1, m.seq_len, 0.0);
  net.read_logits(reference);
  for (int64_t t : {int64_t(0), int64_t(1), int64_t(40), int64_t(64), int64_t(68)}) {
    std::vector<int32_t> tokens = base;
    for (int64_t s = t + 1; s < m.seq_len; ++s) tokens[s] = (tokens[s] + 1 + s) % m.vocab_size;
    net.forward(tokens.data(), tokens.data(), 1, m.seq_len, 0.0);
    net.read_logits(changed);
    for (int64_t i = 0; i < (t + 1) * m.vocab_size; ++i)
      ASSERT_EQ(reference[i], changed[i]) << "logit " << i % m.vocab_size << " of position "
                                          << i / m.vocab_size << " changed when tokens after "
                                          << t << " changed";
    // and the positions after t do change (the test can fail)
    bool any_later_changed = false;
    for (int64_t i = (t + 1) * m.vocab_size; i < m.seq_len * m.vocab_size; ++i)
      any_later_changed |= reference[i] != changed[i];
    EXPECT_TRUE(t == m.seq_len - 1 || any_later_changed);
  }
}

TEST(ModelDeterminism, SameInputsSameBits) {
  const config::ModelConfig m = tiny_model();
  model::Model<float> a(m, config::OptimizerConfig{}, cpu::backend<float>(), 3);
  model::Model<float> b(m, config::OptimizerConfig{}, cpu::backend<float>(), 3);
  a.init_weights(11);
  b.init_weights(11);
  EXPECT_EQ(read_params(a), read_params(b));
  const std::vector<int32_t> tokens = test::random_tokens(3 * m.seq_len, m.vocab_size, 4);
  a.zero_grads();
  b.zero_grads();
  EXPECT_EQ(a.forward(tokens.data(), tokens.data(), 3, m.seq_len, 1.0), b.forward(tokens.data(), tokens.data(), 3, m.seq_len, 1.0));
  a.backward();
  b.backward();
  EXPECT_EQ(std::vector<float>(a.grads(), a.grads() + a.layout().total), std::vector<float>(b.grads(), b.grads() + b.layout().total));
}

TEST(ModelInit, NormalWithScaledOutputProjections) {
  config::ModelConfig m = tiny_model();
  m.d_model = 64;
  m.n_heads = 4;
  m.n_kv_heads = 4;
  m.d_ff = 128;
  m.vocab_size = 512;
  m.init_std = 0.02;
  model::Model<float> net(m, config::OptimizerConfig{}, cpu::backend<float>(), 1);
  net.init_weights(1);
  auto std_of = [&](const std::string& name) {
    const model::ParamSpec& spec = net.layout().find(name);
    double sum_sq = 0;
    for (int64_t i = 0; i < spec.numel(); ++i) sum_sq += double(net.params()[spec.offset + i]) * net.params()[spec.offset + i];
    return std::sqrt(sum_sq / spec.numel());
  };
  EXPECT_NEAR(std_of("model.embed_tokens.weight"), 0.02, 0.001);
  EXPECT_NEAR(std_of("model.layers.0.mlp.up_proj.weight"), 0.02, 0.001);
  EXPECT_NEAR(std_of("model.layers.1.self_attn.o_proj.weight"), 0.01, 0.0005);  // 0.02 / sqrt(2 * 2)
  EXPECT_EQ(std_of("model.norm.weight"), 1.0);
}

}  // namespace
}  // namespace dsa
