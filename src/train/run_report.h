// What a training run reports on the terminal and in its run folder: the memory plan, the line
// that opens each stage, evaluations (terminal and metrics.jsonl), durations and summary.json.
#pragma once
#include <cstdint>
#include <string>

#include "config/config.h"
#include "model/model.h"
#include "train/evaluate.h"
#include "train/metrics_log.h"
#include "train/schedule.h"
#include "train/trainer.h"

namespace dsa::train {

std::string format_duration(double seconds);  // "4m28s", "1h05m"
void print_plan(const model::MemoryPlan& plan, const std::string& device);
void log_eval(MetricsLog& log, int64_t step, const char* stage, const EvalResult& e);
// One line when a stage begins (or a run resumes inside one): what trains and how it attends.
void print_stage(const config::Config& cfg, size_t index, const StepPlan& plan);
void print_eval(int64_t step, const EvalResult& e);
// summary.json: the final evaluation, speed, memory plan and per-layer accounting.
void write_summary(const std::string& path, const config::Config& cfg, const TrainOutcome& out,
                   const model::MemoryPlan& plan, int64_t params, const std::string& device,
                   double wall_seconds);

}  // namespace dsa::train
