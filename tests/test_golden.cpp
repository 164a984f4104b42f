// Golden fixtures (tools/make_golden.py, PyTorch float64): the same weights and tokens through
// dsatrain must give the same logits, loss and every parameter gradient.
// Tolerances: the double twin agrees to 1e-9 relative (only summation order differs); the float
// twin to 2e-5 (fp32 rounding over two layers).
#include <cmath>
#include <string>

#include "core/safetensors.h"
#include "cpu/cpu_ops.h"
#include "model/model.h"
#include "test_util.h"

namespace dsa {
namespace {

struct Golden {
  SafeTensorsFile file;
  config::ModelConfig model;
  int64_t batch = 0;
};

Golden load_golden(const std::string& name) {
  Golden g;
  g.file = read_safetensors(std::string(DSA_SOURCE_DIR) + "/tests/golden/" + name);
  auto meta = [&](const char* key) { return g.file.metadata.at(key); };
  g.model.vocab_size = std::stoll(meta("vocab_size"));
  g.model.d_model = std::stoll(meta("d_model"));
  g.model.n_layers = std::stoll(meta("n_layers"));
  g.model.n_heads = std::stoll(meta("n_heads"));
  g.model.n_kv_heads = std::stoll(meta("n_kv_heads"));
  g.model.d_ff = std::stoll(meta("d_ff"));
  g.model.seq_len = std::stoll(meta("seq_len"));
  g.model.tie_embeddings = meta("tie_embeddings") == "true";
  g.model.rope_theta = std::stod(meta("rope_theta"));
  g.model.norm_eps = std::stod(meta("norm_eps"));
  g.batch = std::stoll(meta("batch"));
  return g;
}

using test::relative_error;

template <class T>
void check_against_golden(const std::string& name, double tolerance) {
  const Golden g = load_golden(name);
  const config::ModelConfig& m = g.model;
  model::Model<T> net(m, config::OptimizerConfig{}, cpu::backend<T>(), g.batch);
  for (const model::ParamSpec& spec : net.layout().specs) {
    const std::vector<double> values = tensor_values<double>(g.file, spec.name, spec.shape);
    std::copy(values.begin(), values.end(), spec.view(net.params()).data);
  }
  const Shape tokens_shape{g.batch, m.seq_len};
  const std::vector<int32_t> inputs = tensor_values<int32_t>(g.file, "inputs", tokens_shape);
  const std::vector<int32_t> targets = tensor_values<int32_t>(g.file, "targets", tokens_shape);
  const int64_t rows = g.batch * m.seq_len;

  const double loss = net.forward(inputs.data(), targets.data(), g.batch, m.seq_len, 0.0) / rows;
  const double golden_loss = tensor_values<double>(g.file, "loss", {})[0];
  EXPECT_NEAR(loss, golden_loss, tolerance * golden_loss) << name;
  std::vector<T> logits;
  net.read_logits(logits);
  const std::vector<double> golden_logits = tensor_values<double>(g.file, "logits", {g.batch, m.seq_len, m.vocab_size});
  EXPECT_LT(relative_error(std::vector<double>(logits.begin(), logits.end()), golden_logits), tolerance) << name << " logits";

  net.zero_grads();
  net.forward(inputs.data(), targets.data(), g.batch, m.seq_len, 1.0 / rows);
  net.backward();
  for (const model::ParamSpec& spec : net.layout().specs) {
    const std::vector<double> golden = tensor_values<double>(g.file, "grad." + spec.name, spec.shape);
    const TensorView<T> grad = spec.view(net.grads());
    const std::vector<double> ours(grad.data, grad.data + grad.numel());
    EXPECT_LT(relative_error(ours, golden), tolerance) << name << " gradient of " << spec.name;
  }
}

TEST(Golden, TiedGqaDouble) { check_against_golden<double>("dense_tied.safetensors", 1e-9); }
TEST(Golden, UntiedDouble) { check_against_golden<double>("dense_untied.safetensors", 1e-9); }
TEST(Golden, TiedGqaFloat) { check_against_golden<float>("dense_tied.safetensors", 2e-5); }
TEST(Golden, UntiedFloat) { check_against_golden<float>("dense_untied.safetensors", 2e-5); }

}  // namespace
}  // namespace dsa
