// dsatrain bench: training-step throughput of a config (the figure tools/bench_cpu.sh compares
// with PyTorch) and the machine's GEMM ceiling, both with the BLAS library actually loaded.
#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <vector>

#include "cli/bench_attention.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "config/config.h"
#include "core/arena.h"
#include "core/error.h"
#include "core/file_io.h"
#include "core/philox.h"
#include "core/profile.h"
#include "core/timer.h"
#include "cpu/blas_info.h"
#include "cpu/cpu_ops.h"
#include "data/shard.h"
#include "model/accounting.h"
#include "train/session.h"

#include "cuda_backend.h"

namespace dsa::cli {

static const CommandSpec kBench{
    "bench",
    "Times training steps of a config's model (random windows of its training data, or random\n"
    "tokens when none is prepared), or with --gemm the machine's sgemm rate, or with --ceilings\n"
    "the GPU's GEMM and copy ceilings.",
    {{"config", "FILE", "configs/quickstart.yaml", "YAML config whose model and batch to time"},
     {"set", "KEY=VALUE", "", "override a config key", false, true},
     {"steps", "N", "10", "timed training steps"},
     {"warmup", "N", "2", "untimed steps first"},
     {"gemm", "", "", "measure sgemm GFLOP/s (M=N=K=2048 and the model's largest shapes) instead"},
     {"ceilings", "", "", "measure the GPU's limits instead: cuBLAS GEMM TFLOP/s at 8192^3 (fp32, TF32, bf16) and copy TB/s"},
     {"profile", "", "", "time every op of the timed steps and print the breakdown"},
     {"attention", "", "", "time dense vs sparse attention kernels alone (forward + backward) instead; no config needed"},
     {"attention-t", "LIST", "1024,2048,4096,8192", "--attention: sequence lengths T"},
     {"attention-k", "LIST", "64,256,512", "--attention: index list widths k"},
     {"attention-reps", "N", "1", "--attention: timed reps per row after 1 warm-up (CPU: the best; GPU: the median, 5 unless given)"},
     {"attention-peer", "auto|on|off", "auto", "--attention: PyTorch peer (tools/attention_ref.py); auto = when the --attention-python has torch"},
     {"attention-python", "PATH", "/usr/bin/python3", "--attention: the Python that runs the PyTorch peer"},
     {"attention-dsa-k", "N", "256", "--attention: k of the DSA-block table (indexer + selection + sparse attention vs dense, at each T)"},
     {"attention-dsa-indexers", "LIST", "4x64,1x16", "--attention: the DSA-block table's indexers, HIxdI each"},
     {"attention-dsa-hkv", "LIST", "8,1", "--attention: the DSA-block table's key/value heads (of H = 8)"},
     device_option("--attention: which twin runs the table")}};

static double gemm_gflops(int64_t m, int64_t n, int64_t k) {
  std::vector<float> a(m * k), b(n * k), c(m * n);
  for (size_t i = 0; i < a.size(); ++i) a[i] = philox_normal(1, 0, i);
  for (size_t i = 0; i < b.size(); ++i) b[i] = philox_normal(2, 0, i);
  const ops::Context ctx;
  auto run = [&] { cpu::gemm<float>(ctx, false, true, m, n, k, 1.0f, a.data(), k, b.data(), k, 0.0f, c.data(), n); };
  run();
  int reps = 0;
  const Timer timer;
  do {
    run();
    ++reps;
  } while (timer.seconds() < 1.0);
  return 2.0 * m * n * k * reps / timer.seconds() / 1e9;
}

static int bench_gemm() {
  double best = 0;
  for (const auto [m, n, k] : {std::array<int64_t, 3>{2048, 2048, 2048}, {4096, 4096, 256}, {4096, 1376, 256}}) {
    const double rate = gemm_gflops(m, n, k);
    best = std::max(best, rate);
    std::printf("gemm: M=%ld N=%ld K=%ld gflops=%.1f\n", long(m), long(n), long(k), rate);
  }
  std::printf("gemm: gflops=%.1f threads=%d blas=%s\n", best, cpu::cpu_threads(), cpu::blas_library().c_str());
  return 0;
}

// One line per ceiling, key=value first (tools/gpu_check.sh reads them).
static int bench_ceilings() {
  const cuda::DeviceStatus gpu = cuda::device_status();
  DSA_CHECK(gpu.available, "bench --ceilings needs a GPU: ", gpu.description);
  const cuda::Ceilings c = cuda::measure_ceilings();
  std::printf("ceiling: device=%s\n", c.device.c_str());
  std::printf("ceiling: fp32_gemm_tflops=%.2f (cuBLAS 8192^3, TF32 off, median of 10)\n", c.fp32_gemm_tflops);
  std::printf("ceiling: tf32_gemm_tflops=%.2f (cuBLAS 8192^3, TF32 tensor cores)\n", c.tf32_gemm_tflops);
  std::printf("ceiling: bf16_gemm_tflops=%.2f (cuBLAS 8192^3, bf16 in/out, fp32 accumulate)\n", c.bf16_gemm_tflops);
  std::printf("ceiling: copy_tb_per_s=%.3f (device-to-device cudaMemcpy of 2 GiB, bytes read + written)\n", c.copy_tb_per_s);
  return 0;
}

// docs/design.md §2: the plan printed at start against what the process really took. On the GPU that
// is every cudaMalloc of the twin (arenas + cuBLAS workspace); on the CPU the peak resident set,
// which also holds the program, the token shards and libraries, so it sits above the plan.
static void print_memory_check(const model::MemoryPlan& plan, ops::Device device) {
  size_t measured = 0;
  const char* what = "peak resident set";
  if (device == ops::Device::cuda) measured = cuda::allocated_bytes(), what = "device bytes allocated";
  if (device == ops::Device::cpu) {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    measured = static_cast<size_t>(usage.ru_maxrss) * 1024;
  }
  std::printf("memory: plan %s, measured %s %s (%.2fx the plan)\n", format_bytes(plan.total()).c_str(),
              what, format_bytes(measured).c_str(), double(measured) / double(std::max<size_t>(plan.total(), 1)));
}

int run_bench(const Args& args) {
  const ParsedOptions options = parse_options(kBench, args);
  if (options.help) return std::printf("%s", help_text(kBench).c_str()), 0;
  if (options.flag("gemm")) return bench_gemm();
  if (options.flag("ceilings")) return bench_ceilings();
  if (options.flag("attention")) return bench_attention(options);
  const config::Config cfg = config::load(options.get("config"), options.all("set"));
  const train::BackendChoice choice = train::choose_backend(cfg.train.device, options.flag("profile"));
  auto comm = dist::make_communicator("local");
  train::Session session(cfg, *choice.backend, *comm);
  if (choice.backend->device == ops::Device::cuda && cuda::runs_emulated())
    std::printf("note: the emulated device times the emulator on this CPU, not a GPU (speed is not emulated)\n");
  const int64_t batch = cfg.train.batch_size, seq = cfg.model.seq_len;
  const std::string shard = cfg.data.dir + "/train_000000.bin";
  std::vector<int32_t> tokens;
  if (file_exists(shard)) tokens = data::read_shard(shard);
  else std::printf("bench: %s not found; timing on random tokens\n", shard.c_str());
  std::vector<int32_t> inputs(batch * seq), targets(batch * seq);
  auto fill = [&](int64_t step) {
    for (int64_t i = 0; i < batch * seq; ++i) {
      const int64_t at = tokens.size() > 1 ? philox_below(cfg.train.seed, step, i, tokens.size() - 1) : 0;
      inputs[i] = tokens.empty() ? int32_t(philox_below(3, step, i, cfg.model.vocab_size)) : tokens[at];
      targets[i] = tokens.empty() ? int32_t(philox_below(4, step, i, cfg.model.vocab_size)) : tokens[at + 1];
    }
  };
  const int64_t warmup = options.integer("warmup"), steps = options.integer("steps");
  std::printf("%s", model::describe(model::account_layer(cfg), cfg).c_str());
  // One timing per stage kind of the config, in schedule order (a dense config: one, as before);
  // each with the stage's own plan (attention mode, k, frozen groups) at its first step.
  std::vector<config::StageKind> timed;
  int64_t first_step = 0;
  for (const config::StageConfig& stage : cfg.stages) {
    const int64_t at = first_step;
    first_step += stage.steps;
    if (std::find(timed.begin(), timed.end(), stage.kind) != timed.end()) continue;
    timed.push_back(stage.kind);
    const train::StepPlan plan = train::step_plan(cfg, at);
    double seconds = 0, loss = 0;
    for (int64_t step = 0; step < warmup + steps; ++step) {
      fill(step);
      if (step == warmup) profile::reset();
      const Timer timer;
      loss = session.step(inputs.data(), targets.data(), plan).loss;
      if (step >= warmup) seconds += timer.seconds();
    }
    if (options.flag("profile"))
      std::printf("per-op time of stage %s over %ld steps (step total %.1f ms):\n%s",
                  config::stage_kind_name(stage.kind), long(steps), 1e3 * seconds, profile::report().c_str());
    const double tokens_per_s = steps * batch * seq / seconds;
    std::printf("bench: tokens_per_s=%.1f step_ms=%.2f loss=%.4f steps=%ld stage=%s device=%s "
                "threads=%d blas=%s\n", tokens_per_s, 1e3 * seconds / steps, loss, long(steps),
                config::stage_kind_name(stage.kind), choice.backend->name, cpu::cpu_threads(),
                cpu::blas_library().c_str());
  }
  print_memory_check(session.model().memory_plan(), choice.backend->device);
  return 0;
}

}  // namespace dsa::cli
