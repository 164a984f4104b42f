#include "train/model_io.h"

#include <cmath>

#include "core/error.h"
#include "core/file_io.h"
#include "core/json.h"
#include "core/safetensors.h"
#include "train/session.h"

namespace dsa::train {

void save_training_state(const std::string& path, const config::Config& cfg,
                         const model::ParamLayout& layout, const TrainingState& state) {
  CheckpointWriter writer;
  writer.set_config(config::to_yaml(cfg));
  writer.add_counter("step", state.step);
  writer.add_counter("data_position", state.step);
  writer.add_counter("seed", static_cast<int64_t>(cfg.train.seed));
  writer.add_counter("adam_updates_main", state.adam_updates[0]);
  writer.add_counter("adam_updates_indexer", state.adam_updates[1]);
  for (const model::ParamSpec& spec : layout.specs) {
    writer.add_tensor("param/" + spec.name, spec.shape, state.params + spec.offset);
    writer.add_tensor("adam_m/" + spec.name, spec.shape, state.adam_m + spec.offset);
    writer.add_tensor("adam_v/" + spec.name, spec.shape, state.adam_v + spec.offset);
  }
  writer.save(path);
}

LoadedModel load_model(const std::string& checkpoint_path, const ops::Backend<float>& backend,
                       int64_t max_batch) {
  const CheckpointData ckpt = load_checkpoint(checkpoint_path);
  LoadedModel loaded;
  loaded.config = config::parse(ckpt.config_yaml, checkpoint_path + " (embedded config)");
  if (max_batch <= 0) max_batch = loaded.config.train.batch_size;
  configure_device(backend, loaded.config.train);
  loaded.model = std::make_unique<model::Model<float>>(
      loaded.config.model, loaded.config.optimizer, backend, max_batch, model::dsa_spec(loaded.config));
  model::Model<float>& net = *loaded.model;
  const StepPlan last = step_plan(loaded.config, loaded.config.total_steps() - 1);
  net.set_mode(last.mode, last.k);  // the attention the run ended with
  std::vector<float> host(net.layout().total, 0.0f);
  for (const model::ParamSpec& spec : net.layout().specs)
    ckpt.copy_tensor("param/" + spec.name, spec.shape, host.data() + spec.offset);
  backend.memory.to_device(net.context(), net.params(), host.data(), host.size() * sizeof(float));
  return loaded;
}

static json::Value hf_config(const config::Config& cfg, const std::string& dtype) {
  const config::ModelConfig& m = cfg.model;
  json::Value c = json::Value::object();
  json::Value arch = json::Value::array();
  arch.push_back("LlamaForCausalLM");
  c["architectures"] = arch;
  c["model_type"] = "llama";
  c["vocab_size"] = m.vocab_size;
  c["hidden_size"] = m.d_model;
  c["intermediate_size"] = m.d_ff;
  c["num_hidden_layers"] = m.n_layers;
  c["num_attention_heads"] = m.n_heads;
  c["num_key_value_heads"] = m.n_kv_heads;
  c["head_dim"] = m.head_dim();
  c["max_position_embeddings"] = m.seq_len;
  c["rms_norm_eps"] = m.norm_eps;
  c["rope_theta"] = m.rope_theta;
  c["tie_word_embeddings"] = m.tie_embeddings;
  c["hidden_act"] = "silu";
  c["attention_bias"] = false;
  c["mlp_bias"] = false;
  c["initializer_range"] = m.init_std;
  c["torch_dtype"] = dtype == "BF16" ? "bfloat16" : (dtype == "F16" ? "float16" : "float32");
  if (cfg.has_indexer()) {
    const config::IndexerConfig& ix = cfg.indexer;
    json::Value dsa = json::Value::object();
    dsa["heads"] = ix.heads;
    dsa["dim"] = ix.dim;
    dsa["rope_dims"] = ix.rope_dims;
    dsa["weights"] = ix.weights;
    dsa["top_k"] = cfg.stage_k(cfg.stages.back());
    dsa["precision"] = ix.precision;
    c["dsa"] = dsa;
  }
  return c;
}

void export_model(const std::string& checkpoint_path, const std::string& out_dir,
                  const std::string& dtype) {
  DSA_CHECK(dtype == "F32" || dtype == "BF16" || dtype == "F16", "export: --dtype '", dtype,
            "' is not supported; allowed: F32, BF16, F16");
  const CheckpointData ckpt = load_checkpoint(checkpoint_path);
  const config::Config cfg = config::parse(ckpt.config_yaml, checkpoint_path + " (embedded config)");
  const model::ParamLayout layout = model::make_param_layout(
      cfg.model, cfg.optimizer, cfg.has_indexer() ? &cfg.indexer : nullptr);
  SafeTensorsFile file;
  file.metadata["format"] = "pt";
  for (const model::ParamSpec& spec : layout.specs) {
    const CheckpointTensor& tensor = ckpt.tensor("param/" + spec.name);
    DSA_CHECK(tensor.shape == spec.shape, checkpoint_path, ": tensor '", spec.name, "' has shape ",
              shape_str(tensor.shape), ", the config expects ", shape_str(spec.shape));
    file.add(spec.name, to_safetensor(spec.shape, std::span<const float>(tensor.values), dtype));
  }
  make_dirs(out_dir);
  write_safetensors(out_dir + "/model.safetensors", file);
  write_file_atomic(out_dir + "/config.json", json::dump(hf_config(cfg, dtype), 2) + "\n");
}

config::ModelConfig model_config_from_hf(const std::string& path) {
  const json::Value c = json::parse(read_file(path), path);
  auto key = [&](const char* name) { return path + ": " + name; };
  config::ModelConfig m;
  m.vocab_size = c.at("vocab_size", path).as_int(key("vocab_size"));
  m.d_model = c.at("hidden_size", path).as_int(key("hidden_size"));
  m.d_ff = c.at("intermediate_size", path).as_int(key("intermediate_size"));
  m.n_layers = c.at("num_hidden_layers", path).as_int(key("num_hidden_layers"));
  m.n_heads = c.at("num_attention_heads", path).as_int(key("num_attention_heads"));
  m.n_kv_heads = c.contains("num_key_value_heads")
                     ? c.at("num_key_value_heads").as_int(key("num_key_value_heads")) : m.n_heads;
  m.seq_len = c.at("max_position_embeddings", path).as_int(key("max_position_embeddings"));
  m.norm_eps = c.at("rms_norm_eps", path).as_number(key("rms_norm_eps"));
  m.rope_theta = c.contains("rope_theta") ? c.at("rope_theta").as_number(key("rope_theta")) : 10000.0;
  m.tie_embeddings = c.contains("tie_word_embeddings")
                         ? c.at("tie_word_embeddings").as_bool(key("tie_word_embeddings")) : false;
  DSA_CHECK(m.n_heads > 0 && m.d_model % m.n_heads == 0, key("hidden_size"), " = ", m.d_model,
            " is not a multiple of num_attention_heads = ", m.n_heads);
  if (c.contains("head_dim"))
    DSA_CHECK(c.at("head_dim").as_int(key("head_dim")) == m.head_dim(), key("head_dim"),
              " must equal hidden_size / num_attention_heads = ", m.head_dim());
  return m;
}

// The "dsa" section of an exported config.json (docs/design.md §6): an imported DSA model keeps its
// indexer and ends, like the run it came from, in one sparse stage of its top_k.
static void dsa_config_from_hf(const std::string& path, config::Config& cfg) {
  const json::Value c = json::parse(read_file(path), path);
  if (!c.contains("dsa")) return;
  const json::Value& d = c.at("dsa", path);
  auto key = [&](const char* name) { return path + ": dsa." + name; };
  cfg.indexer.heads = d.at("heads", path).as_int(key("heads"));
  cfg.indexer.dim = d.at("dim", path).as_int(key("dim"));
  cfg.indexer.rope_dims = d.at("rope_dims", path).as_int(key("rope_dims"));
  cfg.indexer.weights = d.at("weights", path).as_bool(key("weights"));
  cfg.indexer.precision = d.at("precision", path).as_string(key("precision"));
  cfg.selection.k = d.at("top_k", path).as_int(key("top_k"));
  DSA_CHECK(cfg.indexer.heads >= 1 && cfg.indexer.dim >= 1 && cfg.selection.k >= 1 &&
                cfg.indexer.rope_dims >= 0 && cfg.indexer.rope_dims <= cfg.indexer.dim &&
                cfg.indexer.rope_dims % 2 == 0,
            path, ": dsa section out of range (heads, dim, top_k >= 1; rope_dims even, "
            "0..dim)");
  cfg.stages.back().kind = config::StageKind::sparse;
}

void import_model(const std::string& in_dir, const std::string& checkpoint_path) {
  config::Config cfg;
  cfg.model = model_config_from_hf(in_dir + "/config.json");
  cfg.stages.push_back(config::StageConfig{});
  cfg.stages.back().steps = 1;
  dsa_config_from_hf(in_dir + "/config.json", cfg);
  const std::string weights_path = in_dir + "/model.safetensors";
  const SafeTensorsFile file = read_safetensors(weights_path);
  const model::ParamLayout layout = model::make_param_layout(
      cfg.model, cfg.optimizer, cfg.has_indexer() ? &cfg.indexer : nullptr);
  std::vector<float> params(layout.total, 0.0f), zeros(layout.total, 0.0f);
  for (const model::ParamSpec& spec : layout.specs) {
    const std::vector<float> values = tensor_values_as_float(file, spec.name, spec.shape);
    std::copy(values.begin(), values.end(), params.begin() + spec.offset);
  }
  save_training_state(checkpoint_path, cfg, layout,
                      {params.data(), zeros.data(), zeros.data(), 0, {0, 0}});
}

}  // namespace dsa::train
