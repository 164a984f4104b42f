// The DSA stages in the training loop (docs/design.md §4, §6) on the tiny config and a KJV slice:
// dense -> warmup -> sparse with the right metrics, a frozen main model in warm-up (bit-identical
// weights and AdamW moments, no decay), bit-exact resume across a stage boundary, and learning:
// after warm-up the indexer's top-k holds clearly more dense attention mass than a random causal
// selection of the same size.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <numeric>

#include "config/config.h"
#include "core/file_io.h"
#include "core/json.h"
#include "core/philox.h"
#include "data/shard.h"
#include "train/checkpoint.h"
#include "train/evaluate.h"
#include "train/model_io.h"
#include "train/trainer.h"
#include "cpu/cpu_ops.h"
#include "index_lists_util.h"
#include "test_util.h"
#include "tiny_data.h"

namespace dsa {
namespace {

namespace fs = std::filesystem;

// The tiny config with stages dense, warmup, sparse of `steps` each (k = 8 of T = 64).
config::Config staged_config(const std::string& run_name, int64_t dense, int64_t warmup,
                             int64_t sparse) {
  const std::string run_dir = fs::absolute("scratch/runs").string();
  std::vector<std::string> sets = {
      "data.dir=" + test::tiny_data_dir(), "run.dir=" + run_dir, "run.name=" + run_name,
      "train.log_every=1000", "indexer.heads=2", "indexer.dim=16", "selection.k=8",
      "schedule.stages.0.steps=" + std::to_string(dense)};
  config::Config cfg = config::load(std::string(DSA_SOURCE_DIR) + "/configs/tiny_test.yaml", sets);
  config::StageConfig stage = cfg.stages[0];
  stage.warmup_steps = 0;
  stage.decay = "constant";
  stage.indexer_lr = 3e-3;
  if (warmup > 0) {
    stage.kind = config::StageKind::warmup, stage.steps = warmup;
    cfg.stages.push_back(stage);
  }
  if (sparse > 0) {
    stage.kind = config::StageKind::sparse, stage.steps = sparse, stage.lr = 1e-3;
    cfg.stages.push_back(stage);
  }
  return cfg;
}

// Tensors of one parameter group from a checkpoint ("param/", "adam_m/", "adam_v/" + name).
std::vector<float> group_tensors(const std::string& path, bool indexer) {
  std::vector<float> values;
  for (const CheckpointTensor& tensor : load_checkpoint(path).tensors)
    if ((tensor.name.find(".indexer.") != std::string::npos) == indexer)
      values.insert(values.end(), tensor.values.begin(), tensor.values.end());
  return values;
}

TEST(DsaTrain, StagesLogTheirMetricsAndWarmupFreezesTheMainModel) {
  config::Config cfg = staged_config("dsa_stages", 6, 6, 6);
  cfg.train.eval_every = 6;
  cfg.train.eval_batches = 1;
  cfg.train.ckpt_every = 6;
  const train::TrainOutcome out = train::train(cfg, {false, 0, true});
  for (const json::Value& line : test::metrics_lines(out.run_dir)) {
    const int64_t step = line.at("step").as_int();
    const std::string stage = line.at("stage").as_string();
    if (line.contains("lm_loss")) {  // a training step
      EXPECT_EQ(stage, step <= 6 ? "dense" : step <= 12 ? "warmup" : "sparse") << step;
      EXPECT_EQ(line.contains("indexer_loss"), step > 6) << step;
      if (step > 6) EXPECT_GT(line.at("indexer_loss").as_number(), 0.0) << step;
      EXPECT_EQ(line.at("lr").as_number() == 0.0, stage == "warmup") << step;
      EXPECT_EQ(line.at("indexer_lr").as_number() == 0.0, stage == "dense") << step;
      EXPECT_TRUE(line.contains("indexer_grad_norm")) << step;
    } else {  // an evaluation
      EXPECT_EQ(line.contains("attn_mass_recall"), step > 6) << step;
      if (step <= 6) continue;
      const double recall = line.at("attn_mass_recall").as_number();
      const double overlap = line.at("topk_overlap").as_number();
      EXPECT_TRUE(recall > 0.0 && recall <= 1.0 + 1e-6) << step << ": " << recall;
      EXPECT_TRUE(overlap > 0.0 && overlap <= 1.0) << step << ": " << overlap;
    }
  }
  const std::vector<double> val = test::logged(out.run_dir, "val_loss");
  ASSERT_GE(val.size(), 3u);
  EXPECT_EQ(val[0], val[1]) << "warm-up changed the main model (val_loss after dense and warm-up)";
  EXPECT_NE(val[1], val[2]) << "the sparse stage trains the main model";
  const std::string dense_end = out.run_dir + "/step_6.ckpt", warmup_end = out.run_dir + "/step_12.ckpt";
  EXPECT_EQ(group_tensors(dense_end, false), group_tensors(warmup_end, false))
      << "main weights or AdamW moments changed in warm-up";
  EXPECT_NE(group_tensors(dense_end, true), group_tensors(warmup_end, true))
      << "the indexer did not train in warm-up";
  EXPECT_EQ(load_checkpoint(warmup_end).counter("adam_updates_main"), 6);
  EXPECT_EQ(load_checkpoint(warmup_end).counter("adam_updates_indexer"), 6);
  const json::Value summary = json::parse(read_file(out.run_dir + "/summary.json"), "summary.json");
  EXPECT_TRUE(summary.contains("attn_mass_recall"));
  EXPECT_EQ(summary.at("layer_indexer_params").as_int(), (2 * 16 + 16 + 2) * cfg.model.d_model);
  EXPECT_EQ(summary.at("sparse_k").as_int(), 8);
}

TEST(DsaTrain, ResumeAcrossStagesIsBitExact) {
  const train::TrainOutcome straight =
      train::train(staged_config("dsa_resume_straight", 4, 4, 4), {false, 0, false});
  const config::Config cfg = staged_config("dsa_resume_split", 4, 4, 4);
  fs::remove_all(cfg.run.dir + "/" + cfg.run.name);
  train::train(cfg, {false, 6, false});  // stops inside the warm-up
  const train::TrainOutcome resumed = train::train(cfg, {true, 0, false});
  EXPECT_EQ(test::logged(resumed.run_dir, "lm_loss"), test::logged(straight.run_dir, "lm_loss"));
  EXPECT_EQ(test::logged(resumed.run_dir, "indexer_loss"),
            test::logged(straight.run_dir, "indexer_loss"));
  EXPECT_EQ(test::checkpoint_values(resumed.final_checkpoint),
            test::checkpoint_values(straight.final_checkpoint));
}

TEST(DsaTrain, WarmedUpIndexerBeatsRandomSelection) {
  const config::Config cfg = staged_config("dsa_learning", 250, 100, 0);
  const train::TrainOutcome out = train::train(cfg, {false, 0, false});
  train::LoadedModel loaded = train::load_model(out.final_checkpoint, cpu::backend<float>(), 0);
  model::Model<float>& net = *loaded.model;
  ASSERT_EQ(net.mode(), model::AttentionMode::warmup);
  const data::TokenLoader val(data::read_shards(test::tiny_data_dir() + "/val_*.bin"));
  const int64_t batch = cfg.train.batch_size, seq = cfg.model.seq_len, k = cfg.selection.k;
  const int64_t windows = 4 * batch;
  const train::EvalResult indexed = train::evaluate(net, val, {}, batch, windows, windows);

  model::DsaProbe<float> probe;  // the same windows with random lists forced into every layer
  net.set_probe(&probe);
  std::vector<int32_t> inputs(batch * seq), targets(batch * seq);
  double random_mass = 0;
  int64_t rows = 0;
  model::ForwardOptions options;
  options.selection_metrics = true;
  for (int64_t first = 0; first < windows; first += batch) {
    for (int64_t i = 0; i < batch; ++i)
      val.eval_window(first + i, seq, inputs.data() + i * seq, targets.data() + i * seq);
    probe.forced_lists.clear();
    for (int64_t l = 0; l < cfg.model.n_layers; ++l)
      probe.forced_lists.push_back(
          test::random_lists(batch, seq, k, 1000 * first + l, test::ListFill::full));
    net.forward(inputs.data(), targets.data(), batch, seq, options);
    random_mass += net.dsa_stats().mass_recall_sum;
    rows += net.dsa_stats().metric_rows;
  }
  const double random_recall = random_mass / double(rows);
  std::printf("attention mass in S_t (k = %ld of T = %ld, mean over rows and layers): "
              "indexer top-k %.4f, random causal selection %.4f; topk_overlap %.4f\n",
              long(k), long(seq), *indexed.mass_recall, random_recall, *indexed.topk_overlap);
  EXPECT_GT(*indexed.mass_recall, random_recall + 0.15);
}

}  // namespace
}  // namespace dsa

namespace dsa {
namespace {

// Parameters (not moments) of one group, by tensor name, from a checkpoint.
std::vector<float> group_params(const std::string& path, bool indexer) {
  std::vector<float> values;
  for (const CheckpointTensor& tensor : load_checkpoint(path).tensors)
    if (tensor.name.rfind("param/", 0) == 0 &&
        (tensor.name.find(".indexer.") != std::string::npos) == indexer)
      values.insert(values.end(), tensor.values.begin(), tensor.values.end());
  return values;
}

TEST(DsaTrain, InitFromADenseRunThenWarmUp) {
  const train::TrainOutcome dense = train::train(staged_config("init_dense", 10, 0, 0), {false, 0, false});
  config::Config cfg = staged_config("init_dsa", 1, 4, 4);
  cfg.stages.erase(cfg.stages.begin());  // warmup and sparse only
  cfg.train.init_from = dense.final_checkpoint;
  cfg.train.ckpt_every = 4;
  const train::TrainOutcome out = train::train(cfg, {false, 0, false});
  EXPECT_EQ(group_params(out.run_dir + "/step_4.ckpt", false), group_params(dense.final_checkpoint, false))
      << "the warm-up must start from, and keep, the dense run's main weights";
  EXPECT_NE(group_params(out.final_checkpoint, false), group_params(dense.final_checkpoint, false));

  config::Config other = cfg;  // a checkpoint of another model is refused before anything runs
  other.model.d_ff += 8;
  other.run.name = "init_bad";
  EXPECT_HAS(test::error_of([&] { train::train(other, {false, 0, false}); }),
             "train.init_from needs a checkpoint of the same model section");
  EXPECT_FALSE(fs::exists(other.run.dir + "/init_bad"));
}

}  // namespace
}  // namespace dsa
