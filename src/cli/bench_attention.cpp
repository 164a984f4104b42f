// dsatrain bench --attention: the attention kernels alone, forward + backward, dense causal
// against sparse attention over index lists (issue 4 acceptance, docs/kernels.md §K4), through the
// backend table of the chosen device (--device auto|cpu|cuda: the CUDA twin when the build has it
// and a GPU is present, else the CPU twin), with the device's copy bandwidth and a PyTorch peer
// (tools/attention_ref.py, on the same device) in the same run. This file reads the options and
// prints; bench_attention_timing.cpp times, bench_attention_peer.cpp runs the peer.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "cli/bench_attention.h"
#include "core/error.h"
#include "core/timer.h"
#include "cpu/blas_info.h"
#include "cpu/cpu_ops.h"

#include "cuda_backend.h"
#include "train/session.h"

namespace dsa::cli {

namespace {

using namespace attention_bench;

constexpr int64_t kGpuDefaultReps = 5;  // GPU rows without --attention-reps
constexpr int64_t kScalingLineK = 256;  // the final line's k (else the first k given)

std::vector<int64_t> parse_list(const std::string& option, const std::string& text) {
  std::vector<int64_t> values;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    char* end = nullptr;
    const long long value = std::strtoll(item.c_str(), &end, 10);
    DSA_CHECK(!item.empty() && end && *end == '\0' && value >= 1, "bench: --", option,
              " takes a comma-separated list of positive integers (got '", text, "')");
    values.push_back(value);
  }
  DSA_CHECK(!values.empty(), "bench: --", option, " is empty");
  return values;
}

// "4x64,1x16": HI x dI per indexer.
std::vector<IndexerSize> parse_indexers(const std::string& text) {
  std::vector<IndexerSize> indexers;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    long long heads = 0, dim = 0;
    char tail = 0;
    DSA_CHECK(std::sscanf(item.c_str(), "%lldx%lld%c", &heads, &dim, &tail) == 2 && heads >= 1 && dim >= 1,
              "bench: --attention-dsa-indexers takes a comma-separated list of HIxdI, e.g. 4x64,1x16 (got '",
              text, "')");
    indexers.push_back({heads, dim});
  }
  DSA_CHECK(!indexers.empty(), "bench: --attention-dsa-indexers is empty");
  return indexers;
}

// The options as a plan. The backend table comes from train::choose_backend, the one device
// chooser (auto = the GPU when there is one); on the emulated device the rows time the emulator,
// as on a CPU.
Plan read_plan(const ParsedOptions& options) {
  Plan plan;
  plan.seqs = parse_list("attention-t", options.get("attention-t"));
  plan.widths = parse_list("attention-k", options.get("attention-k"));
  plan.dsa_k = options.integer("attention-dsa-k");
  DSA_CHECK(plan.dsa_k >= 1, "bench: --attention-dsa-k must be >= 1 (got ", plan.dsa_k, ")");
  plan.dsa_indexers = parse_indexers(options.get("attention-dsa-indexers"));
  plan.dsa_kv_heads = parse_list("attention-dsa-hkv", options.get("attention-dsa-hkv"));
  for (int64_t hkv : plan.dsa_kv_heads)
    DSA_CHECK(kHeads % hkv == 0, "bench: --attention-dsa-hkv: ", hkv, " does not divide H = ", kHeads,
              " (allowed: 1, 2, 4, 8)");
  const train::BackendChoice choice = train::choose_backend(options.get("device"), false, "bench --attention --device");
  plan.backend = choice.backend;
  plan.gpu = choice.backend->device == ops::Device::cuda && !cuda::runs_emulated();
  plan.device_description = choice.reason;
  plan.reps = plan.gpu && !options.given("attention-reps") ? kGpuDefaultReps : options.integer("attention-reps");
  DSA_CHECK(plan.reps >= 1, "bench: --attention-reps must be >= 1");
  const ops::Backend<float>& be = *plan.backend;
  DSA_CHECK(be.sparse_attention_forward && be.sparse_attention_backward && be.topk_select && be.indexer_forward,
            "bench --attention: the ", be.name, " twin lacks the DSA ops");
  return plan;
}

// Bytes read + written by one memcpy of 512 MiB, best of `reps`.
double copy_gb_per_s(int reps) {
  const size_t bytes = size_t(512) << 20;
  std::vector<char> src(bytes, 1), dst(bytes, 0);
  double best = 1e30;
  for (int i = 0; i < reps; ++i) {
    const Timer timer;
    std::memcpy(dst.data(), src.data(), bytes);
    best = std::min(best, timer.seconds());
  }
  return 2.0 * double(bytes) / best / 1e9 + 0 * dst[bytes / 2];
}

// Prints what is timed and how; returns the device's copy bandwidth in GB/s (the of_copy columns).
double print_header(const Plan& plan) {
  std::printf("bench --attention: B=1 H=%ld Hkv=%ld Dh=%ld float32, separate q/k/v buffers (q_stride = kv_stride = H*Dh), random normal inputs\n",
              long(kHeads), long(kHeads), long(kHeadDim));
  std::printf("device: %s\n", plan.device_description.c_str());
  if (plan.gpu)
    std::printf("timing: %ld timed rep(s) after 1 warm-up per row, median; host timer around a stream synchronize\n"
                "  (each figure includes the launches and one synchronisation, ~10-50 us; the sparse ops also check\n"
                "  the lists on the device first, with one synchronisation of their own)\n", long(plan.reps));
  else
    std::printf("threads=%d blas=%s; %ld timed rep(s) after 1 warm-up per row, best (T >= 8192 dense: 1 rep)\n",
                cpu::cpu_threads(), cpu::blas_library().c_str(), long(plan.reps));
  std::printf("timed: the attention kernels alone (forward; backward incl. its list checks and transposed lists);\n"
              "  selection (top-k) and the lightning indexer are timed separately (second table; the rows use synthetic lists).\n");
  std::printf("lists: random = min(k,t+1) distinct keys s<=t, uniform (Philox), sorted, -1 padded; window = the last min(k,t+1) keys\n");
  std::printf("pairs = sum_t min(k,t+1) (dense: T(T+1)/2); ns/pair = (fwd+bwd) / (pairs*H);\n"
              "  gathered GB/s = pairs*H*Dh*4 B*2 (K and V rows) / forward time;\n"
              "  vs_torch = PyTorch (fwd+bwd) / dsatrain (fwd+bwd): > 1 means dsatrain is faster\n");
  double copy = 0;
  if (plan.gpu) {
    const cuda::Ceilings ceilings = cuda::measure_ceilings();
    copy = 1e3 * ceilings.copy_tb_per_s;
    std::printf("copy bandwidth: %.1f GB/s (device-to-device cudaMemcpy of 2 GiB, bytes read + written, median of 10; %s)\n",
                copy, ceilings.device.c_str());
  } else {
    if (plan.backend->device == ops::Device::cuda)
      std::printf("note: the emulated device times the emulator on this CPU, not a GPU (speed is not emulated)\n");
    copy = copy_gb_per_s(4);
    std::printf("copy bandwidth: %.1f GB/s (memcpy of 512 MiB, bytes read + written, best of 4)\n", copy);
  }
  std::fflush(stdout);
  return copy;
}

void print_attention_table(const Plan& plan, const std::vector<AttentionRow>& rows, double copy) {
  std::printf("%6s %5s %-7s %10s %10s %11s %8s %9s %8s %9s %9s %9s\n", "T", "k", "kind", "fwd_ms", "bwd_ms",
              "pairs", "ns/pair", "gath_GB/s", "of_copy", "torch_fwd", "torch_bwd", "vs_torch");
  // The GPU's rows are sub-millisecond: more decimals there.
  const char* ms_format = plan.gpu ? "%10.3f %10.3f" : "%10.2f %10.2f";
  for (const AttentionRow& row : rows) {
    const double total_ms = row.fwd_ms + row.bwd_ms;
    const double ns_pair = total_ms * 1e6 / (row.pairs * kHeads);
    const double gathered = row.pairs * kHeads * kHeadDim * 4.0 * 2.0 / (row.fwd_ms * 1e-3) / 1e9;
    char peer[96], times[64];
    if (row.peer_fwd_ms >= 0)
      std::snprintf(peer, sizeof peer, plan.gpu ? "%9.3f %9.3f %9.2f" : "%9.1f %9.1f %9.2f", row.peer_fwd_ms,
                    row.peer_bwd_ms, (row.peer_fwd_ms + row.peer_bwd_ms) / total_ms);
    else
      std::snprintf(peer, sizeof peer, "%9s %9s %9s", "-", "-", "-");
    std::snprintf(times, sizeof times, ms_format, row.fwd_ms, row.bwd_ms);
    const bool noted = row.peer_note != "-";
    std::printf("%6ld %5s %-7s %s %11.0f %8.3f %9.2f %8.3f %s%s%s\n", long(row.seq),
                row.k ? std::to_string(row.k).c_str() : "-", row.kind.c_str(), times, row.pairs, ns_pair, gathered,
                gathered / copy, peer, noted ? "  " : "", noted ? row.peer_note.c_str() : "");
  }
}

// The separate table: selection and indexer (docs/kernels.md §K2 counts).
void print_selection_table(const Plan& plan, const std::vector<SelectRow>& rows, double copy) {
  std::printf("selection and indexer, timed separately (%s): indexer_fwd = lightning indexer scores HI=%ld dI=%ld with weights,\n"
              "  all causal pairs (tflops = 2*T(T+1)/2*HI*dI / time; GB/s = the T*T*4 B of scores written);\n"
              "  topk = top-k selection over a random [1,T,T] score buffer (GB/s = T*T*4 B read / time, docs/kernels.md §K2)\n",
              plan.gpu ? "median" : "best", long(kIndexerHeads), long(kIndexerDim));
  std::printf("%6s %5s %-11s %10s %8s %9s %8s\n", "T", "k", "op", "ms", "tflops", "GB/s", "of_copy");
  for (const SelectRow& row : rows) {
    const double seconds = row.ms * 1e-3, square = double(row.seq) * double(row.seq);
    const double gbs = square * 4.0 / seconds / 1e9;
    char tflops[32];
    if (row.k == 0)
      std::snprintf(tflops, sizeof tflops, "%8.3f",
                    2.0 * double(row.seq) * double(row.seq + 1) / 2 * kIndexerHeads * kIndexerDim / seconds / 1e12);
    else
      std::snprintf(tflops, sizeof tflops, "%8s", "-");
    std::printf("%6ld %5s %-11s %10.3f %s %9.2f %8.3f\n", long(row.seq), row.k ? std::to_string(row.k).c_str() : "-",
                row.op.c_str(), row.ms, tflops, gbs, gbs / copy);
  }
}

// The DSA-block table, then one line per indexer and Hkv at the largest T.
void print_dsa_blocks(const Plan& plan, const std::vector<DsaBlockRow>& rows) {
  if (rows.empty()) {
    std::printf("DSA block: not timed on the emulated device (its times are the emulator's, not a GPU's)\n");
    return;
  }
  std::printf("DSA block, one layer's attention (B=1 H=%ld Dh=%ld float32, %s of reps): dsa = indexer scores + top-k\n"
              "  selection + sparse attention forward + backward over the selected lists; dense = dense causal\n"
              "  attention forward + backward at the same Hkv; kv_B/pair = K+V bytes gathered per attended pair\n",
              long(kHeads), long(kHeadDim), plan.gpu ? "median" : "best");
  std::printf("%6s %5s %-7s %3s %10s %9s %10s %10s %9s %9s %9s %9s\n", "T", "k", "indexer", "hkv", "indexer_ms",
              "select_ms", "sparse_fwd", "sparse_bwd", "dsa_ms", "dense_ms", "dense/dsa", "kv_B/pair");
  for (const DsaBlockRow& row : rows) {
    const std::string indexer = std::to_string(row.indexer.heads) + "x" + std::to_string(row.indexer.dim);
    std::printf("%6ld %5ld %-7s %3ld %10.3f %9.3f %10.3f %10.3f %9.3f %9.3f %9.2f %9ld\n", long(row.seq), long(row.k),
                indexer.c_str(), long(row.kv_heads), row.indexer_ms, row.select_ms, row.sparse_fwd_ms, row.sparse_bwd_ms,
                row.dsa_ms(), row.dense_ms(), row.dense_ms() / row.dsa_ms(), long(2 * row.kv_heads * kHeadDim * 4));
  }
  const int64_t max_seq = *std::max_element(plan.seqs.begin(), plan.seqs.end());
  for (const DsaBlockRow& row : rows)
    if (row.seq == max_seq)
      std::printf("dsa_block T=%ld k=%ld indexer=%ldx%ld hkv=%ld dense/dsa time: %.2f\n", long(row.seq), long(row.k),
                  long(row.indexer.heads), long(row.indexer.dim), long(row.kv_heads), row.dense_ms() / row.dsa_ms());
}

// Final line: time per attended pair of the random lists at kScalingLineK (or the first k
// given), largest T over smallest T; 1 means the cost grows with k, not with the context.
void print_scaling_line(const Plan& plan, const std::vector<AttentionRow>& rows) {
  const int64_t max_seq = *std::max_element(plan.seqs.begin(), plan.seqs.end());
  const int64_t min_seq = *std::min_element(plan.seqs.begin(), plan.seqs.end());
  const auto& widths = plan.widths;
  const int64_t k_line = std::find(widths.begin(), widths.end(), kScalingLineK) != widths.end() ? kScalingLineK : widths.front();
  auto per_pair = [&](int64_t seq) {
    for (const AttentionRow& row : rows)
      if (row.seq == seq && row.k == k_line && row.kind == "random") return (row.fwd_ms + row.bwd_ms) / row.pairs;
    return 0.0;
  };
  std::printf("sparse_scaling T%ld/T%ld k=%ld time_per_pair: %.3f\n", long(max_seq), long(min_seq), long(k_line),
              per_pair(max_seq) / per_pair(min_seq));
}

}  // namespace

int bench_attention(const ParsedOptions& options) {
  const std::string peer_mode = options.get("attention-peer");
  DSA_CHECK(peer_mode == "auto" || peer_mode == "on" || peer_mode == "off",
            "bench: --attention-peer takes auto, on or off (got '", peer_mode, "')");
  const std::string python = options.get("attention-python");
  DSA_CHECK(!python.empty(), "bench: --attention-python is empty");
  const Plan plan = read_plan(options);
  const double copy = print_header(plan);
  TimedRows timed = time_rows(plan);
  const std::string peer_status = run_peer(plan, peer_mode, python, timed.lists, timed.attention);
  std::printf("%s\n", peer_status.c_str());
  print_attention_table(plan, timed.attention, copy);
  print_selection_table(plan, timed.selection, copy);
  print_dsa_blocks(plan, timed.dsa_blocks);
  print_scaling_line(plan, timed.attention);
  return 0;
}

}  // namespace dsa::cli
