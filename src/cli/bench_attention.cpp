// dsatrain bench --attention: the attention kernels alone, forward + backward, dense causal
// against sparse attention over index lists (issue 4 acceptance, KERNELS §4), on the CPU twin,
// with the machine's copy bandwidth and a PyTorch peer (tools/attention_ref.py) in the same run.
// Selection (top-k) and the lightning indexer are not timed here: the index lists are synthetic,
// uniformly random causal lists (no locality, the hard case) and sliding-window lists.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "cli/options.h"
#include "core/error.h"
#include "core/philox.h"
#include "core/timer.h"
#include "cpu/blas_info.h"
#include "cpu/cpu_ops.h"
#include "cpu/dsa_ops.h"

namespace dsa::cli {

namespace {

constexpr int64_t kHeads = 8, kHeadDim = 64;

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

// Row t holds min(k, t+1) keys s <= t, ascending, then -1 padding. random: distinct keys drawn
// uniformly with Philox (Floyd's algorithm); window: the last min(k, t+1) keys.
std::vector<int32_t> make_lists(int64_t seq, int64_t width, bool random) {
  std::vector<int32_t> lists(seq * width, -1);
  std::vector<int32_t> chosen;
  std::vector<char> taken(seq, 0);
  for (int64_t t = 0; t < seq; ++t) {
    const int64_t n = std::min(width, t + 1);
    int32_t* row = lists.data() + t * width;
    if (!random || n == t + 1) {
      for (int64_t j = 0; j < n; ++j) row[j] = int32_t(t + 1 - n + j);
      continue;
    }
    chosen.clear();
    uint64_t draw = 0;
    for (int64_t m = t + 1 - n; m <= t; ++m) {  // Floyd: n distinct values from [0, t]
      const auto r = int64_t(philox_below(20240604, uint64_t(seq) * 1000003 + t, draw++, uint64_t(m + 1)));
      const int64_t pick = taken[r] ? m : r;
      taken[pick] = 1;
      chosen.push_back(int32_t(pick));
    }
    std::sort(chosen.begin(), chosen.end());
    for (int64_t j = 0; j < n; ++j) row[j] = chosen[j], taken[chosen[j]] = 0;
  }
  return lists;
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

struct Row {
  int64_t seq, k;  // k = 0 for dense
  std::string kind;
  double fwd_ms = 0, bwd_ms = 0;
  double pairs = 0;
  double peer_fwd_ms = -1, peer_bwd_ms = -1;
  std::string peer_note = "-";
};

std::string find_peer_script() {
  if (std::filesystem::exists("tools/attention_ref.py")) return "tools/attention_ref.py";
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (auto dir = exe.parent_path(); !dir.empty() && dir != dir.root_path(); dir = dir.parent_path()) {
      const auto candidate = dir / "tools" / "attention_ref.py";
      if (std::filesystem::exists(candidate)) return candidate.string();
    }
  }
  return "";
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

int bench_attention(const ParsedOptions& options) {
  const std::vector<int64_t> seqs = parse_list("attention-t", options.get("attention-t"));
  const std::vector<int64_t> widths = parse_list("attention-k", options.get("attention-k"));
  const int64_t reps = options.integer("attention-reps");
  DSA_CHECK(reps >= 1, "bench: --attention-reps must be >= 1");
  const std::string peer_mode = options.get("attention-peer");
  DSA_CHECK(peer_mode == "auto" || peer_mode == "on" || peer_mode == "off",
            "bench: --attention-peer takes auto, on or off (got '", peer_mode, "')");
  const int64_t max_seq = *std::max_element(seqs.begin(), seqs.end());
  const int64_t min_seq = *std::min_element(seqs.begin(), seqs.end());

  std::printf("bench --attention: B=1 H=%ld Hkv=%ld Dh=%ld float32, separate q/k/v buffers (q_stride = kv_stride = H*Dh), random normal inputs\n",
              long(kHeads), long(kHeads), long(kHeadDim));
#ifdef DSA_WITH_CUDA
  std::printf("device: CPU twin only: this build has the CUDA twin, but no CUDA sparse attention op yet (GPU run pending)\n");
#else
  std::printf("device: CPU twin (this build has no CUDA twin)\n");
#endif
  std::printf("threads=%d blas=%s; %ld timed rep(s) after 1 warm-up per row (T >= 8192 dense: 1 rep)\n",
              cpu::cpu_threads(), cpu::blas_library().c_str(), long(reps));
  std::printf("timed: the attention kernels alone (forward; backward incl. its list checks and transposed lists);\n"
              "  selection (top-k) and the lightning indexer are NOT timed here (lists are synthetic).\n");
  std::printf("lists: random = min(k,t+1) distinct keys s<=t, uniform (Philox), sorted, -1 padded; window = the last min(k,t+1) keys\n");
  std::printf("pairs = sum_t min(k,t+1) (dense: T(T+1)/2); ns/pair = (fwd+bwd) / (pairs*H);\n"
              "  gathered GB/s = pairs*H*Dh*4 B*2 (K and V rows) / forward time;\n"
              "  vs_torch = PyTorch (fwd+bwd) / dsatrain (fwd+bwd): > 1 means dsatrain is faster\n");
  const double copy = copy_gb_per_s(4);
  std::printf("copy bandwidth: %.1f GB/s (memcpy of 512 MiB, bytes read + written, best of 4)\n", copy);
  std::fflush(stdout);

  // Index lists, kept for the peer.
  std::map<std::tuple<int64_t, int64_t, std::string>, std::vector<int32_t>> all_lists;
  std::vector<Row> rows;
  for (int64_t seq : seqs) {
    rows.push_back({seq, 0, "dense"});
    rows.back().pairs = double(seq) * double(seq + 1) / 2;
    for (int64_t k : widths)
      for (const char* kind : {"random", "window"}) {
        Row row{seq, k, kind};
        for (int64_t t = 0; t < seq; ++t) row.pairs += double(std::min(k, t + 1));
        rows.push_back(row);
      }
  }

  for (Row& row : rows) {
    const int64_t seq = row.seq, n = seq * kHeads * kHeadDim;
    const ops::AttentionShape shape{1, seq, kHeads, kHeads, kHeadDim, kHeads * kHeadDim, kHeads * kHeadDim};
    std::vector<float> q(n), k(n), v(n), dout(n), out(n), lse(kHeads * seq), dq(n), dk(n), dv(n);
    for (int64_t i = 0; i < n; ++i) {
      q[i] = philox_normal(11, seq, i), k[i] = philox_normal(12, seq, i);
      v[i] = philox_normal(13, seq, i), dout[i] = philox_normal(14, seq, i);
    }
    const bool dense = row.kind == "dense";
    std::vector<int32_t> lists;
    if (!dense) lists = make_lists(seq, row.k, row.kind == "random");
    const ops::IndexLists index{lists.data(), row.k};
    const size_t ws_bytes = dense ? cpu::attention_workspace(shape, sizeof(float))
                                  : cpu::sparse_attention_workspace(shape, row.k, sizeof(float));
    std::vector<double> ws(ws_bytes / sizeof(double) + 1);
    ops::Context ctx;
    ctx.workspace = ws.data();
    ctx.workspace_bytes = ws_bytes;
    const int64_t timed = dense && seq >= 8192 ? 1 : reps;
    double fwd = 1e30, bwd = 1e30;
    for (int64_t rep = 0; rep < 1 + timed; ++rep) {
      Timer timer;
      if (dense) cpu::attention_forward<float>(ctx, out.data(), lse.data(), q.data(), k.data(), v.data(), shape);
      else cpu::sparse_attention_forward<float>(ctx, out.data(), lse.data(), q.data(), k.data(), v.data(), index, shape);
      const double f = timer.seconds();
      timer.reset();
      if (dense)
        cpu::attention_backward<float>(ctx, dq.data(), dk.data(), dv.data(), dout.data(), out.data(), lse.data(),
                                       q.data(), k.data(), v.data(), shape);
      else
        cpu::sparse_attention_backward<float>(ctx, dq.data(), dk.data(), dv.data(), dout.data(), out.data(),
                                              lse.data(), q.data(), k.data(), v.data(), index, shape);
      const double b = timer.seconds();
      if (rep > 0) fwd = std::min(fwd, f), bwd = std::min(bwd, b);  // best of the timed reps
    }
    row.fwd_ms = 1e3 * fwd, row.bwd_ms = 1e3 * bwd;
    std::fprintf(stderr, "bench --attention: T=%ld k=%ld %s fwd %.1f ms bwd %.1f ms\n", long(seq), long(row.k),
                 row.kind.c_str(), row.fwd_ms, row.bwd_ms);
    if (!dense) all_lists[{seq, row.k, row.kind}] = std::move(lists);
  }

  // ---- PyTorch peer: same shapes, the same index lists (written here as raw int32 files) ----
  std::string peer_status;
  if (peer_mode == "off") {
    peer_status = "peer: off (--attention-peer off)";
  } else {
    const std::string script = find_peer_script();
    if (script.empty()) peer_status = "peer: unavailable (tools/attention_ref.py not found from the working directory or the binary's folders)";
    else if (access("/usr/bin/python3", X_OK) != 0) peer_status = "peer: unavailable (/usr/bin/python3 not found)";
    else if (peer_mode == "auto" && std::system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") != 0)
      peer_status = "peer: unavailable (/usr/bin/python3 cannot import torch; apt-get install -y python3-torch, or --attention-peer on)";
    else {
      char dir_template[] = "/tmp/dsa_attention_lists.XXXXXX";
      const char* dir = ::mkdtemp(dir_template);
      DSA_CHECK(dir != nullptr, "bench: cannot create a temporary folder for the index lists");
      for (const auto& [key, lists] : all_lists) {
        const auto& [seq, k, kind] = key;
        const std::string path = std::string(dir) + "/" + kind + "_T" + std::to_string(seq) + "_k" + std::to_string(k) + ".i32";
        std::FILE* f = std::fopen(path.c_str(), "wb");
        DSA_CHECK(f && std::fwrite(lists.data(), sizeof(int32_t), lists.size(), f) == lists.size(), "bench: cannot write ", path);
        std::fclose(f);
      }
      std::string ts, ks;
      for (int64_t s : seqs) ts += (ts.empty() ? "" : ",") + std::to_string(s);
      for (int64_t k : widths) ks += (ks.empty() ? "" : ",") + std::to_string(k);
      const char* ld = std::getenv("LD_LIBRARY_PATH");
      const std::string threads = std::to_string(cpu::cpu_threads());
      const std::string command = "OMP_NUM_THREADS=" + threads + " LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp" +
                                  std::string(ld && *ld ? std::string(":") + ld : "") + " /usr/bin/python3 " +
                                  shell_quote(script) + " --lists " + shell_quote(dir) + " --t " + ts + " --k " + ks +
                                  " --reps " + std::to_string(reps) + " --heads " + std::to_string(kHeads) +
                                  " --head-dim " + std::to_string(kHeadDim) + " --threads " + threads + " 2>&1";
      std::fprintf(stderr, "bench --attention: running the PyTorch peer: %s\n", command.c_str());
      std::FILE* pipe = ::popen(command.c_str(), "r");
      DSA_CHECK(pipe != nullptr, "bench: cannot start ", command);
      char line[4096];
      std::string info, other;
      int parsed = 0;
      while (std::fgets(line, sizeof line, pipe)) {
        std::fprintf(stderr, "  %s", line);  // progress: the peer's rows as they come
        long seq = 0, k = 0;
        char kind[32] = {0}, rest[512] = {0};
        double f = 0, b = 0;
        if (std::sscanf(line, "attention_ref: T=%ld k=%ld kind=%31s fwd_ms=%lf bwd_ms=%lf", &seq, &k, kind, &f, &b) == 5) {
          for (Row& row : rows)
            if (row.seq == seq && row.k == k && row.kind == kind) row.peer_fwd_ms = f, row.peer_bwd_ms = b, ++parsed;
        } else if (std::sscanf(line, "attention_ref: T=%ld k=%ld kind=%31s skipped %511[^\n]", &seq, &k, kind, rest) == 4) {
          for (Row& row : rows)
            if (row.seq == seq && row.k == k && row.kind == kind) row.peer_note = std::string("skipped ") + rest;
        } else if (std::strncmp(line, "attention_ref: torch", 20) == 0) {
          info = line;
        } else {
          other += line;
        }
      }
      const int rc = ::pclose(pipe);
      std::filesystem::remove_all(dir);
      if (!info.empty()) info.pop_back();
      peer_status = rc == 0 ? "peer: " + (info.empty() ? std::string("tools/attention_ref.py") : info)
                            : "peer: unavailable (tools/attention_ref.py failed, exit status " + std::to_string(rc) +
                                  (other.empty() ? std::string(")") : "; last output above)");
      if (rc != 0 && parsed == 0 && peer_mode == "on") fail(peer_status);
    }
  }

  std::printf("%s\n", peer_status.c_str());
  std::printf("%6s %5s %-7s %10s %10s %11s %8s %9s %8s %9s %9s %9s\n", "T", "k", "kind", "fwd_ms", "bwd_ms",
              "pairs", "ns/pair", "gath_GB/s", "of_copy", "torch_fwd", "torch_bwd", "vs_torch");
  for (const Row& row : rows) {
    const double total_ms = row.fwd_ms + row.bwd_ms;
    const double ns_pair = total_ms * 1e6 / (row.pairs * kHeads);
    const double gathered = row.pairs * kHeads * kHeadDim * 4.0 * 2.0 / (row.fwd_ms * 1e-3) / 1e9;
    char peer[96];
    if (row.peer_fwd_ms >= 0)
      std::snprintf(peer, sizeof peer, "%9.1f %9.1f %9.2f", row.peer_fwd_ms, row.peer_bwd_ms,
                    (row.peer_fwd_ms + row.peer_bwd_ms) / total_ms);
    else
      std::snprintf(peer, sizeof peer, "%9s %9s %9s", "-", "-", "-");
    std::printf("%6ld %5s %-7s %10.2f %10.2f %11.0f %8.3f %9.2f %8.3f %s%s%s\n", long(row.seq),
                row.k ? std::to_string(row.k).c_str() : "-", row.kind.c_str(), row.fwd_ms, row.bwd_ms, row.pairs,
                ns_pair, gathered, gathered / copy, peer, row.peer_note == "-" ? "" : "  ", 
                row.peer_note == "-" ? "" : row.peer_note.c_str());
  }

  // Final line: time per attended pair of the random lists at k = 256 (or the first k given),
  // largest T over smallest T.
  const int64_t k_line = std::find(widths.begin(), widths.end(), 256) != widths.end() ? 256 : widths.front();
  auto per_pair = [&](int64_t seq) {
    for (const Row& row : rows)
      if (row.seq == seq && row.k == k_line && row.kind == "random") return (row.fwd_ms + row.bwd_ms) / row.pairs;
    return 0.0;
  };
  std::printf("sparse_scaling T%ld/T%ld k=%ld time_per_pair: %.3f\n", long(max_seq), long(min_seq), long(k_line),
              per_pair(max_seq) / per_pair(min_seq));
  return 0;
}

}  // namespace dsa::cli
