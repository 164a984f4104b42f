// What a training run reports (run_report.h).
#include "train/run_report.h"

#include <algorithm>
#include <cstdio>

#include "core/file_io.h"
#include "cpu/blas_info.h"
#include "model/accounting.h"

namespace dsa::train {

namespace {

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

}  // namespace

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

}  // namespace dsa::train
