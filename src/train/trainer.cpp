#include "train/trainer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/error.h"
#include "core/file_io.h"
#include "core/profile.h"
#include "core/timer.h"
#include "cpu/blas_info.h"
#include "data/corpus.h"
#include "data/shard.h"
#include "model/accounting.h"
#include "train/schedule.h"
#include "train/metrics_log.h"
#include "train/model_io.h"
#include "train/run_report.h"
#include "train/run_state.h"
#include "train/session.h"

namespace dsa::train {

namespace {

std::string shard_pattern(const std::string& configured, const std::string& dir,
                          const std::string& split) {
  return configured.empty() ? dir + "/" + split + "_*.bin" : configured;
}

void prepare_if_missing(const config::DataConfig& d, int64_t vocab_size) {
  if (!d.train_shards.empty() || file_exists(d.dir + "/meta.json")) return;
  std::printf("data: %s is not prepared yet; preparing it now (dsatrain prepare)\n", d.dir.c_str());
  data::PrepareOptions options;
  options.source = d.source;
  options.files = d.files;
  options.out_dir = d.dir;
  options.vocab_size = vocab_size;
  options.val_every = d.val_every;
  data::prepare(options);
}

void check_token_range(const data::TokenLoader& split, const std::string& pattern,
                       int64_t vocab_size) {
  const auto [low, high] = std::minmax_element(split.tokens().begin(), split.tokens().end());
  DSA_CHECK(split.size() == 0 || (*low >= 0 && *high < vocab_size), pattern, ": token ids span [",
            *low, ", ", *high, "], outside model.vocab_size = ", vocab_size);
}

// What the config may name but this build cannot train yet is refused up front, never trained
// as something else: the selection strategies and indexer precisions of docs/design.md §5 beyond the
// default ones.
void check_dsa_supported(const config::Config& cfg) {
  if (!cfg.has_indexer()) return;
  DSA_CHECK(cfg.selection.strategy == "topk" || cfg.selection.strategy == "dense",
            "selection.strategy = '", cfg.selection.strategy, "' is not implemented yet; "
            "allowed here: topk, dense");
  DSA_CHECK(cfg.indexer.precision == "fp32", "indexer.precision = '", cfg.indexer.precision,
            "' is not implemented yet; allowed here: fp32");
}

}  // namespace

TrainingData load_training_data(const config::Config& cfg) {
  const config::DataConfig& d = cfg.data;
  prepare_if_missing(d, cfg.model.vocab_size);
  const std::string train_pattern = shard_pattern(d.train_shards, d.dir, "train");
  const std::string val_pattern = shard_pattern(d.val_shards, d.dir, "val");
  TrainingData data{data::TokenLoader(data::read_shards(train_pattern)),
                    data::TokenLoader(data::read_shards(val_pattern)), std::nullopt, {}};
  check_token_range(data.train, train_pattern, cfg.model.vocab_size);
  check_token_range(data.val, val_pattern, cfg.model.vocab_size);
  const std::string tokenizer_file = tokenizer_path(d);
  if (d.tokenizer != "none" && (file_exists(tokenizer_file) || !d.tokenizer.empty())) {
    data.tokenizer = data::Tokenizer::load(tokenizer_file);
    DSA_CHECK(data.tokenizer->vocab_size() <= cfg.model.vocab_size, tokenizer_file, ": tokenizer has ",
              data.tokenizer->vocab_size(), " tokens, more than model.vocab_size = ", cfg.model.vocab_size);
    for (int32_t id = 0; id < cfg.model.vocab_size; ++id)
      data.token_bytes.push_back(id < data.tokenizer->vocab_size()
                                     ? static_cast<int32_t>(data.tokenizer->token_bytes(id).size()) : 0);
  }
  return data;
}

std::string tokenizer_path(const config::DataConfig& data) {
  return data.tokenizer.empty() ? data.dir + "/tokenizer.dsatok" : data.tokenizer;
}

std::string final_line(const TrainOutcome& o) {
  char text[256];
  std::snprintf(text, sizeof text,
                "final: val_loss=%.4f val_bpb=%.4f val_ppl=%.2f val_acc=%.4f tokens_per_s=%.0f",
                o.final_eval.loss, o.final_eval.bpb, o.final_eval.ppl, o.final_eval.acc,
                o.tokens_per_s);
  return text;
}

TrainOutcome train(const config::Config& cfg, const TrainOptions& options) {
  const Timer wall;
  TrainOutcome outcome;
  outcome.run_dir = cfg.run.dir + "/" + cfg.run.name;
  // Everything that can fail on bad input (data, memory) happens before the run folder is touched.
  check_dsa_supported(cfg);
  TrainingData data = load_training_data(cfg);
  const BackendChoice choice = choose_backend(cfg.train.device);
  auto comm = dist::make_communicator("local");
  std::printf("device: %s (%s); threads %d; BLAS %s (%s)\n", choice.backend->name,
              choice.reason.c_str(), cpu::cpu_threads(), cpu::blas_library().c_str(),
              cpu::blas_threading().c_str());
  Session session(cfg, *choice.backend, *comm);
  model::Model<float>& net = session.model();
  std::printf("model: %ld parameters; data: %ld train tokens, %ld val tokens\n",
              long(net.layout().total), long(data.train.size()), long(data.val.size()));
  print_plan(net.memory_plan(), choice.backend->name);
  std::printf("%s", model::describe(model::account_layer(cfg), cfg).c_str());

  int64_t start_step = 0;
  const std::string resume_from = options.resume ? newest_checkpoint(outcome.run_dir) : "";
  if (options.resume && resume_from.empty())
    std::printf("resume: no checkpoint in %s; starting from step 0\n", outcome.run_dir.c_str());
  if (resume_from.empty() && !cfg.train.init_from.empty())
    init_from_checkpoint(session, cfg.train.init_from);
  if (!resume_from.empty()) {
    start_step = restore(session, resume_from);
    std::printf("resume: continuing from %s (step %ld)\n", resume_from.c_str(), long(start_step));
  }
  make_dirs(outcome.run_dir);
  write_file_atomic(outcome.run_dir + "/config.yaml", config::to_yaml(cfg));
  MetricsLog log(outcome.run_dir + "/metrics.jsonl", resume_from.empty() ? -1 : start_step);

  const int64_t total = cfg.total_steps(), batch = cfg.train.batch_size, seq = cfg.model.seq_len;
  std::vector<int32_t> inputs(batch * seq), targets(batch * seq);
  double train_seconds = 0;
  int64_t trained_tokens = 0;
  const int64_t stop = options.stop_after > 0 ? std::min(total, options.stop_after) : total;
  for (int64_t step = start_step; step < stop; ++step) {
    const StepPlan plan = step_plan(cfg, step);
    const char* stage = config::stage_kind_name(cfg.stages[plan.stage].kind);
    if (plan.step_in_stage == 0 || step == start_step) print_stage(cfg, size_t(plan.stage), plan);
    // The learning rates applied: 0 for a frozen group (warm-up: main; dense: the indexer).
    const double lr = applied_lr(plan, model::ParamGroup::main);
    const double indexer_lr = applied_lr(plan, model::ParamGroup::indexer);
    if (step + 1 == options.profile_first) profile::capture(true);
    const Timer step_timer;
    data.train.train_batch(cfg.train.seed, step, comm->rank(), batch, seq, inputs.data(), targets.data());
    const StepResult r = session.step(inputs.data(), targets.data(), plan);
    const double seconds = step_timer.seconds();
    if (step + 1 == options.profile_last) profile::capture(false);
    DSA_CHECK(std::isfinite(r.loss), "training diverged: loss is ", r.loss, " at step ", step + 1,
              " (lower the learning rate or check the data)");
    train_seconds += seconds;
    trained_tokens += batch * seq * comm->world_size();
    const double tokens_per_s = batch * seq * comm->world_size() / seconds;
    MetricsLine line;
    line.add("step", step + 1).add("stage", stage).add("lm_loss", r.loss);
    if (r.indexer_loss) line.add("indexer_loss", *r.indexer_loss);
    line.add("lr", lr);
    if (net.has_indexer()) line.add("indexer_lr", indexer_lr);
    line.add("grad_norm", r.optimizer.grad_norm[size_t(model::ParamGroup::main)]);
    if (net.has_indexer()) line.add("indexer_grad_norm", r.optimizer.grad_norm[size_t(model::ParamGroup::indexer)]);
    line.add("tokens_per_s", tokens_per_s);
    line.add("step_ms", seconds * 1e3).add("mem_bytes", int64_t(net.memory_plan().total()));
    log.write(line);
    const bool last = step + 1 == stop;
    if ((step + 1) % cfg.train.log_every == 0 || step == start_step || last) {
      const double eta = train_seconds / (step + 1 - start_step) * (total - step - 1);
      char indexer[64] = "";  // the indexer's loss and learning rate, once it trains
      if (r.indexer_loss)
        std::snprintf(indexer, sizeof indexer, " | L_I %.4f | indexer lr %.2e", *r.indexer_loss,
                      indexer_lr);
      std::printf("step %5ld/%ld | %-6s | loss %.4f | lr %.2e%s | %6.0f tok/s | %5.0f ms | ETA %s\n",
                  long(step + 1), long(total), stage, r.loss, lr, indexer,
                  tokens_per_s, seconds * 1e3, format_duration(eta).c_str());
      std::fflush(stdout);
    }
    if (!last && cfg.train.eval_every > 0 && (step + 1) % cfg.train.eval_every == 0) {
      const int64_t windows = cfg.train.eval_batches * batch;
      const EvalResult e = evaluate(net, data.val, data.token_bytes, batch, windows, windows);
      log_eval(log, step + 1, stage, e);
      print_eval(step + 1, e);
    }
    if (last || (cfg.train.ckpt_every > 0 && (step + 1) % cfg.train.ckpt_every == 0))
      save(session, checkpoint_path(outcome.run_dir, step + 1), step + 1);
  }
  outcome.final_checkpoint = checkpoint_path(outcome.run_dir, stop);
  outcome.tokens_per_s = train_seconds > 0 ? trained_tokens / train_seconds : 0.0;
  if (stop < total || !options.final_eval) {
    std::printf("stopped after step %ld of %ld; continue with --resume\n", long(stop), long(total));
    return outcome;
  }
  std::printf("final evaluation over the whole validation split (%ld tokens)...\n", long(data.val.size()));
  const StepPlan last_plan = step_plan(cfg, total - 1);  // the attention of the last stage
  net.set_mode(last_plan.mode, last_plan.k);
  outcome.final_eval = evaluate(net, data.val, data.token_bytes, batch, 0,
                                cfg.train.eval_batches * batch);
  print_eval(total, outcome.final_eval);
  log_eval(log, total, config::stage_kind_name(cfg.stages.back().kind), outcome.final_eval);
  write_summary(outcome.run_dir + "/summary.json", cfg, outcome, net.memory_plan(),
                net.layout().total, choice.backend->name, wall.seconds());
  return outcome;
}

}  // namespace dsa::train
