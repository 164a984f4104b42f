// dsatrain bench --attention: the attention kernels alone, forward + backward, dense causal
// against sparse attention over index lists (issue 4 acceptance, docs/kernels.md §K4), through the backend
// table of the chosen device (--device auto|cpu|cuda: the CUDA twin when the build has it and a
// GPU is present, else the CPU twin), with the device's copy bandwidth and a PyTorch peer
// (tools/attention_ref.py, on the same device) in the same run. The index lists of the attention
// rows are synthetic: uniformly random causal lists (no locality, the hard case) and
// sliding-window lists. Selection (top-k over a random score buffer) and the lightning indexer's
// score forward are timed separately, in a second table.
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
#include "ops/backend.h"

#include "cuda_backend.h"
#include "train/session.h"

namespace dsa::cli {

namespace {

constexpr int64_t kHeads = 8, kHeadDim = 64;
constexpr int64_t kIndexerHeads = 4, kIndexerDim = 64;  // the separately timed indexer: HI, dI
constexpr int64_t kGpuDefaultReps = 5;                  // GPU rows without --attention-reps

// The backend table the rows run through: train::choose_backend, the one device chooser (auto =
// the GPU when there is one). On the emulated device the rows time the emulator, as on a CPU.
struct DeviceChoice {
  const ops::Backend<float>* backend;
  bool gpu;  // a real GPU: median timing, device ceilings, the PyTorch peer on CUDA
  std::string description;
};

DeviceChoice choose_device(const std::string& device) {
  const train::BackendChoice choice = train::choose_backend(device, false, "bench --attention --device");
  const bool cuda_twin = choice.backend->device == ops::Device::cuda;
  return {choice.backend, cuda_twin && !cuda::runs_emulated(), choice.reason};
}

// One allocation in the backend's memory (device memory for the CUDA twin), released at scope end.
class Buffer {
 public:
  Buffer(const ops::MemoryOps& memory, size_t bytes, const char* what) : memory_(memory) {
    base_ = memory.allocator.allocate(std::max<size_t>(bytes, 64));
    DSA_CHECK(base_ != nullptr, "bench --attention: cannot allocate ", bytes, " bytes of ", memory.allocator.name,
              " memory for ", what);
  }
  ~Buffer() { memory_.allocator.release(base_); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  template <class T>
  T* as() const { return static_cast<T*>(base_); }

 private:
  const ops::MemoryOps& memory_;
  void* base_ = nullptr;
};

// Seconds of `fn` on the context's stream: everything queued before is waited for first, and the
// clock stops once the stream is idle again (host timer around synchronize: on the GPU this
// includes the launch and one stream synchronisation, ~10-50 us, on top of the kernels).
template <class F>
double time_on(const ops::Backend<float>& backend, const ops::Context& ctx, F&& fn) {
  backend.memory.synchronize(ctx);
  const Timer timer;
  fn();
  backend.memory.synchronize(ctx);
  return timer.seconds();
}

// CPU: the best of the timed reps (as before); GPU: their median.
double summarize(std::vector<double> times, bool median) {
  std::sort(times.begin(), times.end());
  if (!median || times.size() == 1) return times.front();
  const size_t n = times.size();
  return n % 2 ? times[n / 2] : 0.5 * (times[n / 2 - 1] + times[n / 2]);
}

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

// One row of the separate selection/indexer table.
struct SelectRow {
  int64_t seq, k;  // k = 0 for the indexer
  std::string op;
  double ms = 0;
};

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
  const std::string peer_mode = options.get("attention-peer");
  DSA_CHECK(peer_mode == "auto" || peer_mode == "on" || peer_mode == "off",
            "bench: --attention-peer takes auto, on or off (got '", peer_mode, "')");
  const std::string python = options.get("attention-python");
  DSA_CHECK(!python.empty(), "bench: --attention-python is empty");
  const DeviceChoice device = choose_device(options.get("device"));
  const ops::Backend<float>& be = *device.backend;
  const bool gpu = device.gpu;
  const int64_t reps = gpu && !options.given("attention-reps") ? kGpuDefaultReps : options.integer("attention-reps");
  DSA_CHECK(reps >= 1, "bench: --attention-reps must be >= 1");
  DSA_CHECK(be.sparse_attention_forward && be.sparse_attention_backward && be.topk_select && be.indexer_forward,
            "bench --attention: the ", be.name, " twin lacks the DSA ops");
  const int64_t max_seq = *std::max_element(seqs.begin(), seqs.end());
  const int64_t min_seq = *std::min_element(seqs.begin(), seqs.end());
  const int64_t max_k = *std::max_element(widths.begin(), widths.end());

  std::printf("bench --attention: B=1 H=%ld Hkv=%ld Dh=%ld float32, separate q/k/v buffers (q_stride = kv_stride = H*Dh), random normal inputs\n",
              long(kHeads), long(kHeads), long(kHeadDim));
  std::printf("device: %s\n", device.description.c_str());
  if (gpu)
    std::printf("timing: %ld timed rep(s) after 1 warm-up per row, median; host timer around a stream synchronize\n"
                "  (each figure includes the launches and one synchronisation, ~10-50 us; the sparse ops also check\n"
                "  the lists on the device first, with one synchronisation of their own)\n", long(reps));
  else
    std::printf("threads=%d blas=%s; %ld timed rep(s) after 1 warm-up per row, best (T >= 8192 dense: 1 rep)\n",
                cpu::cpu_threads(), cpu::blas_library().c_str(), long(reps));
  std::printf("timed: the attention kernels alone (forward; backward incl. its list checks and transposed lists);\n"
              "  selection (top-k) and the lightning indexer are timed separately (second table; the rows use synthetic lists).\n");
  std::printf("lists: random = min(k,t+1) distinct keys s<=t, uniform (Philox), sorted, -1 padded; window = the last min(k,t+1) keys\n");
  std::printf("pairs = sum_t min(k,t+1) (dense: T(T+1)/2); ns/pair = (fwd+bwd) / (pairs*H);\n"
              "  gathered GB/s = pairs*H*Dh*4 B*2 (K and V rows) / forward time;\n"
              "  vs_torch = PyTorch (fwd+bwd) / dsatrain (fwd+bwd): > 1 means dsatrain is faster\n");
  double copy = 0;
  if (gpu) {
    const cuda::Ceilings ceilings = cuda::measure_ceilings();
    copy = 1e3 * ceilings.copy_tb_per_s;
    std::printf("copy bandwidth: %.1f GB/s (device-to-device cudaMemcpy of 2 GiB, bytes read + written, median of 10; %s)\n",
                copy, ceilings.device.c_str());
  } else {
    if (be.device == ops::Device::cuda)
      std::printf("note: the emulated device times the emulator on this CPU, not a GPU (speed is not emulated)\n");
    copy = copy_gb_per_s(4);
    std::printf("copy bandwidth: %.1f GB/s (memcpy of 512 MiB, bytes read + written, best of 4)\n", copy);
  }
  std::fflush(stdout);

  // Rows, grouped by T (the inputs of one T are drawn and uploaded once).
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

  // Buffers of the backend's memory, sized for the largest T and k; the workspace from the twin's
  // own workspace function, for the attention, the sparse attention at the widest lists, top-k
  // and the indexer (the CUDA twin sizes the DSA ops only when the indexer shape is set).
  const ops::MemoryOps& mem = be.memory;
  const ops::Context ctx0 = be.make_context();
  const int64_t n_max = max_seq * kHeads * kHeadDim;
  const size_t fbytes = sizeof(float);
  Buffer q(mem, n_max * fbytes, "q"), k(mem, n_max * fbytes, "k"), v(mem, n_max * fbytes, "v");
  Buffer dout(mem, n_max * fbytes, "dout"), out(mem, n_max * fbytes, "out"), lse(mem, kHeads * max_seq * fbytes, "lse");
  Buffer dq(mem, n_max * fbytes, "dq"), dk(mem, n_max * fbytes, "dk"), dv(mem, n_max * fbytes, "dv");
  Buffer lists_buf(mem, max_seq * max_k * sizeof(int32_t), "index lists");
  ops::WorkspaceQuery query{};
  query.attention = {1, max_seq, kHeads, kHeads, kHeadDim, kHeads * kHeadDim, kHeads * kHeadDim};
  query.rows = max_seq;
  query.max_dim = kHeads * kHeadDim;
  query.max_elements = n_max;
  query.indexer = {1, max_seq, kIndexerHeads, kIndexerDim, kIndexerHeads * kIndexerDim, kIndexerDim, kIndexerHeads};
  query.list_width = max_k;
  const size_t ws_bytes = be.workspace_bytes(query, fbytes);
  Buffer workspace(mem, ws_bytes, "the workspace");
  ops::Context ctx = ctx0;
  ctx.workspace = workspace.as<void>();
  ctx.workspace_bytes = ws_bytes;

  // Index lists, kept for the peer.
  std::map<std::tuple<int64_t, int64_t, std::string>, std::vector<int32_t>> all_lists;
  for (int64_t seq : seqs) {
    const int64_t n = seq * kHeads * kHeadDim;
    const ops::AttentionShape shape{1, seq, kHeads, kHeads, kHeadDim, kHeads * kHeadDim, kHeads * kHeadDim};
    {
      std::vector<float> host(n);
      int stream = 11;
      for (const Buffer* buffer : {&q, &k, &v, &dout}) {
        for (int64_t i = 0; i < n; ++i) host[i] = philox_normal(stream, seq, i);
        mem.to_device(ctx, buffer->as<void>(), host.data(), n * fbytes);
        ++stream;
      }
    }
    for (Row& row : rows) {
      if (row.seq != seq) continue;
      const bool dense = row.kind == "dense";
      std::vector<int32_t> lists;
      if (!dense) {
        lists = make_lists(seq, row.k, row.kind == "random");
        mem.to_device(ctx, lists_buf.as<void>(), lists.data(), lists.size() * sizeof(int32_t));
      }
      const ops::IndexLists index{lists_buf.as<int32_t>(), row.k};
      const int64_t timed = !gpu && dense && seq >= 8192 ? 1 : reps;
      std::vector<double> fwd, bwd;
      for (int64_t rep = 0; rep < 1 + timed; ++rep) {
        const double f = time_on(be, ctx, [&] {
          if (dense) be.attention_forward(ctx, out.as<float>(), lse.as<float>(), q.as<float>(), k.as<float>(), v.as<float>(), shape);
          else be.sparse_attention_forward(ctx, out.as<float>(), lse.as<float>(), q.as<float>(), k.as<float>(), v.as<float>(), index, shape);
        });
        const double b = time_on(be, ctx, [&] {
          if (dense)
            be.attention_backward(ctx, dq.as<float>(), dk.as<float>(), dv.as<float>(), dout.as<float>(), out.as<float>(),
                                  lse.as<float>(), q.as<float>(), k.as<float>(), v.as<float>(), shape);
          else
            be.sparse_attention_backward(ctx, dq.as<float>(), dk.as<float>(), dv.as<float>(), dout.as<float>(), out.as<float>(),
                                         lse.as<float>(), q.as<float>(), k.as<float>(), v.as<float>(), index, shape);
        });
        if (rep > 0) fwd.push_back(f), bwd.push_back(b);
      }
      row.fwd_ms = 1e3 * summarize(fwd, gpu), row.bwd_ms = 1e3 * summarize(bwd, gpu);
      std::fprintf(stderr, "bench --attention: T=%ld k=%ld %s fwd %.3f ms bwd %.3f ms\n", long(seq), long(row.k),
                   row.kind.c_str(), row.fwd_ms, row.bwd_ms);
      if (!dense) all_lists[{seq, row.k, row.kind}] = std::move(lists);
    }
  }

  // ---- Selection and indexer, timed separately: the indexer's score forward (HI = 4, dI = 64,
  // with weights) over all causal pairs, and top-k over a random [1, T, T] score buffer ----
  std::vector<SelectRow> select_rows;
  {
    Buffer scores(mem, max_seq * max_seq * fbytes, "the [T, T] scores");
    Buffer indices(mem, max_seq * max_k * sizeof(int32_t), "the selected lists");
    Buffer qi(mem, max_seq * kIndexerHeads * kIndexerDim * fbytes, "indexer q");
    Buffer ki(mem, max_seq * kIndexerDim * fbytes, "indexer k"), wi(mem, max_seq * kIndexerHeads * fbytes, "indexer w");
    for (int64_t seq : seqs) {
      const ops::IndexerShape ishape{1, seq, kIndexerHeads, kIndexerDim, kIndexerHeads * kIndexerDim, kIndexerDim, kIndexerHeads};
      {
        int stream = 21;
        for (const auto& [buffer, count] : {std::pair{&qi, seq * kIndexerHeads * kIndexerDim}, std::pair{&ki, seq * kIndexerDim},
                                            std::pair{&wi, seq * kIndexerHeads}}) {
          std::vector<float> host(count);
          for (int64_t i = 0; i < count; ++i) host[i] = philox_normal(stream, seq, i);
          mem.to_device(ctx, buffer->as<void>(), host.data(), count * fbytes);
          ++stream;
        }
      }
      std::vector<double> times;
      for (int64_t rep = 0; rep < 1 + reps; ++rep) {
        const double t = time_on(be, ctx, [&] {
          be.indexer_forward(ctx, scores.as<float>(), qi.as<float>(), ki.as<float>(), wi.as<float>(), ishape);
        });
        if (rep > 0) times.push_back(t);
      }
      select_rows.push_back({seq, 0, "indexer_fwd", 1e3 * summarize(times, gpu)});
      std::fprintf(stderr, "bench --attention: T=%ld indexer forward %.3f ms\n", long(seq), select_rows.back().ms);
      {  // random scores in (0, 1], 24 bits (Philox, four per block)
        std::vector<float> host(seq * seq);
        for (int64_t i = 0; i < seq * seq; i += 4) {
          const Philox4 r = philox4x32(31, uint64_t(seq), uint64_t(i / 4));
          for (int64_t j = 0; j < 4 && i + j < seq * seq; ++j) host[i + j] = philox_uniform(r.v[j]);
        }
        mem.to_device(ctx, scores.as<void>(), host.data(), host.size() * fbytes);
      }
      for (int64_t width : widths) {
        times.clear();
        for (int64_t rep = 0; rep < 1 + reps; ++rep) {
          const double t = time_on(be, ctx, [&] { be.topk_select(ctx, indices.as<int32_t>(), scores.as<float>(), {1, seq, width}); });
          if (rep > 0) times.push_back(t);
        }
        select_rows.push_back({seq, width, "topk", 1e3 * summarize(times, gpu)});
        std::fprintf(stderr, "bench --attention: T=%ld k=%ld top-k %.3f ms\n", long(seq), long(width), select_rows.back().ms);
      }
    }
  }

  // ---- PyTorch peer: same shapes, the same index lists (written here as raw int32 files), on the
  // same device ----
  std::string peer_status;
  const char* peer_device = gpu ? "cuda" : "cpu";
  const bool python_is_path = python.find('/') != std::string::npos;
  if (peer_mode == "off") {
    peer_status = "peer: off (--attention-peer off)";
  } else {
    const std::string script = find_peer_script();
    const std::string torch_check = shell_quote(python) + (gpu ? " -c 'import torch; assert torch.cuda.is_available()'" : " -c 'import torch'") +
                                    " >/dev/null 2>&1";
    if (script.empty()) peer_status = "peer: unavailable (tools/attention_ref.py not found from the working directory or the binary's folders)";
    else if (python_is_path && access(python.c_str(), X_OK) != 0) peer_status = "peer: unavailable (" + python + " not found)";
    else if (peer_mode == "auto" && std::system(torch_check.c_str()) != 0)
      peer_status = gpu ? "peer: unavailable (" + python + " cannot import torch with CUDA; --attention-python PYTHON, or --attention-peer on)"
                        : "peer: unavailable (" + python + " cannot import torch; apt-get install -y python3-torch, or --attention-peer on)";
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
      // CPU: the peer gets our thread count and Debian's OpenBLAS (OpenMP build) first on the
      // library path. GPU: the environment as it is (the caller's --attention-python sets it up).
      const std::string env = gpu ? std::string()
                                  : "OMP_NUM_THREADS=" + threads + " LD_LIBRARY_PATH=" +
                                        shell_quote("/usr/lib/x86_64-linux-gnu/openblas-openmp" +
                                                    std::string(ld && *ld ? std::string(":") + ld : "")) + " ";
      const std::string command = env + shell_quote(python) + " " + shell_quote(script) + " --lists " + shell_quote(dir) +
                                  " --t " + ts + " --k " + ks + " --reps " + std::to_string(reps) + " --heads " +
                                  std::to_string(kHeads) + " --head-dim " + std::to_string(kHeadDim) + " --threads " + threads +
                                  " --device " + peer_device + " 2>&1";
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
  // The GPU's rows are sub-millisecond: more decimals there.
  const char* ms_format = gpu ? "%10.3f %10.3f" : "%10.2f %10.2f";
  for (const Row& row : rows) {
    const double total_ms = row.fwd_ms + row.bwd_ms;
    const double ns_pair = total_ms * 1e6 / (row.pairs * kHeads);
    const double gathered = row.pairs * kHeads * kHeadDim * 4.0 * 2.0 / (row.fwd_ms * 1e-3) / 1e9;
    char peer[96], times[64];
    if (row.peer_fwd_ms >= 0)
      std::snprintf(peer, sizeof peer, gpu ? "%9.3f %9.3f %9.2f" : "%9.1f %9.1f %9.2f", row.peer_fwd_ms, row.peer_bwd_ms,
                    (row.peer_fwd_ms + row.peer_bwd_ms) / total_ms);
    else
      std::snprintf(peer, sizeof peer, "%9s %9s %9s", "-", "-", "-");
    std::snprintf(times, sizeof times, ms_format, row.fwd_ms, row.bwd_ms);
    std::printf("%6ld %5s %-7s %s %11.0f %8.3f %9.2f %8.3f %s%s%s\n", long(row.seq),
                row.k ? std::to_string(row.k).c_str() : "-", row.kind.c_str(), times, row.pairs,
                ns_pair, gathered, gathered / copy, peer, row.peer_note == "-" ? "" : "  ",
                row.peer_note == "-" ? "" : row.peer_note.c_str());
  }

  // The separate table: selection and indexer (docs/kernels.md §K2 counts).
  std::printf("selection and indexer, timed separately (%s): indexer_fwd = lightning indexer scores HI=%ld dI=%ld with weights,\n"
              "  all causal pairs (tflops = 2*T(T+1)/2*HI*dI / time; GB/s = the T*T*4 B of scores written);\n"
              "  topk = top-k selection over a random [1,T,T] score buffer (GB/s = T*T*4 B read / time, docs/kernels.md §K2)\n",
              gpu ? "median" : "best", long(kIndexerHeads), long(kIndexerDim));
  std::printf("%6s %5s %-11s %10s %8s %9s %8s\n", "T", "k", "op", "ms", "tflops", "GB/s", "of_copy");
  for (const SelectRow& row : select_rows) {
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
