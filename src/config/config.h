// Typed configuration (docs/design.md §4 "Config sections"). Loaded from YAML with `include:` fragments,
// then `--set a.b=v` overrides, then validated: every error names the file, the line, the key and
// what is allowed (an unknown key also suggests the nearest valid one).
#pragma once
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dsa::config {

struct ModelConfig {
  int64_t vocab_size = 4096;
  int64_t d_model = 256;
  int64_t n_layers = 4;
  int64_t n_heads = 8;
  int64_t n_kv_heads = 0;  // 0 in YAML means "same as n_heads"; resolved on load
  int64_t d_ff = 688;
  int64_t seq_len = 256;
  bool tie_embeddings = true;
  double rope_theta = 10000.0;
  double norm_eps = 1e-5;
  double init_std = 0.02;
  int64_t head_dim() const { return d_model / n_heads; }

  bool operator==(const ModelConfig&) const = default;
};

// Lightning indexer (docs/design.md §4); used from the DSA stages on.
struct IndexerConfig {
  int64_t heads = 4;
  int64_t dim = 64;
  int64_t rope_dims = -1;  // -1 means dim / 2; resolved on load
  bool weights = true;
  std::string precision = "fp32";  // fp32 | bf16 | fp16 | fp8 | int8 | int4

  bool operator==(const IndexerConfig&) const = default;
};

// Selection strategy and k rule (docs/design.md §5).
struct SelectionConfig {
  std::string strategy = "topk";  // topk | sliding_window | local_global | hierarchical | dense
  int64_t k = 64;

  bool operator==(const SelectionConfig&) const = default;
};

// The training stages of docs/design.md §4, in schedule order, declared once: the enum, the
// names in YAML (`schedule.stages.<i>.name`) and the schema's allowed values come from this list.
#define DSA_STAGE_KINDS(X) X(dense) X(warmup) X(sparse)
enum class StageKind {
#define DSA_STAGE_ENUMERATOR(kind) kind,
  DSA_STAGE_KINDS(DSA_STAGE_ENUMERATOR)
#undef DSA_STAGE_ENUMERATOR
};
const char* stage_kind_name(StageKind kind);                        // "dense"
std::optional<StageKind> parse_stage_kind(std::string_view name);  // nullopt: not a stage
std::vector<std::string> stage_kind_names();                        // dense, warmup, sparse

struct StageConfig {
  StageKind kind = StageKind::dense;  // YAML `name`: dense | warmup | sparse
  int64_t steps = 0;             // > 0
  double lr = 3e-3;              // main model peak learning rate
  double indexer_lr = 1e-3;      // indexer peak learning rate
  int64_t warmup_steps = 0;      // linear warm-up: step i of the warm-up uses peak * (i+1)/warmup_steps
  std::string decay = "cosine";  // cosine | linear | constant (after warm-up)
  double min_lr_ratio = 0.1;     // cosine/linear decay ends at peak * min_lr_ratio
  int64_t k = 0;                 // 0: use selection.k

  bool operator==(const StageConfig&) const = default;
};

struct OptimizerConfig {
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double weight_decay = 0.1;
  double grad_clip = 1.0;            // global-norm clip per parameter group; 0 disables
  bool decay_norms_and_embeddings = false;

  bool operator==(const OptimizerConfig&) const = default;
};

struct DataConfig {
  std::string source = "kjv";          // "kjv" or a list of UTF-8 text files (see sources)
  std::vector<std::string> files;      // text files for `prepare` when source is "files"
  std::string dir = "data/prepared/kjv";  // prepared shards + tokenizer live here
  std::string train_shards;            // glob; empty: <dir>/train_*.bin
  std::string val_shards;              // glob; empty: <dir>/val_*.bin
  std::string tokenizer;               // path; empty: <dir>/tokenizer.dsatok; "none": no tokenizer
  int64_t val_every = 20;              // chapter/block i goes to validation when i % val_every == 0

  bool operator==(const DataConfig&) const = default;
};

struct TrainConfig {
  int64_t batch_size = 16;
  uint64_t seed = 1337;
  std::string device = "auto";  // auto | cpu | cuda
  int64_t eval_every = 100;     // 0: only the final evaluation
  int64_t eval_batches = 8;     // batches per periodic evaluation (the final one covers all of val)
  int64_t ckpt_every = 0;       // 0: only the final checkpoint
  int64_t log_every = 10;       // terminal progress line every n steps (metrics.jsonl gets every step)
  int64_t threads = 0;          // CPU threads; 0: all cores
  bool tf32 = false;            // TF32 tensor-core math in the CUDA twin's GEMMs
  std::string init_from;        // checkpoint whose matching weights start the run; empty: none

  bool operator==(const TrainConfig&) const = default;
};

struct RunConfig {
  std::string name = "run";
  std::string dir = "runs";

  bool operator==(const RunConfig&) const = default;
};

struct Config {
  ModelConfig model;
  IndexerConfig indexer;
  SelectionConfig selection;
  std::vector<StageConfig> stages;  // schedule.stages; absent in YAML: one dense stage of 1000 steps
  OptimizerConfig optimizer;
  DataConfig data;
  TrainConfig train;
  RunConfig run;

  // The model has a lightning indexer when some stage needs one (warmup or sparse).
  bool has_indexer() const {
    for (const StageConfig& stage : stages)
      if (stage.kind != StageKind::dense) return true;
    return false;
  }
  // Index-list width of a stage: its own k, or selection.k when the stage says 0; the `dense`
  // strategy (every s <= t, for testing) is top-k with k = seq_len.
  int64_t stage_k(const StageConfig& stage) const {
    if (selection.strategy == "dense") return model.seq_len;
    return stage.k > 0 ? stage.k : selection.k;
  }
  // The widest list any stage asks for, clamped to the context (|S_t| <= t + 1 <= seq_len).
  int64_t max_list_width() const {
    int64_t width = 0;
    for (const StageConfig& stage : stages)
      if (stage.kind != StageKind::dense) width = std::max(width, std::min(stage_k(stage), model.seq_len));
    return width;
  }

  int64_t total_steps() const {
    int64_t total = 0;
    for (const StageConfig& stage : stages) total += stage.steps;
    return total;
  }

  // Field by field; parse(to_yaml(c)) == c for every config that load() or parse() returned.
  bool operator==(const Config&) const = default;
};

// Loads `path` (following `include:` lists, relative to the including file, merged in order, later
// keys win), applies overrides of the form "a.b=v" (list items by index: "schedule.stages.0.steps=5"),
// validates and resolves derived defaults. Throws dsa::Error naming file:line, key and what is allowed.
// Every key, its default and its range: describe_keys() and docs/configs.md.
Config load(const std::string& path, const std::vector<std::string>& overrides = {});

// Parses YAML text (no includes allowed) — used for the config embedded in checkpoints.
// `origin` names the text in error messages.
Config parse(const std::string& yaml_text, const std::string& origin,
             const std::vector<std::string>& overrides = {});

// The fully resolved config as YAML; parse(to_yaml(c)) == c.
std::string to_yaml(const Config& config);

// One line per key: "model.d_model  int  default 256  (>= 8, multiple of n_heads)  width D".
// Used by `--help` of commands that take a config and by docs/configs.md.
std::string describe_keys();

}  // namespace dsa::config
