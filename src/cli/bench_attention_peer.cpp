// dsatrain bench --attention: the PyTorch peer. tools/attention_ref.py runs the same shapes over
// the same index lists (written here as raw int32 files) on the same device, in a subprocess whose
// rows fill the peer columns of the attention table.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "cli/bench_attention.h"
#include "core/error.h"
#include "cpu/blas_info.h"

namespace dsa::cli::attention_bench {

namespace {

constexpr const char* kPeerScript = "tools/attention_ref.py";
// CPU peer: Debian's OpenBLAS (OpenMP build) first on the library path, as our own BLAS.
constexpr const char* kPeerOpenBlasDir = "/usr/lib/x86_64-linux-gnu/openblas-openmp";

// The peer script from the working directory, else from the binary's folders upwards ("" if none).
std::string find_peer_script() {
  if (std::filesystem::exists(kPeerScript)) return kPeerScript;
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (auto dir = exe.parent_path(); !dir.empty() && dir != dir.root_path(); dir = dir.parent_path()) {
      const auto candidate = dir / kPeerScript;
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

std::string join(const std::vector<int64_t>& values) {
  std::string out;
  for (int64_t v : values) {
    if (!out.empty()) out += ',';
    out += std::to_string(v);
  }
  return out;
}

// Why the peer cannot run, as the table's "peer: ..." line; "" when it can.
std::string why_unavailable(const Plan& plan, const std::string& mode, const std::string& python, const std::string& script) {
  if (script.empty())
    return std::string("peer: unavailable (") + kPeerScript + " not found from the working directory or the binary's folders)";
  if (python.find('/') != std::string::npos && access(python.c_str(), X_OK) != 0)
    return "peer: unavailable (" + python + " not found)";
  if (mode != "auto") return "";
  const std::string torch_check = shell_quote(python) +
                                  (plan.gpu ? " -c 'import torch; assert torch.cuda.is_available()'" : " -c 'import torch'") +
                                  " >/dev/null 2>&1";
  if (std::system(torch_check.c_str()) == 0) return "";
  return plan.gpu ? "peer: unavailable (" + python + " cannot import torch with CUDA; --attention-python PYTHON, or --attention-peer on)"
                  : "peer: unavailable (" + python + " cannot import torch; apt-get install -y python3-torch, or --attention-peer on)";
}

// One file per sparse row, <dir>/<kind>_T<T>_k<k>.i32, as the peer script reads them.
void write_lists(const std::string& dir, const ListsByRow& lists) {
  for (const auto& [key, values] : lists) {
    const auto& [seq, k, kind] = key;
    const std::string path = dir + "/" + kind + "_T" + std::to_string(seq) + "_k" + std::to_string(k) + ".i32";
    std::FILE* f = std::fopen(path.c_str(), "wb");
    const bool written = f && std::fwrite(values.data(), sizeof(int32_t), values.size(), f) == values.size();
    if (f) std::fclose(f);
    DSA_CHECK(written, "bench: cannot write ", path);
  }
}

// The peer's command line. CPU: our thread count and kPeerOpenBlasDir first on the library path;
// GPU: the environment as it is (the caller's --attention-python sets it up).
std::string peer_command(const Plan& plan, const std::string& python, const std::string& script, const std::string& dir) {
  const std::string threads = std::to_string(cpu::cpu_threads());
  std::string env;
  if (!plan.gpu) {
    const char* ld = std::getenv("LD_LIBRARY_PATH");
    env = "OMP_NUM_THREADS=" + threads + " LD_LIBRARY_PATH=" +
          shell_quote(kPeerOpenBlasDir + std::string(ld && *ld ? std::string(":") + ld : "")) + " ";
  }
  return env + shell_quote(python) + " " + shell_quote(script) + " --lists " + shell_quote(dir) + " --t " + join(plan.seqs) +
         " --k " + join(plan.widths) + " --reps " + std::to_string(plan.reps) + " --heads " + std::to_string(kHeads) +
         " --head-dim " + std::to_string(kHeadDim) + " --threads " + threads + " --device " + (plan.gpu ? "cuda" : "cpu") +
         " 2>&1";
}

// What the peer printed: its rows go into `rows`; its "torch ..." line and anything else are kept.
struct PeerOutput {
  std::string info;   // the peer's "attention_ref: torch ..." line, without its newline
  std::string other;  // lines it printed that are neither rows nor info
  int rows_timed = 0;
};

void read_peer_line(const char* line, std::vector<AttentionRow>& rows, PeerOutput& output) {
  long seq = 0, k = 0;
  char kind[32] = {0}, rest[512] = {0};
  double f = 0, b = 0;
  if (std::sscanf(line, "attention_ref: T=%ld k=%ld kind=%31s fwd_ms=%lf bwd_ms=%lf", &seq, &k, kind, &f, &b) == 5) {
    for (AttentionRow& row : rows)
      if (row.seq == seq && row.k == k && row.kind == kind) row.peer_fwd_ms = f, row.peer_bwd_ms = b, ++output.rows_timed;
  } else if (std::sscanf(line, "attention_ref: T=%ld k=%ld kind=%31s skipped %511[^\n]", &seq, &k, kind, rest) == 4) {
    for (AttentionRow& row : rows)
      if (row.seq == seq && row.k == k && row.kind == kind) row.peer_note = std::string("skipped ") + rest;
  } else if (std::strncmp(line, "attention_ref: torch", 20) == 0) {
    output.info = line;
    if (!output.info.empty() && output.info.back() == '\n') output.info.pop_back();
  } else {
    output.other += line;
  }
}

}  // namespace

std::string run_peer(const Plan& plan, const std::string& mode, const std::string& python, const ListsByRow& lists,
                     std::vector<AttentionRow>& rows) {
  if (mode == "off") return "peer: off (--attention-peer off)";
  const std::string script = find_peer_script();
  if (std::string why = why_unavailable(plan, mode, python, script); !why.empty()) return why;

  char dir_template[] = "/tmp/dsa_attention_lists.XXXXXX";
  const char* dir = ::mkdtemp(dir_template);
  DSA_CHECK(dir != nullptr, "bench: cannot create a temporary folder for the index lists");
  try {
    write_lists(dir, lists);
  } catch (...) {
    std::filesystem::remove_all(dir);  // no half-written folder left behind
    throw;
  }
  const std::string command = peer_command(plan, python, script, dir);
  std::fprintf(stderr, "bench --attention: running the PyTorch peer: %s\n", command.c_str());
  std::FILE* pipe = ::popen(command.c_str(), "r");
  DSA_CHECK(pipe != nullptr, "bench: cannot start ", command);
  PeerOutput output;
  char line[4096];
  while (std::fgets(line, sizeof line, pipe)) {
    std::fprintf(stderr, "  %s", line);  // progress: the peer's rows as they come
    read_peer_line(line, rows, output);
  }
  const int rc = ::pclose(pipe);
  std::filesystem::remove_all(dir);
  const std::string status =
      rc == 0 ? "peer: " + (output.info.empty() ? std::string(kPeerScript) : output.info)
              : std::string("peer: unavailable (") + kPeerScript + " failed, exit status " + std::to_string(rc) +
                    (output.other.empty() ? ")" : "; last output above)");
  if (rc != 0 && output.rows_timed == 0 && mode == "on") fail(status);
  return status;
}

}  // namespace dsa::cli::attention_bench
