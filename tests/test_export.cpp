// Export to the Hugging Face Llama layout and import back: names, shapes, config.json, exact
// float32 round trip, bf16 within its rounding, and an independent numpy reader of our file.
#include <cstdio>
#include <filesystem>

#include "core/file_io.h"
#include "core/json.h"
#include "core/safetensors.h"
#include "model/param_layout.h"
#include "train/checkpoint.h"
#include "train/model_io.h"
#include "test_util.h"

namespace dsa {
namespace {

namespace fs = std::filesystem;

struct Exported {
  config::Config cfg;
  model::ParamLayout layout;
  std::vector<float> params;
  std::string dir, checkpoint;
};

Exported make_checkpoint(const std::string& name, bool tied, bool dsa = false) {
  Exported e;
  e.dir = fs::absolute("scratch/export/" + name).string();
  fs::remove_all(e.dir);
  fs::create_directories(e.dir);
  config::ModelConfig& m = e.cfg.model;
  m.vocab_size = 300, m.d_model = 32, m.n_layers = 2, m.n_heads = 4, m.n_kv_heads = 2, m.d_ff = 40, m.seq_len = 16;
  m.tie_embeddings = tied;
  e.cfg.stages.push_back(config::StageConfig{});
  e.cfg.stages.back().steps = 3;
  if (dsa) {  // a DSA run: the indexer's tensors and a sparse last stage
    e.cfg.indexer.heads = 2, e.cfg.indexer.dim = 8, e.cfg.indexer.rope_dims = 4;
    e.cfg.selection.k = 5;
    e.cfg.stages.back().kind = config::StageKind::sparse;
  }
  e.layout = model::make_param_layout(m, e.cfg.optimizer, dsa ? &e.cfg.indexer : nullptr);
  e.params = test::random_vector<float>(e.layout.total, 77, 0.05);
  const std::vector<float> moments(e.layout.total, 0.5f);
  e.checkpoint = e.dir + "/step_3.ckpt";
  train::save_training_state(e.checkpoint, e.cfg, e.layout, {e.params.data(), moments.data(), moments.data(), 3, {3, 0}});
  return e;
}

TEST(Export, HuggingFaceLayoutAndExactRoundTrip) {
  for (bool tied : {true, false}) {
    const Exported e = make_checkpoint(tied ? "tied" : "untied", tied);
    train::export_model(e.checkpoint, e.dir + "/hf", "F32");
    const SafeTensorsFile file = read_safetensors(e.dir + "/hf/model.safetensors");
    EXPECT_EQ(file.metadata.at("format"), "pt");
    EXPECT_EQ(file.contains("lm_head.weight"), !tied);
    EXPECT_EQ(file.at("model.layers.1.self_attn.k_proj.weight").shape, (Shape{16, 32}));  // [out, in]
    EXPECT_EQ(file.at("model.layers.0.mlp.down_proj.weight").shape, (Shape{32, 40}));
    const json::Value hf = json::parse(read_file(e.dir + "/hf/config.json"), "config.json");
    EXPECT_EQ(hf.at("architectures").items()[0].as_string(), "LlamaForCausalLM");
    EXPECT_EQ(hf.at("num_key_value_heads").as_int(), 2);
    EXPECT_EQ(hf.at("tie_word_embeddings").as_bool(), tied);
    EXPECT_EQ(train::model_config_from_hf(e.dir + "/hf/config.json"), e.cfg.model);

    train::import_model(e.dir + "/hf", e.dir + "/imported.ckpt");
    const CheckpointData imported = load_checkpoint(e.dir + "/imported.ckpt");
    EXPECT_EQ(imported.counter("step"), 0);
    for (const model::ParamSpec& spec : e.layout.specs) {
      const CheckpointTensor& tensor = imported.tensor("param/" + spec.name);
      const TensorView<const float> original = spec.view(e.params.data());
      ASSERT_EQ(tensor.shape, spec.shape) << spec.name;
      EXPECT_TRUE(std::equal(tensor.values.begin(), tensor.values.end(), original.data)) << spec.name;
    }
  }
}

TEST(Export, DsaIndexerRoundTrip) {
  const Exported e = make_checkpoint("dsa", true, true);
  train::export_model(e.checkpoint, e.dir + "/hf", "F32");
  const SafeTensorsFile file = read_safetensors(e.dir + "/hf/model.safetensors");
  EXPECT_EQ(file.at("model.layers.1.self_attn.indexer.wq.weight").shape, (Shape{16, 32}));
  EXPECT_EQ(file.at("model.layers.1.self_attn.indexer.wk.weight").shape, (Shape{8, 32}));
  EXPECT_EQ(file.at("model.layers.0.self_attn.indexer.weights_proj.weight").shape, (Shape{2, 32}));
  const json::Value hf = json::parse(read_file(e.dir + "/hf/config.json"), "config.json");
  const json::Value& dsa = hf.at("dsa");
  EXPECT_EQ(dsa.at("heads").as_int(), 2);
  EXPECT_EQ(dsa.at("dim").as_int(), 8);
  EXPECT_EQ(dsa.at("rope_dims").as_int(), 4);
  EXPECT_EQ(dsa.at("top_k").as_int(), 5);
  EXPECT_TRUE(dsa.at("weights").as_bool());
  EXPECT_EQ(dsa.at("precision").as_string(), "fp32");
  train::import_model(e.dir + "/hf", e.dir + "/imported.ckpt");
  const CheckpointData imported = load_checkpoint(e.dir + "/imported.ckpt");
  for (const model::ParamSpec& spec : e.layout.specs) {
    const CheckpointTensor& tensor = imported.tensor("param/" + spec.name);
    const TensorView<const float> original = spec.view(e.params.data());
    EXPECT_TRUE(std::equal(tensor.values.begin(), tensor.values.end(), original.data)) << spec.name;
  }
  const config::Config back = config::parse(imported.config_yaml, "imported");
  EXPECT_EQ(back.indexer, e.cfg.indexer);
  EXPECT_EQ(back.stage_k(back.stages.back()), 5);
  EXPECT_EQ(back.stages.back().kind, config::StageKind::sparse);
}

TEST(Export, Bf16WithinRounding) {
  const Exported e = make_checkpoint("bf16", true);
  train::export_model(e.checkpoint, e.dir + "/hf", "BF16");
  const SafeTensorsFile file = read_safetensors(e.dir + "/hf/model.safetensors");
  const model::ParamSpec& spec = e.layout.find("model.embed_tokens.weight");
  EXPECT_EQ(file.at(spec.name).dtype, "BF16");
  const std::vector<float> values = tensor_values_as_float(file, spec.name, spec.shape);
  for (int64_t i = 0; i < spec.numel(); ++i)
    EXPECT_NEAR(values[i], e.params[spec.offset + i], std::abs(e.params[spec.offset + i]) / 256 + 1e-30);
  EXPECT_THROW(train::export_model(e.checkpoint, e.dir + "/bad", "F8"), Error);
}

TEST(Export, NumpyReaderAgrees) {
  if (!file_exists("/usr/bin/python3") || std::system("/usr/bin/python3 -c 'import numpy' 2>/dev/null") != 0)
    GTEST_SKIP() << "Debian's python3-numpy is not installed (tools install it on demand; this "
                    "test only reads with it when present)";
  const Exported e = make_checkpoint("numpy", false);
  train::export_model(e.checkpoint, e.dir + "/hf", "F32");
  const model::ParamSpec& spec = e.layout.find("model.layers.1.mlp.up_proj.weight");
  double expected = 0;
  for (int64_t i = 0; i < spec.numel(); ++i) expected += e.params[spec.offset + i];
  const std::string command = "cd " + std::string(DSA_SOURCE_DIR) + "/tools && /usr/bin/python3 -c \"import read_safetensors as r; "
                              "t, m = r.load('" + e.dir + "/hf/model.safetensors'); a = t['" + spec.name + "']; "
                              "print(m['format'], a.dtype, a.shape[0], a.shape[1], repr(float(a.astype('float64').sum())), len(t))\"";
  std::FILE* pipe = ::popen(command.c_str(), "r");
  char format[16] = {}, dtype[16] = {};
  long rows = 0, cols = 0, count = 0;
  double sum = 0;
  ASSERT_EQ(std::fscanf(pipe, "%15s %15s %ld %ld %lf %ld", format, dtype, &rows, &cols, &sum, &count), 6);
  ::pclose(pipe);
  EXPECT_STREQ(format, "pt");
  EXPECT_STREQ(dtype, "float32");
  EXPECT_EQ(rows, 40);
  EXPECT_EQ(cols, 32);
  EXPECT_NEAR(sum, expected, 1e-9 * std::max(1.0, std::abs(expected)));
  EXPECT_EQ(count, static_cast<long>(e.layout.specs.size()));
}

}  // namespace
}  // namespace dsa
