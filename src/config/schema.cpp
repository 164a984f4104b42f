#include "config/schema.h"

#include <algorithm>

namespace dsa::config::schema {
namespace {

template <class T>
constexpr ValueType type_of() {
  if constexpr (std::is_same_v<T, int64_t>)
    return ValueType::Int;
  else if constexpr (std::is_same_v<T, uint64_t>)
    return ValueType::UInt;
  else if constexpr (std::is_same_v<T, double>)
    return ValueType::Float;
  else if constexpr (std::is_same_v<T, bool>)
    return ValueType::Bool;
  else if constexpr (std::is_same_v<T, std::string>)
    return ValueType::String;
  else
    return ValueType::StringList;
}

// ---- rules -----------------------------------------------------------------------------------

Rule any() { return {}; }

Rule at_least(double min) {
  Rule rule;
  rule.min = min;
  return rule;
}

Rule above(double min) {
  Rule rule = at_least(min);
  rule.min_exclusive = true;
  return rule;
}

Rule closed(double min, double max) {
  Rule rule = at_least(min);
  rule.max = max;
  return rule;
}

Rule half_open(double min, double max) {
  Rule rule = closed(min, max);
  rule.max_exclusive = true;
  return rule;
}

Rule one_of(std::vector<std::string> choices) {
  Rule rule;
  rule.choices = std::move(choices);
  return rule;
}

Rule non_empty() {
  Rule rule;
  rule.non_empty = true;
  return rule;
}

Rule with_note(Rule rule, std::string note) {
  rule.note = std::move(note);
  return rule;
}

// ---- rows ------------------------------------------------------------------------------------

// A row bound to config.<section>.<field>.
template <class Section, class T>
KeySpec<Config> key(std::string path, Section Config::*section, T Section::*field, Rule rule,
                    std::string description) {
  return {std::move(path),
          type_of<T>(),
          std::move(rule),
          std::move(description),
          [=](const Config& c) { return Value(std::in_place_type<T>, (c.*section).*field); },
          [=](Config& c, const Value& v) { (c.*section).*field = std::get<T>(v); }};
}

// A row bound to a field of one stage.
template <class T>
KeySpec<StageConfig> stage_key(std::string name, T StageConfig::*field, Rule rule,
                               std::string description) {
  return {std::move(name),
          type_of<T>(),
          std::move(rule),
          std::move(description),
          [=](const StageConfig& s) { return Value(std::in_place_type<T>, s.*field); },
          [=](StageConfig& s, const Value& v) { s.*field = std::get<T>(v); }};
}

// The stage's `name`: a StageKind, read and written by its name.
KeySpec<StageConfig> stage_kind_key(std::string description) {
  return {"name",
          ValueType::String,
          one_of(stage_kind_names()),
          std::move(description),
          [](const StageConfig& s) { return Value(std::in_place_type<std::string>, stage_kind_name(s.kind)); },
          [](StageConfig& s, const Value& v) { s.kind = parse_stage_kind(std::get<std::string>(v)).value(); }};
}

KeySpec<Config> unbound(std::string path, ValueType type, Rule rule, std::string description,
                        std::string default_text) {
  return {std::move(path),        type, std::move(rule), std::move(description), {}, {},
          std::move(default_text)};
}

using C = Config;
using M = ModelConfig;
using I = IndexerConfig;
using S = SelectionConfig;
using O = OptimizerConfig;
using D = DataConfig;
using T = TrainConfig;
using R = RunConfig;

std::vector<KeySpec<Config>> make_config_keys() {
  return {
      unbound("include", ValueType::Include, with_note(any(), "paths relative to this file"),
              "YAML files merged first, in order; this file's own keys win", "[]"),
      key("model.vocab_size", &C::model, &M::vocab_size, half_open(256, 2147483648.0),
          "vocabulary size V (prepare trains a BPE of this size)"),
      key("model.d_model", &C::model, &M::d_model,
          with_note(at_least(2), "multiple of model.n_heads; head_dim even"), "residual width D"),
      key("model.n_layers", &C::model, &M::n_layers, at_least(1), "transformer blocks"),
      key("model.n_heads", &C::model, &M::n_heads, at_least(1),
          "attention heads H; head_dim = d_model / n_heads"),
      key("model.n_kv_heads", &C::model, &M::n_kv_heads,
          with_note(at_least(0), "divides model.n_heads"),
          "key/value heads (grouped-query attention); 0 = n_heads"),
      key("model.d_ff", &C::model, &M::d_ff, at_least(1), "SwiGLU hidden width"),
      key("model.seq_len", &C::model, &M::seq_len, at_least(1), "context length T"),
      key("model.tie_embeddings", &C::model, &M::tie_embeddings, any(),
          "the output head reuses the embedding matrix"),
      key("model.rope_theta", &C::model, &M::rope_theta, above(0), "RoPE base frequency"),
      key("model.norm_eps", &C::model, &M::norm_eps, above(0), "RMSNorm epsilon"),
      key("model.init_std", &C::model, &M::init_std, above(0),
          "std of the normal init of embeddings and projections"),
      key("indexer.heads", &C::indexer, &I::heads, at_least(1), "lightning indexer heads HI"),
      key("indexer.dim", &C::indexer, &I::dim, at_least(1), "indexer query/key width dI"),
      key("indexer.rope_dims", &C::indexer, &I::rope_dims,
          with_note(at_least(-1), "even, <= indexer.dim"),
          "RoPE on the first r dims of q and k; -1 = dim / 2"),
      key("indexer.weights", &C::indexer, &I::weights, any(),
          "learned per-head weights w (false: w = 1)"),
      key("indexer.precision", &C::indexer, &I::precision,
          one_of({"fp32", "bf16", "fp16", "fp8", "int8", "int4"}), "indexer scoring precision"),
      key("selection.strategy", &C::selection, &S::strategy,
          one_of({"topk", "sliding_window", "local_global", "hierarchical", "dense"}),
          "how S_t is chosen (docs/design.md §5)"),
      key("selection.k", &C::selection, &S::k, at_least(1),
          "tokens kept per query, |S_t| = min(k, t+1)"),
      unbound("schedule.stages", ValueType::StageList, non_empty(),
              "training stages, run in order; keys below", "[{name: dense, steps: 1000}]"),
      key("optimizer.beta1", &C::optimizer, &O::beta1, half_open(0, 1), "AdamW first-moment decay"),
      key("optimizer.beta2", &C::optimizer, &O::beta2, half_open(0, 1),
          "AdamW second-moment decay"),
      key("optimizer.eps", &C::optimizer, &O::eps, above(0), "AdamW epsilon"),
      key("optimizer.weight_decay", &C::optimizer, &O::weight_decay, at_least(0),
          "decoupled weight decay"),
      key("optimizer.grad_clip", &C::optimizer, &O::grad_clip, at_least(0),
          "global-norm clip per parameter group; 0 disables"),
      key("optimizer.decay_norms_and_embeddings", &C::optimizer, &O::decay_norms_and_embeddings,
          any(), "also decay norm gains and embeddings"),
      key("data.source", &C::data, &D::source, one_of({"kjv", "files"}),
          "kjv (King James Bible) or files (data.files)"),
      key("data.files", &C::data, &D::files, with_note(any(), "non-empty when source is files"),
          "UTF-8 text files that prepare reads"),
      key("data.dir", &C::data, &D::dir, non_empty(), "prepared shards and tokenizer live here"),
      key("data.train_shards", &C::data, &D::train_shards, any(), "glob; empty: <dir>/train_*.bin"),
      key("data.val_shards", &C::data, &D::val_shards, any(), "glob; empty: <dir>/val_*.bin"),
      key("data.tokenizer", &C::data, &D::tokenizer, any(),
          "path; empty: <dir>/tokenizer.dsatok; none: no tokenizer"),
      key("data.val_every", &C::data, &D::val_every, at_least(2),
          "chapter/block i goes to validation when i % val_every == 0"),
      key("train.batch_size", &C::train, &T::batch_size, at_least(1), "sequences per step"),
      key("train.seed", &C::train, &T::seed, at_least(0), "seed of init, data order and sampling"),
      key("train.device", &C::train, &T::device, one_of({"auto", "cpu", "cuda"}),
          "auto: cuda when a GPU is present, else cpu"),
      key("train.eval_every", &C::train, &T::eval_every, at_least(0),
          "steps between evaluations; 0: only the final one"),
      key("train.eval_batches", &C::train, &T::eval_batches, at_least(1),
          "batches per periodic evaluation (the final one covers all of val)"),
      key("train.ckpt_every", &C::train, &T::ckpt_every, at_least(0),
          "steps between checkpoints; 0: only the final one"),
      key("train.log_every", &C::train, &T::log_every, at_least(1),
          "terminal progress line every n steps"),
      key("train.threads", &C::train, &T::threads, at_least(0), "CPU threads; 0: all cores"),
      key("train.tf32", &C::train, &T::tf32, any(),
          "TF32 tensor-core math for the CUDA twin's fp32 GEMMs (off: exact fp32)"),
      key("train.init_from", &C::train, &T::init_from, any(),
          "checkpoint whose weights start the run (same model section; tensors it lacks, such as "
          "a dense run's missing indexer, keep their init); empty: random init"),
      key("run.name", &C::run, &R::name, non_empty(), "the run's folder: <run.dir>/<run.name>"),
      key("run.dir", &C::run, &R::dir, non_empty(), "folder that holds the runs"),
  };
}

std::vector<KeySpec<StageConfig>> make_stage_keys() {
  using G = StageConfig;
  auto steps = stage_key("steps", &G::steps, at_least(1), "steps in this stage");
  steps.rule.required = true;
  return {
      stage_kind_key("dense: no indexer; warmup: only the indexer trains; sparse: DSA"),
      steps,
      stage_key("lr", &G::lr, at_least(0), "main model peak learning rate"),
      stage_key("indexer_lr", &G::indexer_lr, at_least(0), "indexer peak learning rate"),
      stage_key("warmup_steps", &G::warmup_steps, at_least(0),
                "linear warm-up from 0 to the peak over these steps"),
      stage_key("decay", &G::decay, one_of({"cosine", "linear", "constant"}),
                "learning-rate shape after warm-up"),
      stage_key("min_lr_ratio", &G::min_lr_ratio, closed(0, 1),
                "cosine/linear decay ends at peak * min_lr_ratio"),
      stage_key("k", &G::k, at_least(0), "tokens kept per query in this stage; 0: selection.k"),
  };
}

}  // namespace

const std::vector<KeySpec<Config>>& config_keys() {
  static const std::vector<KeySpec<Config>> keys = make_config_keys();
  return keys;
}

const std::vector<KeySpec<StageConfig>>& stage_keys() {
  static const std::vector<KeySpec<StageConfig>> keys = make_stage_keys();
  return keys;
}

const KeySpec<Config>* find_key(std::string_view path) {
  for (const KeySpec<Config>& spec : config_keys()) {
    if (spec.path == path) return &spec;
  }
  return nullptr;
}

const KeySpec<StageConfig>* find_stage_key(std::string_view name) {
  for (const KeySpec<StageConfig>& spec : stage_keys()) {
    if (spec.path == name) return &spec;
  }
  return nullptr;
}

std::vector<std::string> section_names() {
  std::vector<std::string> sections;
  for (const KeySpec<Config>& spec : config_keys()) {
    const size_t dot = spec.path.find('.');
    if (dot == std::string::npos) continue;
    std::string section = spec.path.substr(0, dot);
    if (std::find(sections.begin(), sections.end(), section) == sections.end()) {
      sections.push_back(std::move(section));
    }
  }
  return sections;
}

bool is_section(std::string_view path) {
  const std::vector<std::string> sections = section_names();
  return std::find(sections.begin(), sections.end(), path) != sections.end();
}

std::string stage_key_path(size_t index, std::string_view name) {
  return std::string(kStagesKey) + "." + std::to_string(index) + "." + std::string(name);
}

std::string_view type_name(ValueType type) {
  switch (type) {
    case ValueType::Int:
    case ValueType::UInt:
      return "int";
    case ValueType::Float:
      return "float";
    case ValueType::Bool:
      return "bool";
    case ValueType::String:
      return "string";
    case ValueType::StringList:
    case ValueType::Include:
      return "string list";
    case ValueType::StageList:
      return "stage list";
  }
  return "?";
}

StageConfig default_stage() {
  StageConfig stage;
  stage.kind = StageKind::dense;
  stage.steps = 1000;
  return stage;
}

}  // namespace dsa::config::schema
