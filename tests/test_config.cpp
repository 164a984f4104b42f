// Config loading (docs/design.md §4 "Config sections"): includes, --set overrides, validation messages,
// to_yaml round trip, describe_keys, and the configs shipped in configs/.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "config/config.h"
#include "core/error.h"
#include "test_util.h"

namespace dsa::config {
namespace {

namespace fs = std::filesystem;

// A fresh folder per test under the system temp dir, removed afterwards.
class ConfigFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("dsa_test_config_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes `text` to <dir>/<name> and returns the path.
  std::string write(const std::string& name, const std::string& text) {
    const fs::path path = dir_ / name;
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
    return path.string();
  }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  fs::path dir_;
};

using test::error_of;

std::string parse_error(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
  return error_of([&] { parse(yaml, "text.yaml", overrides); });
}

std::string override_error(const std::string& override_text) {
  return parse_error("", {override_text});
}

// Whether `text` contains `part`; the failure message shows both.
::testing::AssertionResult contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << text << "' does not contain '" << part << "'";
}

// ---- defaults -------------------------------------------------------------------------------

TEST(ConfigDefaults, EmptyTextGivesStructDefaultsResolved) {
  const Config config = parse("", "empty");
  Config expected;
  expected.model.n_kv_heads = expected.model.n_heads;     // 0 -> n_heads
  expected.indexer.rope_dims = expected.indexer.dim / 2;  // -1 -> dim / 2
  StageConfig stage;
  stage.kind = config::StageKind::dense;
  stage.steps = 1000;
  expected.stages = {stage};  // the default schedule
  EXPECT_EQ(config, expected);
  EXPECT_EQ(config.model.n_kv_heads, 8);
  EXPECT_EQ(config.indexer.rope_dims, 32);
  EXPECT_EQ(config.total_steps(), 1000);
}

TEST(ConfigDefaults, StageKeysDefaultToStructValues) {
  const Config config = parse("schedule:\n  stages:\n    - steps: 7\n", "text");
  ASSERT_EQ(config.stages.size(), 1u);
  StageConfig expected;
  expected.steps = 7;
  EXPECT_EQ(config.stages[0], expected);
}

// ---- includes -------------------------------------------------------------------------------

TEST_F(ConfigFiles, IncludesMergeInOrderAndOwnKeysWin) {
  write("base.yaml",
        "model:\n  d_model: 128\n  n_layers: 2\n"
        "data:\n  source: files\n  files: [a.txt, b.txt]\n");
  write("extra.yaml", "model:\n  n_layers: 3\ndata:\n  files: [c.txt]\n");
  const std::string main = write("main.yaml",
                                 "include: [base.yaml, extra.yaml]\n"
                                 "model:\n  n_layers: 6\n");
  const Config config = load(main);
  EXPECT_EQ(config.model.d_model, 128);  // from base, untouched later: maps merge key by key
  EXPECT_EQ(config.model.n_layers, 6);   // base 2, extra 3, main 6: the last one wins
  EXPECT_EQ(config.model.n_heads, 8);    // default
  EXPECT_EQ(config.data.source, "files");
  EXPECT_EQ(config.data.files, std::vector<std::string>{"c.txt"});  // lists are replaced whole
}

TEST_F(ConfigFiles, SingleIncludeStringAndLaterIncludeWins) {
  write("a.yaml", "train:\n  seed: 1\n  batch_size: 4\n");
  write("b.yaml", "train:\n  seed: 2\n");
  const Config one = load(write("one.yaml", "include: a.yaml\n"));
  EXPECT_EQ(one.train.seed, 1u);
  const Config two = load(write("two.yaml", "include:\n  - a.yaml\n  - b.yaml\n"));
  EXPECT_EQ(two.train.seed, 2u);
  EXPECT_EQ(two.train.batch_size, 4);
}

TEST_F(ConfigFiles, NestedIncludesAreRelativeToTheIncludingFile) {
  write("common/base.yaml", "run:\n  name: from_base\n  dir: base_runs\n");
  write("fragments/sparse.yaml",
        "include: ../common/base.yaml\nrun:\n  name: from_fragment\n"
        "schedule:\n  stages:\n    - {name: dense, steps: 10}\n    - {name: sparse, steps: 20}\n");
  const Config config = load(write("top.yaml", "include: fragments/sparse.yaml\n"));
  EXPECT_EQ(config.run.name, "from_fragment");
  EXPECT_EQ(config.run.dir, "base_runs");
  ASSERT_EQ(config.stages.size(), 2u);
  EXPECT_EQ(config.stages[1].kind, config::StageKind::sparse);
  EXPECT_EQ(config.total_steps(), 30);
}

TEST_F(ConfigFiles, TheSameFragmentTwiceIsNotACycle) {
  write("shared.yaml", "train:\n  seed: 5\n");
  write("left.yaml", "include: shared.yaml\n");
  write("right.yaml", "include: shared.yaml\n");
  EXPECT_EQ(load(write("top.yaml", "include: [left.yaml, right.yaml]\n")).train.seed, 5u);
}

TEST_F(ConfigFiles, IncludeCycleNamesTheChain) {
  const std::string a = write("a.yaml", "include: b.yaml\n");
  const std::string b = write("b.yaml", "train:\n  seed: 3\ninclude: [c.yaml]\n");
  const std::string c = write("c.yaml", "include: a.yaml\n");
  const std::string message = error_of([&] { load(a); });
  EXPECT_TRUE(contains(message, c + ":1: include cycle: "));
  EXPECT_TRUE(contains(message, a + " -> " + b + " -> " + c + " -> " + a));
}

TEST_F(ConfigFiles, SelfInclude) {
  const std::string self = write("self.yaml", "\ninclude: self.yaml\n");
  EXPECT_TRUE(
      contains(error_of([&] { load(self); }), self + ":2: include cycle: " + self + " -> " + self));
}

TEST_F(ConfigFiles, MissingIncludeNamesTheIncludingFileAndLine) {
  const std::string main = write("main.yaml", "model:\n  d_model: 64\ninclude:\n  - nope.yaml\n");
  const std::string message = error_of([&] { load(main); });
  EXPECT_TRUE(contains(message, main + ":4: include 'nope.yaml': "));
  EXPECT_TRUE(contains(message, path("nope.yaml") + ": cannot open (No such file or directory)"));
}

TEST_F(ConfigFiles, MissingFile) {
  const std::string missing = path("configs/nope.yaml");
  EXPECT_EQ(error_of([&] { load(missing); }),
            missing + ": cannot open (No such file or directory)");
}

TEST_F(ConfigFiles, ErrorsInsideAnIncludeNameThatFile) {
  const std::string fragment = write("frag.yaml", "model:\n  n_heads: 8\n  d_modle: 4\n");
  const std::string main = write("main.yaml", "include: frag.yaml\n");
  EXPECT_EQ(error_of([&] { load(main); }),
            fragment + ":3: unknown key 'model.d_modle' (did you mean 'model.d_model'?)");
}

TEST(ConfigText, IncludeIsAnErrorInText) {
  EXPECT_TRUE(contains(parse_error("model:\n  d_model: 64\ninclude: base.yaml\n"),
                       "text.yaml:3: include is only allowed in config files"));
}

// ---- overrides ------------------------------------------------------------------------------

TEST_F(ConfigFiles, OverridesApplyLast) {
  const std::string file = write("c.yaml",
                                 "model:\n  n_layers: 2\ntrain:\n  device: cuda\n"
                                 "schedule:\n  stages:\n    - {name: dense, steps: 100}\n");
  const Config config =
      load(file, {"train.device=cpu", "model.n_layers=6", "optimizer.eps=1e-9",
                  "schedule.stages.0.steps=5", "run.name = spaced ", "model.n_layers=7"});
  EXPECT_EQ(config.train.device, "cpu");
  EXPECT_EQ(config.model.n_layers, 7);  // later --set wins
  EXPECT_EQ(config.optimizer.eps, 1e-9);
  EXPECT_EQ(config.stages[0].steps, 5);
  EXPECT_EQ(config.run.name, "spaced");
}

TEST(ConfigOverrides, EditAndAppendStagesOfTheDefaultSchedule) {
  const Config config = parse("", "text",
                              {"schedule.stages.0.steps=5", "schedule.stages.1.name=sparse",
                               "schedule.stages.1.steps=7", "schedule.stages.1.k=16"});
  ASSERT_EQ(config.stages.size(), 2u);
  EXPECT_EQ(config.stages[0].kind, config::StageKind::dense);
  EXPECT_EQ(config.stages[0].steps, 5);
  EXPECT_EQ(config.stages[1].kind, config::StageKind::sparse);
  EXPECT_EQ(config.stages[1].k, 16);
  EXPECT_EQ(config.total_steps(), 12);
}

TEST(ConfigOverrides, ListsAndEmptyStrings) {
  const Config config = parse("data:\n  tokenizer: tok.bin\n", "text",
                              {"data.source=files", "data.files=[a.txt, b.txt]",
                               "data.tokenizer=", "schedule.stages=[{name: dense, steps: 3}]"});
  EXPECT_EQ(config.data.files, (std::vector<std::string>{"a.txt", "b.txt"}));
  EXPECT_EQ(config.data.tokenizer, "");
  EXPECT_EQ(config.total_steps(), 3);
}

TEST(ConfigOverrides, Errors) {
  EXPECT_EQ(override_error("model.n_layer=6"),
            "--set model.n_layer=6: unknown key 'model.n_layer' (did you mean 'model.n_layers'?)");
  EXPECT_EQ(override_error("model.n_layers"),
            "--set model.n_layers: expected key=value (e.g. --set model.n_layers=6)");
  EXPECT_EQ(override_error("model.n_layers=four"),
            "--set model.n_layers=four: model.n_layers: expected an integer, got 'four'");
  EXPECT_EQ(override_error("train.device=gpu"),
            "--set train.device=gpu: train.device = 'gpu': allowed values are auto, cpu, cuda");
  EXPECT_TRUE(contains(override_error("schedule.stages.3.steps=5"),
                       "--set schedule.stages.3.steps=5: schedule.stages has 1 stage(s), so "
                       "index 3 is out of range"));
  EXPECT_EQ(override_error("schedule.stages.0.stepz=5"),
            "--set schedule.stages.0.stepz=5: unknown key 'schedule.stages.0.stepz' (did you mean "
            "'schedule.stages.0.steps'?)");
  EXPECT_TRUE(contains(override_error("schedule.stages.x.steps=5"), "'x' is not a stage index"));
  EXPECT_TRUE(contains(override_error("include=a.yaml"),
                       "--set include=a.yaml: include cannot be set from the command line"));
  EXPECT_TRUE(contains(override_error("model=3"), "--set model=3: 'model' is a section"));
  EXPECT_TRUE(contains(override_error("model.d_model=[1"), "--set model.d_model=[1: invalid YAML"));
  // Stage values set from the command line are checked like any other.
  EXPECT_EQ(override_error("schedule.stages.0.steps=0"),
            "--set schedule.stages.0.steps=0: schedule.stages.0.steps = 0 is out of range: must "
            "be >= 1");
}

// ---- errors from files ----------------------------------------------------------------------

TEST_F(ConfigFiles, MalformedYamlNamesFileAndLine) {
  const std::string file = write("bad.yaml", "model:\n  d_model: 64\n  n_heads: [4,\ntrain: {\n");
  const std::string message = error_of([&] { load(file); });
  EXPECT_TRUE(contains(message, file + ":"));
  EXPECT_TRUE(contains(message, "invalid YAML"));
}

TEST_F(ConfigFiles, MalformedYamlLine) {
  const std::string file = write("bad.yaml", "model:\n  d_model: 64\n   n_heads: 4\n");
  EXPECT_TRUE(contains(error_of([&] { load(file); }), file + ":3: invalid YAML"));
}

TEST_F(ConfigFiles, UnknownKeySuggestsTheNearest) {
  const std::string file = write("x.yaml", "model:\n  n_heads: 8\n  d_modle: 4\n");
  EXPECT_EQ(error_of([&] { load(file); }),
            file + ":3: unknown key 'model.d_modle' (did you mean 'model.d_model'?)");
}

TEST(ConfigErrors, UnknownKeyWithoutNearMatchListsTheSection) {
  const std::string message = parse_error("run:\n  colour: red\n");
  EXPECT_TRUE(
      contains(message, "text.yaml:2: unknown key 'run.colour' (valid keys: run.name, run.dir)"));
  EXPECT_EQ(parse_error("modle:\n  d_model: 4\n"),
            "text.yaml:1: unknown key 'modle' (did you mean 'model'?)");
  EXPECT_TRUE(contains(parse_error("weird: 1\n"), "unknown key 'weird' (valid keys: "));
}

TEST(ConfigErrors, WrongType) {
  EXPECT_EQ(parse_error("model:\n  d_model: 64\n  n_layers: four\n"),
            "text.yaml:3: model.n_layers: expected an integer, got 'four'");
  EXPECT_EQ(parse_error("model:\n  n_layers: 4.5\n"),
            "text.yaml:2: model.n_layers: expected an integer, got '4.5'");
  EXPECT_EQ(parse_error("model:\n  tie_embeddings: yes\n"),
            "text.yaml:2: model.tie_embeddings: expected true or false, got 'yes'");
  EXPECT_EQ(parse_error("optimizer:\n  eps: small\n"),
            "text.yaml:2: optimizer.eps: expected a finite number, got 'small'");
  EXPECT_EQ(parse_error("run:\n  name: [a, b]\n"),
            "text.yaml:2: run.name: expected a string, got a list");
  EXPECT_EQ(parse_error("model: 3\n"),
            "text.yaml:1: model: expected a map of keys (model.<key>: value), got '3'");
  EXPECT_EQ(parse_error("train:\n  seed: -1\n"),
            "text.yaml:2: train.seed = -1 is out of range: must be >= 0");
}

TEST(ConfigErrors, OutOfRange) {
  EXPECT_EQ(parse_error("train:\n  batch_size: 0\n"),
            "text.yaml:2: train.batch_size = 0 is out of range: must be >= 1");
  EXPECT_EQ(parse_error("model:\n  vocab_size: 255\n"),
            "text.yaml:2: model.vocab_size = 255 is out of range: must be in [256, 2147483648)");
  EXPECT_TRUE(
      contains(parse_error("model:\n  vocab_size: 2147483648\n"), "must be in [256, 2147483648)"));
  EXPECT_EQ(parse_error("optimizer:\n  beta1: 1\n"),
            "text.yaml:2: optimizer.beta1 = 1 is out of range: must be in [0, 1)");
  EXPECT_EQ(parse_error("optimizer:\n  beta2: -0.5\n"),
            "text.yaml:2: optimizer.beta2 = -0.5 is out of range: must be in [0, 1)");
  EXPECT_EQ(parse_error("selection:\n  k: 0\n"),
            "text.yaml:2: selection.k = 0 is out of range: must be >= 1");
  EXPECT_EQ(parse_error("schedule:\n  stages:\n    - steps: 5\n      min_lr_ratio: 1.5\n"),
            "text.yaml:4: schedule.stages.0.min_lr_ratio = 1.5 is out of range: must be in [0, 1]");
}

TEST(ConfigErrors, BadChoice) {
  EXPECT_EQ(parse_error("train:\n  device: gpu\n"),
            "text.yaml:2: train.device = 'gpu': allowed values are auto, cpu, cuda");
  EXPECT_EQ(parse_error("indexer:\n  precision: fp4\n"),
            "text.yaml:2: indexer.precision = 'fp4': allowed values are fp32, bf16, fp16, fp8, "
            "int8, int4");
  EXPECT_EQ(parse_error("selection:\n  strategy: random\n"),
            "text.yaml:2: selection.strategy = 'random': allowed values are topk, sliding_window, "
            "local_global, hierarchical, dense");
  EXPECT_EQ(parse_error("data:\n  source: web\n"),
            "text.yaml:2: data.source = 'web': allowed values are kjv, files");
  EXPECT_EQ(parse_error("schedule:\n  stages:\n    - steps: 5\n      decay: step\n"),
            "text.yaml:4: schedule.stages.0.decay = 'step': allowed values are cosine, linear, "
            "constant");
}

TEST(ConfigErrors, Stages) {
  EXPECT_EQ(parse_error("schedule:\n  stages:\n    - name: dnese\n      steps: 5\n"),
            "text.yaml:3: schedule.stages.0.name = 'dnese': allowed values are dense, warmup, "
            "sparse");
  EXPECT_EQ(parse_error("schedule:\n  stages: []\n"),
            "text.yaml:2: schedule.stages must list at least one stage (- name: dense | warmup | "
            "sparse, steps: n)");
  EXPECT_TRUE(contains(parse_error("schedule:\n  stages:\n"),
                       "text.yaml:2: schedule.stages must list at least one stage"));
  EXPECT_EQ(parse_error("schedule:\n  stages:\n    - {name: dense, steps: 5}\n"
                        "    - {name: sparse, steps: 0}\n"),
            "text.yaml:4: schedule.stages.1.steps = 0 is out of range: must be >= 1");
  EXPECT_EQ(parse_error("schedule:\n  stages:\n    - {name: dense, steps: 5}\n"
                        "    - name: sparse\n      lr: 1e-3\n"),
            "text.yaml:4: schedule.stages.1.steps is missing (required, >= 1)");
  EXPECT_EQ(parse_error("schedule:\n  stages:\n    - name: dense\n      stepz: 5\n"),
            "text.yaml:4: unknown key 'schedule.stages.0.stepz' (did you mean "
            "'schedule.stages.0.steps'?)");
  EXPECT_TRUE(contains(parse_error("schedule:\n  stages: dense\n"),
                       "text.yaml:2: schedule.stages: expected a list of stages"));
  EXPECT_TRUE(contains(parse_error("schedule:\n  stages:\n    - dense\n"),
                       "text.yaml:3: schedule.stages.0: expected a map of stage keys"));
}

TEST(ConfigErrors, CrossFieldRules) {
  EXPECT_EQ(parse_error("model:\n  d_model: 250\n  n_heads: 8\n"),
            "text.yaml:2: model.d_model = 250 must be a multiple of model.n_heads = 8");
  EXPECT_EQ(parse_error("model:\n  n_heads: 7\n"),  // d_model keeps its default 256
            "text.yaml:2: model.d_model = 256 must be a multiple of model.n_heads = 7");
  EXPECT_EQ(parse_error("model:\n  d_model: 24\n  n_heads: 8\n"),
            "text.yaml:2: the head dim model.d_model / model.n_heads = 24 / 8 = 3 must be even "
            "(RoPE rotates pairs)");
  EXPECT_EQ(parse_error("model:\n  n_heads: 8\n  n_kv_heads: 3\n"),
            "text.yaml:3: model.n_heads = 8 must be a multiple of model.n_kv_heads = 3");
  EXPECT_EQ(parse_error("indexer:\n  rope_dims: 5\n"),
            "text.yaml:2: indexer.rope_dims = 5 must be even and <= indexer.dim = 64");
  EXPECT_EQ(parse_error("indexer:\n  dim: 16\n  rope_dims: 18\n"),
            "text.yaml:3: indexer.rope_dims = 18 must be even and <= indexer.dim = 16");
  EXPECT_EQ(parse_error("indexer:\n  dim: 6\n"),
            "text.yaml:2: indexer.rope_dims = 3 (-1: indexer.dim / 2) must be even and <= "
            "indexer.dim = 6");
  EXPECT_EQ(parse_error("data:\n  source: files\n"),
            "text.yaml:2: data.files must list at least one text file when data.source is 'files'");
}

TEST(ConfigErrors, DuplicateKey) {
  EXPECT_EQ(parse_error("model:\n  d_model: 64\n  d_model: 128\n"),
            "text.yaml:3: duplicate key 'model.d_model' (first given at line 2)");
}

TEST(ConfigErrors, TopLevelMustBeAMap) {
  EXPECT_TRUE(
      contains(parse_error("- a\n- b\n"), "text.yaml:1: expected a map of config sections"));
}

// ---- to_yaml ---------------------------------------------------------------------------------

TEST(ConfigToYaml, RoundTripReproducesTheConfigExactly) {
  const std::string yaml =
      "model: {d_model: 96, n_heads: 6, n_kv_heads: 2, rope_theta: 500000.5, norm_eps: 1e-6,"
      " init_std: 0.1234567890123456789}\n"
      "indexer: {heads: 2, dim: 32, weights: false, precision: int8}\n"
      "selection: {strategy: local_global, k: 17}\n"
      "schedule:\n  stages:\n"
      "    - {name: dense, steps: 10, lr: 3e-3}\n"
      "    - {name: warmup, steps: 20, indexer_lr: 0.30000000000000004, decay: constant}\n"
      "    - {name: sparse, steps: 30, k: 8, min_lr_ratio: 0, warmup_steps: 3}\n"
      "optimizer: {beta1: 0.8, beta2: 0.999, eps: 1e-9, grad_clip: 0}\n"
      "data: {source: files, files: ['a b.txt', 'c: d.txt', '#e', 'null'], tokenizer: 'null',"
      " train_shards: '*.bin', val_shards: ''}\n"
      "train: {seed: 18446744073709551615, device: cpu, threads: 2}\n"
      "run: {name: 'yes', dir: 'x: y'}\n";
  const Config config = parse(yaml, "text");
  EXPECT_EQ(config.data.tokenizer, "null");
  EXPECT_EQ(config.train.seed, 18446744073709551615ull);
  const std::string emitted = to_yaml(config);
  const Config reparsed = parse(emitted, "to_yaml");
  EXPECT_EQ(reparsed, config) << emitted;
  EXPECT_EQ(to_yaml(reparsed), emitted);
  EXPECT_EQ(to_yaml(parse("", "defaults")), to_yaml(parse(to_yaml(parse("", "d")), "d")));
}

TEST(ConfigToYaml, ListsEveryKey) {
  const std::string emitted = to_yaml(parse("", "defaults"));
  for (const char* key :
       {"vocab_size:", "rope_theta:", "init_std:", "rope_dims:", "precision:", "strategy:",
        "stages:", "min_lr_ratio:", "indexer_lr:", "decay_norms_and_embeddings:", "files:",
        "val_every:", "threads:", "log_every:", "dir:"}) {
    EXPECT_TRUE(contains(emitted, key));
  }
}

// ---- describe_keys --------------------------------------------------------------------------

TEST(ConfigDescribe, OneAlignedLinePerKey) {
  const std::vector<std::string> keys = {"include",
                                         "model.vocab_size",
                                         "model.d_model",
                                         "model.n_layers",
                                         "model.n_heads",
                                         "model.n_kv_heads",
                                         "model.d_ff",
                                         "model.seq_len",
                                         "model.tie_embeddings",
                                         "model.rope_theta",
                                         "model.norm_eps",
                                         "model.init_std",
                                         "indexer.heads",
                                         "indexer.dim",
                                         "indexer.rope_dims",
                                         "indexer.weights",
                                         "indexer.precision",
                                         "selection.strategy",
                                         "selection.k",
                                         "schedule.stages",
                                         "schedule.stages.<i>.name",
                                         "schedule.stages.<i>.steps",
                                         "schedule.stages.<i>.lr",
                                         "schedule.stages.<i>.indexer_lr",
                                         "schedule.stages.<i>.warmup_steps",
                                         "schedule.stages.<i>.decay",
                                         "schedule.stages.<i>.min_lr_ratio",
                                         "schedule.stages.<i>.k",
                                         "optimizer.beta1",
                                         "optimizer.beta2",
                                         "optimizer.eps",
                                         "optimizer.weight_decay",
                                         "optimizer.grad_clip",
                                         "optimizer.decay_norms_and_embeddings",
                                         "data.source",
                                         "data.files",
                                         "data.dir",
                                         "data.train_shards",
                                         "data.val_shards",
                                         "data.tokenizer",
                                         "data.val_every",
                                         "train.batch_size",
                                         "train.seed",
                                         "train.device",
                                         "train.eval_every",
                                         "train.eval_batches",
                                         "train.ckpt_every",
                                         "train.log_every",
                                         "train.threads",
                                         "train.tf32",
                                         "train.init_from",
                                         "run.name",
                                         "run.dir"};
  std::istringstream text(describe_keys());
  std::vector<std::string> lines;
  for (std::string line; std::getline(text, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), keys.size());
  const size_t type_column = lines[0].find("string list");
  for (size_t i = 0; i < keys.size(); ++i) {
    EXPECT_EQ(lines[i].substr(0, lines[i].find(' ')), keys[i]);
    EXPECT_NE(lines[i][type_column], ' ') << lines[i];  // types line up
    EXPECT_EQ(lines[i][type_column - 1], ' ') << lines[i];
  }
  EXPECT_TRUE(contains(lines[2], "int"));
  EXPECT_TRUE(contains(lines[2], "default 256"));
  EXPECT_TRUE(contains(lines[2], "multiple of model.n_heads"));
  EXPECT_TRUE(contains(describe_keys(), "auto | cpu | cuda"));
  EXPECT_TRUE(contains(describe_keys(), "default 1e-08"));
}

// ---- shipped configs ------------------------------------------------------------------------

TEST(ShippedConfigs, Quickstart) {
  const Config config = load(std::string(DSA_SOURCE_DIR) + "/configs/quickstart.yaml");
  EXPECT_EQ(config.model.vocab_size, 4096);
  EXPECT_EQ(config.model.d_model, 256);
  EXPECT_EQ(config.model.n_layers, 4);
  EXPECT_EQ(config.model.n_heads, 8);
  EXPECT_EQ(config.model.n_kv_heads, 8);
  EXPECT_EQ(config.model.d_ff, 688);
  EXPECT_EQ(config.model.seq_len, 256);
  EXPECT_TRUE(config.model.tie_embeddings);
  ASSERT_EQ(config.stages.size(), 1u);
  EXPECT_EQ(config.stages[0].kind, config::StageKind::dense);
  EXPECT_GT(config.stages[0].steps, 0);  // tuned by whoever times the quick start
  EXPECT_EQ(config.stages[0].lr, 3e-3);
  EXPECT_EQ(config.stages[0].warmup_steps, 30);
  EXPECT_EQ(config.stages[0].decay, "cosine");
  EXPECT_EQ(config.stages[0].min_lr_ratio, 0.1);
  EXPECT_EQ(config.optimizer.beta1, 0.9);
  EXPECT_EQ(config.optimizer.beta2, 0.95);
  EXPECT_EQ(config.optimizer.weight_decay, 0.1);
  EXPECT_EQ(config.optimizer.grad_clip, 1.0);
  EXPECT_EQ(config.optimizer.eps, 1e-8);
  EXPECT_EQ(config.train.batch_size, 16);
  EXPECT_EQ(config.train.seed, 1337u);
  EXPECT_EQ(config.train.device, "auto");
  EXPECT_EQ(config.train.eval_every, 100);
  EXPECT_EQ(config.train.eval_batches, 8);
  EXPECT_EQ(config.train.ckpt_every, 0);
  EXPECT_EQ(config.train.log_every, 10);
  EXPECT_EQ(config.data.source, "kjv");
  EXPECT_EQ(config.data.dir, "data/prepared/kjv");
  EXPECT_EQ(config.run.name, "quickstart");
  EXPECT_EQ(config.run.dir, "runs");
}

TEST(ShippedConfigs, TinyTest) {
  const Config config = load(std::string(DSA_SOURCE_DIR) + "/configs/tiny_test.yaml");
  EXPECT_EQ(config.model.vocab_size, 512);
  EXPECT_EQ(config.model.d_model, 64);
  EXPECT_EQ(config.model.n_layers, 2);
  EXPECT_EQ(config.model.n_heads, 4);
  EXPECT_EQ(config.model.n_kv_heads, 2);
  EXPECT_EQ(config.model.d_ff, 96);
  EXPECT_EQ(config.model.seq_len, 64);
  EXPECT_EQ(config.train.batch_size, 8);
  ASSERT_EQ(config.stages.size(), 1u);
  EXPECT_EQ(config.stages[0].kind, config::StageKind::dense);
  EXPECT_EQ(config.stages[0].steps, 100);
  EXPECT_EQ(config.stages[0].lr, 3e-3);
  EXPECT_EQ(config.stages[0].warmup_steps, 10);
  EXPECT_EQ(config.train.eval_every, 50);
  EXPECT_EQ(config.train.eval_batches, 2);
  EXPECT_EQ(config.data.dir, "data/prepared/kjv_tiny");
  EXPECT_EQ(config.run.name, "tiny_test");
}

}  // namespace
}  // namespace dsa::config
