#include "train/trainer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <regex>

#include "core/error.h"
#include "core/file_io.h"
#include "core/profile.h"
#include "core/timer.h"
#include "cpu/blas_info.h"
#include "data/corpus.h"
#include "data/shard.h"
#include "model/accounting.h"
#include "train/checkpoint.h"
#include "train/schedule.h"
#include "train/metrics_log.h"
#include "train/model_io.h"
#include "train/session.h"

namespace dsa::train {

namespace {

namespace fs = std::filesystem;

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

// Resuming continues the same run: what shapes the trajectory must match the checkpoint's config.
// Logging, evaluation and checkpoint cadence, paths and the device may change.
void check_resumable(const config::Config& saved, const config::Config& now, const std::string& path) {
  auto require = [&](bool same, const char* section) {
    DSA_CHECK(same, path, ": the checkpoint's ", section, " section differs from the config's; ",
              "resume needs the same ", section, " (start a new run.name to change it)");
  };
  require(saved.model == now.model, "model");
  require(saved.optimizer == now.optimizer, "optimizer");
  require(saved.stages == now.stages, "schedule.stages");
  require(saved.indexer == now.indexer, "indexer");
  require(saved.selection == now.selection, "selection");
  require(saved.train.seed == now.train.seed && saved.train.batch_size == now.train.batch_size,
          "train (seed, batch_size)");
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

std::string checkpoint_path(const std::string& run_dir, int64_t step) {
  return run_dir + "/step_" + std::to_string(step) + ".ckpt";
}

// Newest step_<n>.ckpt of the run folder, or "" when there is none.
std::string newest_checkpoint(const std::string& run_dir) {
  if (!fs::is_directory(run_dir)) return "";
  const std::regex name_pattern("step_([0-9]+)\\.ckpt");
  int64_t best_step = -1;
  std::string best;
  for (const fs::directory_entry& entry : fs::directory_iterator(run_dir)) {
    std::smatch match;
    const std::string name = entry.path().filename().string();
    if (!std::regex_match(name, match, name_pattern)) continue;
    const int64_t step = std::stoll(match[1].str());
    if (step > best_step) best_step = step, best = entry.path().string();
  }
  return best;
}

// Host copies of the device tensors a checkpoint holds (a plain copy on the CPU twin).
struct HostState {
  std::vector<float> params, m, v;
};

HostState read_state(Session& s) {
  const int64_t total = s.model().layout().total;
  HostState state{std::vector<float>(total), std::vector<float>(total), std::vector<float>(total)};
  const auto& mem = s.model().backend().memory;
  const ops::Context& ctx = s.model().context();
  mem.to_host(ctx, state.params.data(), s.model().params(), total * sizeof(float));
  mem.to_host(ctx, state.m.data(), s.optimizer().m(), total * sizeof(float));
  mem.to_host(ctx, state.v.data(), s.optimizer().v(), total * sizeof(float));
  return state;
}

void save(Session& s, const std::string& path, int64_t step) {
  const HostState state = read_state(s);
  save_training_state(path, s.config(), s.model().layout(),
                      {state.params.data(), state.m.data(), state.v.data(), step,
                       {s.optimizer().updates()[size_t(model::ParamGroup::main)],
                        s.optimizer().updates()[size_t(model::ParamGroup::indexer)]}});
}

int64_t restore(Session& s, const std::string& path) {
  const CheckpointData ckpt = load_checkpoint(path);
  const config::Config saved = config::parse(ckpt.config_yaml, path + " (embedded config)");
  check_resumable(saved, s.config(), path);
  HostState state = read_state(s);
  for (const model::ParamSpec& spec : s.model().layout().specs) {
    ckpt.copy_tensor("param/" + spec.name, spec.shape, spec.view(state.params.data()).data);
    ckpt.copy_tensor("adam_m/" + spec.name, spec.shape, spec.view(state.m.data()).data);
    ckpt.copy_tensor("adam_v/" + spec.name, spec.shape, spec.view(state.v.data()).data);
  }
  const int64_t total = s.model().layout().total;
  const auto& mem = s.model().backend().memory;
  const ops::Context& ctx = s.model().context();
  mem.to_device(ctx, s.model().params(), state.params.data(), total * sizeof(float));
  mem.to_device(ctx, s.optimizer().m(), state.m.data(), total * sizeof(float));
  mem.to_device(ctx, s.optimizer().v(), state.v.data(), total * sizeof(float));
  s.optimizer().updates() = {ckpt.counter("adam_updates_main"), ckpt.counter("adam_updates_indexer")};
  return ckpt.counter("step");
}

// train.init_from: the weights of another run's checkpoint (same model section) start this one,
// tensor by tensor; tensors it lacks keep their init — only indexer tensors may be missing (a dense
// run's checkpoint starting a warm-up). AdamW moments and the step count start fresh.
void init_from_checkpoint(Session& s, const std::string& path) {
  const CheckpointData ckpt = load_checkpoint(path);
  const config::Config saved = config::parse(ckpt.config_yaml, path + " (embedded config)");
  DSA_CHECK(saved.model == s.config().model, path, ": train.init_from needs a checkpoint of the "
            "same model section (the shapes of every main tensor); this one's differs");
  HostState state = read_state(s);
  int64_t copied = 0, fresh = 0;
  for (const model::ParamSpec& spec : s.model().layout().specs) {
    const std::string name = "param/" + spec.name;
    if (ckpt.has_tensor(name)) {
      ckpt.copy_tensor(name, spec.shape, spec.view(state.params.data()).data);
      ++copied;
      continue;
    }
    DSA_CHECK(spec.group == model::ParamGroup::indexer, path, ": train.init_from: the checkpoint "
              "has no tensor '", spec.name, "' (only indexer tensors may be missing)");
    ++fresh;
  }
  const int64_t total = s.model().layout().total;
  s.model().backend().memory.to_device(s.model().context(), s.model().params(),
                                       state.params.data(), total * sizeof(float));
  std::printf("init: %ld tensors from %s (step %ld)%s\n", long(copied), path.c_str(),
              long(ckpt.counter("step")),
              fresh > 0 ? cat("; ", fresh, " indexer tensors keep their init").c_str() : "");
}

std::string format_duration(double seconds) {
  const int64_t total = static_cast<int64_t>(seconds + 0.5);
  char text[32];
  if (total >= 3600)
    std::snprintf(text, sizeof text, "%ldh%02ldm", long(total / 3600), long(total % 3600 / 60));
  else
    std::snprintf(text, sizeof text, "%ldm%02lds", long(total / 60), long(total % 60));
  return text;
}

void print_plan(const model::MemoryPlan& p, const std::string& device) {
  std::printf("memory plan (%s): params %s | grads %s | optimizer %s | activations %s | "
              "scratch %s | total %s\n", device.c_str(), format_bytes(p.params).c_str(),
              format_bytes(p.grads).c_str(), format_bytes(p.optimizer).c_str(),
              format_bytes(p.activations).c_str(), format_bytes(p.scratch).c_str(),
              format_bytes(p.total()).c_str());
}

void log_eval(MetricsLog& log, int64_t step, const char* stage, const EvalResult& e) {
  MetricsLine line;
  line.add("step", step).add("stage", std::string(stage)).add("val_loss", e.loss);
  if (e.bytes > 0) line.add("val_bpb", e.bpb);
  line.add("val_ppl", e.ppl).add("val_acc", e.acc).add("val_tokens", e.tokens);
  if (e.mass_recall) line.add("attn_mass_recall", *e.mass_recall);
  if (e.topk_overlap) line.add("topk_overlap", *e.topk_overlap);
  log.write(line);
}

// One line when a stage begins (or a run resumes inside one): what trains and how it attends.
void print_stage(const config::Config& cfg, size_t index, const StepPlan& plan) {
  const config::StageConfig& stage = cfg.stages[index];
  const char* what = "dense attention; the main model trains on the LM loss";
  if (plan.mode == model::AttentionMode::warmup)
    what = "dense attention; main model frozen; the indexer trains on L_I over s <= t";
  if (plan.mode == model::AttentionMode::sparse)
    what = "sparse attention over the indexer's top-k; main model on the LM loss, indexer on L_I "
           "over S_t";
  std::printf("stage %zu/%zu: %s, %ld steps: %s", index + 1, cfg.stages.size(), config::stage_kind_name(stage.kind),
              long(stage.steps), what);
  const long k = long(std::min(plan.k, cfg.model.seq_len));
  if (plan.mode == model::AttentionMode::warmup) std::printf(" (evaluations measure top-%ld)", k);
  if (plan.mode == model::AttentionMode::sparse) std::printf(" (k = %ld)", k);
  std::printf("\n");
}

void print_eval(int64_t step, const EvalResult& e) {
  std::printf("eval  %5ld | val_loss %.4f | val_bpb %.4f | val_acc %.4f", long(step), e.loss, e.bpb,
              e.acc);
  if (e.mass_recall)
    std::printf(" | attn_mass_recall %.4f | topk_overlap %.4f", *e.mass_recall, *e.topk_overlap);
  std::printf("\n");
}

// Per-layer accounting (model/accounting.h) as flat summary keys: GFLOP per training step.
void add_accounting(MetricsLine& s, const model::LayerAccounting& a) {
  s.add("layer_attention_params", a.attention_params);
  s.add("layer_attention_dense_gflop", a.attention_dense_flops * 1e-9);
  s.add("layer_attention_projection_gflop", a.attention_projection_flops * 1e-9);
  if (a.list_width > 0) {
    s.add("sparse_k", a.list_width);
    s.add("layer_attention_sparse_gflop", a.attention_sparse_flops * 1e-9);
  }
  if (a.indexer_params == 0) return;
  s.add("layer_indexer_params", a.indexer_params);
  s.add("layer_indexer_warmup_gflop", a.indexer_warmup_flops * 1e-9);
  s.add("layer_indexer_sparse_gflop", a.indexer_sparse_flops * 1e-9);
  s.add("indexer_scratch_bytes", int64_t(a.indexer_scratch_bytes));
  s.add("layer_lists_bytes", int64_t(a.lists_bytes));
}

void write_summary(const std::string& path, const config::Config& cfg, const TrainOutcome& out,
                   const model::MemoryPlan& plan, int64_t params, const std::string& device,
                   double wall_seconds) {
  MetricsLine s;
  s.add("run", cfg.run.name).add("steps", cfg.total_steps()).add("params", params);
  s.add("device", device).add("threads", int64_t(cpu::cpu_threads()));
  s.add("val_loss", out.final_eval.loss);
  if (out.final_eval.bytes > 0) s.add("val_bpb", out.final_eval.bpb);
  s.add("val_ppl", out.final_eval.ppl).add("val_acc", out.final_eval.acc);
  if (out.final_eval.mass_recall) s.add("attn_mass_recall", *out.final_eval.mass_recall);
  if (out.final_eval.topk_overlap) s.add("topk_overlap", *out.final_eval.topk_overlap);
  s.add("val_tokens", out.final_eval.tokens).add("tokens_per_s", out.tokens_per_s);
  s.add("wall_seconds", wall_seconds).add("mem_bytes", int64_t(plan.total()));
  s.add("final_checkpoint", out.final_checkpoint);
  add_accounting(s, model::account_layer(cfg));
  write_file_atomic(path, s.str() + "\n");
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
