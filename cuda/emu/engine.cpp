// The emulated device's execution engine (engine.h): launch checks, the block scheduler over
// fibers, barriers, warp collectives, shared memory, the guard-page fault handler and the
// schedule check.
#include "engine.h"

#include <signal.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <boost/context/detail/fcontext.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "config.h"
#include "core/error.h"
#include "memory.h"
#include "runtime.h"
#include "stacks.h"
#include "status.h"

namespace dsa::emu {

namespace detail {
thread_local const ThreadState* t_thread = nullptr;
}  // namespace detail

namespace {

namespace fctx = boost::context::detail;

constexpr int kWarp = config::kWarpSize;
constexpr unsigned kAllLanes = 0xffffffffu;

// ---- state ---------------------------------------------------------------------------------------

enum class Wait : uint8_t { none, barrier, warp, finished };

struct Fiber {
  fctx::fcontext_t context = nullptr;    // where this thread resumes
  ThreadState state{};
  int linear = 0;                        // thread index in the block, x fastest
  int position = 0;                      // its place in a scheduler pass (reverse order: count - 1 - linear)
  Wait wait = Wait::none;
  bool started = false;
  WarpOp warp_op{};                      // the collective it waits in (reports)
  unsigned warp_mask = 0;
  uint64_t warp_result = 0;
  int barrier_result = 0;
};

// A warp collective that some lanes of `mask` have reached. Only the arrived lanes' slots are
// read, so a new one is not cleared (this is the emulator's hottest path).
struct PendingCollective {
  PendingCollective() {}
  WarpOp op{};
  unsigned mask = 0;
  int width = kWarp;
  unsigned arrived = 0;
  std::array<uint64_t, kWarp> values;
  std::array<int, kWarp> args;
};

struct WarpState {
  unsigned present = 0;  // lanes this block has in the warp
  unsigned exited = 0;
  std::vector<PendingCollective> pending;
};

struct BlockRun {
  uint3 index{};
  int count = 0;         // threads
  int live = 0;          // threads not finished
  int barrier_arrived = 0;
  BarrierOp barrier_op = BarrierOp::sync;
  int barrier_accumulator = 0;
};

// Bytes around shared variables and the dynamic region that nothing may write.
struct RedZone {
  size_t offset, length;
  std::string owner;  // "'histogram' (1024 bytes)", "the dynamic shared memory (4096 bytes)"
};

// Shared memory of one launch in the arena: a red zone, the dynamic region, then each static
// declaration in the order the threads reach them; red zones fill every gap and follow the last.
struct SharedLayout {
  size_t dynamic_offset = 0;
  size_t dynamic_bytes = 0;
  size_t end = 0;        // one past the last arena byte in use (red zones included)
  size_t declared = 0;   // static bytes as the hardware counts them (aligned sizes, no red zones)
  size_t limit = 0;      // static + dynamic bytes the kernel may have
  size_t attribute = 0;  // the kernel's MaxDynamicSharedMemorySize when set, else 0
  std::vector<std::pair<const void*, size_t>> sites;
  std::vector<RedZone> red_zones;
};

struct KernelRecord {
  int max_dynamic_shared = int(config::kDefaultSharedPerBlock);
  bool attribute_set = false;  // cudaFuncSetAttribute(MaxDynamicSharedMemorySize) was called
  size_t static_shared = 0;  // learned from the first block that ran
  bool static_known = false;
};

// The first guard-page fault of a run, written by the signal handler (which may not allocate).
struct GuardFault {
  int count = 0;
  bool write = false;
  uint64_t serial = 0;
  int64_t offset = 0;       // from the allocation's data start; negative: before it
  size_t allocation_bytes = 0;
  uint3 block{}, thread{};
};

struct Failure {
  cudaError_t code = cudaSuccess;
  std::string detail;
};

// One execution of a launch in one order.
struct Run {
  const LaunchRequest* request = nullptr;
  bool reverse = false;
  SharedLayout* layout = nullptr;
  BlockRun block;
  Fiber* current = nullptr;  // the thread running; null while the scheduler runs
  Fiber scheduler;           // the scheduler's context while a thread runs (only `context` is used)
  Failure failure;
  GuardFault fault;
  bool failed() const { return failure.code != cudaSuccess; }
};

struct Engine {
  std::mutex mutex;  // one launch at a time, whichever OS thread asks
  StackPool stacks;
  std::unordered_map<const void*, KernelRecord> kernels;
  std::vector<Fiber> fibers;
  std::vector<WarpState> warps;
  std::unique_ptr<std::byte[]> shared_storage{new std::byte[config::kSharedArenaBytes + 128]};
  std::byte* shared = reinterpret_cast<std::byte*>(
      (reinterpret_cast<uintptr_t>(shared_storage.get()) + 127) / 128 * 128);  // 128-byte aligned
  EngineStats stats;
  std::optional<Schedule> schedule;
};

Engine& engine() {
  static Engine* instance = new Engine;  // never destroyed: fibers may outlive static teardown
  return *instance;
}

thread_local Run* t_run = nullptr;

struct LaunchBound {
  int max_threads;
  std::string source;
};
// By kernel name (without template arguments); filled during static initialisation.
std::unordered_map<std::string, LaunchBound>& launch_bounds() {
  static std::unordered_map<std::string, LaunchBound> bounds;
  return bounds;
}

std::string_view base_name(std::string_view kernel) { return kernel.substr(0, kernel.find('<')); }

// ---- descriptions -----------------------------------------------------------------------------------

std::string text(uint3 v) { return cat("(", v.x, ",", v.y, ",", v.z, ")"); }
std::string text(dim3 v) { return cat("(", v.x, ",", v.y, ",", v.z, ")"); }

std::string where(const Fiber& f) {
  return cat("block ", text(f.state.block_idx), " thread ", text(f.state.thread_idx), " (warp ",
             f.linear / kWarp, " lane ", f.linear % kWarp, ")");
}

const char* op_name(WarpOp op) {
  switch (op) {
    case WarpOp::shfl: return "__shfl_sync";
    case WarpOp::shfl_up: return "__shfl_up_sync";
    case WarpOp::shfl_down: return "__shfl_down_sync";
    case WarpOp::shfl_xor: return "__shfl_xor_sync";
    case WarpOp::ballot: return "__ballot_sync";
    case WarpOp::any: return "__any_sync";
    case WarpOp::all: return "__all_sync";
    case WarpOp::syncwarp: return "__syncwarp";
  }
  return "a warp collective";
}

const char* barrier_name(BarrierOp op) {
  switch (op) {
    case BarrierOp::sync: return "__syncthreads";
    case BarrierOp::sync_or: return "__syncthreads_or";
    case BarrierOp::sync_and: return "__syncthreads_and";
    case BarrierOp::sync_count: return "__syncthreads_count";
  }
  return "a barrier";
}

// "0-15,17" for the lanes of `mask`.
std::string lanes(unsigned mask) {
  std::string out;
  for (int lane = 0; lane < kWarp;) {
    if (!(mask >> lane & 1u)) {
      ++lane;
      continue;
    }
    int last = lane;
    while (last + 1 < kWarp && (mask >> (last + 1) & 1u)) ++last;
    if (!out.empty()) out += ",";
    out += last == lane ? cat(lane) : cat(lane, "-", last);
    lane = last + 1;
  }
  return out.empty() ? "none" : out;
}

std::string hex(unsigned mask) {
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "0x%08x", mask);
  return buffer;
}

// ---- fibers -----------------------------------------------------------------------------------------

void fiber_main(fctx::transfer_t in);
unsigned participants(const PendingCollective& p, const WarpState& w);  // warp collectives, below
void complete_ready(WarpState& w, int warp);

Run& require_run(const char* what) {
  if (t_run == nullptr || t_run->current == nullptr) {
    std::fprintf(stderr, "dsatrain emulated GPU: %s called outside a kernel\n", what);
    std::abort();
  }
  return *t_run;
}

// Control moves between the scheduler and the threads only here. A jump passes the Fiber being
// left; whoever is resumed stores the context the jump returned into it, so it can be resumed in
// turn. The scheduler starts a pass at the first runnable thread; a thread that waits or exits
// hands on to the next runnable thread after it in the pass (one jump, not two through the
// scheduler), and the last one returns to the scheduler, which starts the next pass.
void switch_to(Run& run, Fiber& self, Fiber& next) {
  Engine& e = engine();
  if (&next != &run.scheduler && !next.started) {
    next.context = fctx::make_fcontext(e.stacks.top(next.linear), e.stacks.size(), &fiber_main);
    next.started = true;
  }
  const bool to_thread = &next != &run.scheduler;
  run.current = to_thread ? &next : nullptr;
  detail::t_thread = to_thread ? &next.state : nullptr;
  ++e.stats.switches;
  const fctx::transfer_t back = fctx::jump_fcontext(next.context, &self);
  static_cast<Fiber*>(back.data)->context = back.fctx;
}

// The next runnable thread after `position` in this pass, or the scheduler.
Fiber& next_in_pass(Run& run, int position) {
  Engine& e = engine();
  const int count = run.block.count;
  for (int p = position + 1; p < count && !run.failed(); ++p) {
    Fiber& f = e.fibers[run.reverse ? count - 1 - p : p];
    if (f.wait == Wait::none) return f;
  }
  return run.scheduler;
}

// Until this thread is runnable again.
void wait_here(Run& run, Fiber& f) { switch_to(run, f, next_in_pass(run, f.position)); }

// Ends the launch from inside a thread: records the failure (the first one wins) and leaves the
// fiber for good. Its stack is reused by the next block; kernels keep nothing that needs a
// destructor, and `detail` is moved out before the jump.
[[noreturn]] void fail_thread(cudaError_t code, std::string detail) {
  Run& run = *t_run;
  Fiber& f = *run.current;
  if (!run.failed()) run.failure = {code, where(f) + ": " + std::move(detail)};
  f.wait = Wait::finished;
  switch_to(run, f, run.scheduler);
  __builtin_unreachable();
}

void release_barrier(Run& run) {
  BlockRun& b = run.block;
  for (int i = 0; i < b.count; ++i) {
    Fiber& f = engine().fibers[i];
    if (f.wait != Wait::barrier) continue;
    f.wait = Wait::none;
    f.barrier_result = b.barrier_accumulator;
  }
  b.barrier_arrived = 0;
}

[[noreturn]] void thread_exited(Run& run, Fiber& f) {
  BlockRun& b = run.block;
  f.wait = Wait::finished;
  --b.live;
  WarpState& w = engine().warps[f.linear / kWarp];
  const unsigned bit = 1u << (f.linear % kWarp);
  w.exited |= bit;
  complete_ready(w, f.linear / kWarp);  // collectives that named this lane no longer wait for it
  if (b.barrier_arrived > 0 && b.barrier_arrived == b.live) release_barrier(run);
  switch_to(run, f, next_in_pass(run, f.position));
  __builtin_unreachable();
}

void fiber_main(fctx::transfer_t in) {
  static_cast<Fiber*>(in.data)->context = in.fctx;  // whoever started this thread
  Run& run = *t_run;
  Fiber& f = *run.current;
  std::string thrown;
  try {
    run.request->run_thread(run.request->closure);
  } catch (const std::exception& e) {
    thrown = e.what();
  } catch (...) {
    thrown = "an unknown exception";
  }
  if (!thrown.empty()) fail_thread(cudaErrorLaunchFailure, "threw " + thrown + " (device code cannot throw)");
  thread_exited(run, f);
}

// ---- deadlocks ----------------------------------------------------------------------------------------

std::string deadlock_report(const Run& run) {
  const Engine& e = engine();
  const BlockRun& b = run.block;
  std::ostringstream os;
  os << "block " << text(b.index) << ": deadlock, no thread can go on. ";
  if (b.barrier_arrived > 0)
    os << b.barrier_arrived << " of " << b.live << " live threads wait in " << barrier_name(b.barrier_op)
       << " (a barrier every live thread must reach). ";
  for (size_t w = 0; w < e.warps.size(); ++w) {
    for (const PendingCollective& p : e.warps[w].pending) {
      const unsigned missing = participants(p, e.warps[w]) & ~p.arrived;
      os << "Warp " << w << ": lanes " << lanes(p.arrived) << " wait in " << op_name(p.op) << "(mask "
         << hex(p.mask) << ") for lanes " << lanes(missing);
      unsigned at_barrier = 0;
      for (int lane = 0; lane < kWarp; ++lane) {
        const int linear = int(w) * kWarp + lane;
        if ((missing >> lane & 1u) && linear < b.count && e.fibers[linear].wait == Wait::barrier)
          at_barrier |= 1u << lane;
      }
      if (at_barrier != 0) os << ", of which lanes " << lanes(at_barrier) << " wait in " << barrier_name(b.barrier_op);
      os << ". ";
    }
  }
  return os.str();
}

void run_block(Run& run) {
  while (run.block.live > 0 && !run.failed()) {
    Fiber& first = next_in_pass(run, -1);
    if (&first == &run.scheduler) {
      run.failure = {cudaErrorLaunchFailure, deadlock_report(run)};
      return;
    }
    switch_to(run, run.scheduler, first);
  }
}

// ---- shared memory -------------------------------------------------------------------------------------

void poison(std::byte* data, size_t bytes) {
  const uint32_t word = config::kPoisonWord;
  size_t i = 0;
  for (; i + sizeof(word) <= bytes; i += sizeof(word)) std::memcpy(data + i, &word, sizeof(word));
  std::memcpy(data + i, &word, bytes - i);
}

size_t round_up(size_t value, size_t to) { return (value + to - 1) / to * to; }

// ---- blocks and runs --------------------------------------------------------------------------------------

void start_block(Run& run, uint3 index) {
  Engine& e = engine();
  const LaunchRequest& r = *run.request;
  const int count = int(r.block.x * r.block.y * r.block.z);
  for (int i = 0; i < count; ++i) {
    Fiber& f = e.fibers[i];
    f = Fiber{};
    f.linear = i;
    f.position = run.reverse ? count - 1 - i : i;
    f.state.thread_idx = {unsigned(i) % r.block.x, unsigned(i) / r.block.x % r.block.y,
                          unsigned(i) / (r.block.x * r.block.y)};
    f.state.block_idx = index;
    f.state.block_dim = r.block;
    f.state.grid_dim = r.grid;
  }
  for (size_t w = 0; w < e.warps.size(); ++w) {
    const int in_warp = std::min(kWarp, count - int(w) * kWarp);
    e.warps[w].present = in_warp == kWarp ? kAllLanes : (1u << in_warp) - 1u;
    e.warps[w].exited = 0;
    e.warps[w].pending.clear();
  }
  run.block = BlockRun{};
  run.block.index = index;
  run.block.count = count;
  run.block.live = count;
  poison(e.shared, run.layout->end);
  for (const RedZone& zone : run.layout->red_zones) std::memset(e.shared + zone.offset, config::kGuardByte, zone.length);
  ++e.stats.blocks;
  e.stats.threads += uint64_t(count);
}

// A write past a shared variable or past the dynamic region, found in its red zone.
void check_red_zones(Run& run) {
  const std::byte* arena = engine().shared;
  for (const RedZone& zone : run.layout->red_zones) {
    size_t first = zone.length, last = 0;
    for (size_t i = 0; i < zone.length; ++i) {
      if (arena[zone.offset + i] == std::byte{config::kGuardByte}) continue;
      first = std::min(first, i);
      last = i;
    }
    if (first == zone.length) continue;
    const bool before = zone.offset == 0;  // the zone in front of the dynamic region
    run.failure = {cudaErrorIllegalAddress,
                   before ? cat("block ", text(run.block.index), ": shared memory bytes ", zone.length - last, "..",
                                zone.length - first, " before the start of ", zone.owner, " were written")
                          : cat("block ", text(run.block.index), ": shared memory bytes ", first, "..", last,
                                " past the end of ", zone.owner, " were written")};
    return;
  }
}

void execute(Run& run, KernelRecord& kernel) {
  Engine& e = engine();
  const LaunchRequest& r = *run.request;
  const int count = int(r.block.x * r.block.y * r.block.z);
  e.fibers.resize(size_t(count));
  e.warps.resize(size_t((count + kWarp - 1) / kWarp));
  for (int i = 0; i < count; ++i) {
    if (e.stacks.top(i) == nullptr) {
      run.failure = {cudaErrorMemoryAllocation, cat("the host refused a stack for thread ", i)};
      return;
    }
  }
  const uint64_t blocks = uint64_t(r.grid.x) * r.grid.y * r.grid.z;
  t_run = &run;
  for (uint64_t n = 0; n < blocks && !run.failed(); ++n) {
    const uint64_t linear = run.reverse ? blocks - 1 - n : n;
    start_block(run, {unsigned(linear % r.grid.x), unsigned(linear / r.grid.x % r.grid.y),
                      unsigned(linear / (uint64_t(r.grid.x) * r.grid.y))});
    run_block(run);
    if (!run.failed()) check_red_zones(run);
    if (!run.failed()) {  // a declaration may first be reached by a later block
      kernel.static_shared = std::max(kernel.static_shared, run.layout->declared);
      kernel.static_known = true;
    }
  }
  t_run = nullptr;
  detail::t_thread = nullptr;
}

// ---- the guard-page fault handler --------------------------------------------------------------------------

struct sigaction g_previous_segv {};

bool fault_is_write(void* context) {
#if defined(__x86_64__)
  constexpr greg_t kPageFaultWriteBit = 0x2;  // x86 page-fault error code: the access was a write
  return (static_cast<ucontext_t*>(context)->uc_mcontext.gregs[REG_ERR] & kPageFaultWriteBit) != 0;
#else
  (void)context;
  return true;
#endif
}

void write_stderr(const char* text_, size_t n) { (void)!::write(STDERR_FILENO, text_, n); }
void write_stderr(const char* text_) { write_stderr(text_, std::strlen(text_)); }

void on_segv(int signal_number, siginfo_t* info, void* context) {
  Run* run = t_run;
  void* address = info->si_addr;
  if (run != nullptr) {
    if (memory::handle_write_fault(address)) return;  // the schedule check's first write to a page
    if (const memory::Allocation* a = memory::find_guard(address)) {
      GuardFault& g = run->fault;
      if (g.count++ == 0) {
        g.write = fault_is_write(context);
        g.serial = a->serial;
        g.offset = static_cast<const std::byte*>(address) - a->data;
        g.allocation_bytes = a->bytes;
        if (run->current != nullptr) {
          g.block = run->current->state.block_idx;
          g.thread = run->current->state.thread_idx;
        }
      }
      const uintptr_t page = reinterpret_cast<uintptr_t>(address) / memory::page_bytes() * memory::page_bytes();
      if (memory::open_guard(reinterpret_cast<void*>(page))) return;  // the access completes; reported at the end
    }
    write_stderr("dsatrain emulated GPU: segmentation fault in kernel ");
    write_stderr(run->request->kernel_name.data(), run->request->kernel_name.size());
    write_stderr(engine().stacks.in_guard(address)
                     ? ": a thread overflowed its fiber stack (config::kFiberStackBytes)\n"
                     : ": an access far outside every device allocation (a wild or host pointer)\n");
  }
  (void)signal_number;
  sigaction(SIGSEGV, &g_previous_segv, nullptr);  // the access faults again: the previous handling applies
}

void install_fault_handler() {
  static std::once_flag installed;
  std::call_once(installed, [] {
    struct sigaction action {};
    action.sa_sigaction = &on_segv;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&action.sa_mask);
    sigaction(SIGSEGV, &action, &g_previous_segv);
  });
  // The handler runs on an alternate stack: a fiber that overflowed its own has none left.
  thread_local const bool alternate_stack = [] {
    constexpr size_t kBytes = 64 * 1024;
    stack_t stack{};
    stack.ss_sp = mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    stack.ss_size = kBytes;
    return stack.ss_sp != MAP_FAILED && sigaltstack(&stack, nullptr) == 0;
  }();
  (void)alternate_stack;
}

// ---- launch checks ----------------------------------------------------------------------------------------

std::optional<Failure> check_configuration(const LaunchRequest& r, const KernelRecord& kernel) {
  const dim3 b = r.block, g = r.grid;
  const uint64_t threads = uint64_t(b.x) * b.y * b.z;
  if (b.x == 0 || b.y == 0 || b.z == 0 || int64_t(b.x) > config::kMaxBlockDim[0] ||
      int64_t(b.y) > config::kMaxBlockDim[1] || int64_t(b.z) > config::kMaxBlockDim[2] ||
      threads > uint64_t(config::kMaxThreadsPerBlock))
    return Failure{cudaErrorInvalidConfiguration,
                   cat("block ", text(b), " has ", threads, " threads; the device allows 1 to ",
                       config::kMaxThreadsPerBlock, " per block (at most ", config::kMaxBlockDim[0], " x ",
                       config::kMaxBlockDim[1], " x ", config::kMaxBlockDim[2], ")")};
  if (g.x == 0 || g.y == 0 || g.z == 0 || int64_t(g.x) > config::kMaxGridDim[0] ||
      int64_t(g.y) > config::kMaxGridDim[1] || int64_t(g.z) > config::kMaxGridDim[2])
    return Failure{cudaErrorInvalidConfiguration,
                   cat("grid ", text(g), " is outside the device's limits (1 to ", config::kMaxGridDim[0],
                       " x ", config::kMaxGridDim[1], " x ", config::kMaxGridDim[2], " blocks)")};
  if (r.dynamic_shared > size_t(kernel.max_dynamic_shared))
    return Failure{cudaErrorInvalidValue,
                   cat("asks for ", r.dynamic_shared, " bytes of dynamic shared memory; this kernel's limit is ",
                       kernel.max_dynamic_shared,
                       " (raise it with cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, "
                       "bytes), up to ", config::kOptinSharedPerBlock, ")")};
  const size_t limit = kernel.attribute_set ? config::kOptinSharedPerBlock : config::kDefaultSharedPerBlock;
  if (kernel.static_known && kernel.static_shared + r.dynamic_shared > limit)
    return Failure{cudaErrorInvalidValue, cat(kernel.static_shared, " bytes of static and ", r.dynamic_shared,
                                              " bytes of dynamic shared memory exceed the ", limit,
                                              " a block of this kernel may have")};
  if (kernel.attribute_set && kernel.static_known &&
      kernel.static_shared + size_t(kernel.max_dynamic_shared) > config::kOptinSharedPerBlock)
    return Failure{cudaErrorInvalidValue,
                   cat("cudaFuncSetAttribute(MaxDynamicSharedMemorySize, ", kernel.max_dynamic_shared, ") with ",
                       kernel.static_shared, " bytes of static shared memory exceeds the ",
                       config::kOptinSharedPerBlock, " a block may have")};
  const auto bound = launch_bounds().find(std::string(base_name(r.kernel_name)));
  if (bound != launch_bounds().end() && threads > uint64_t(bound->second.max_threads))
    return Failure{cudaErrorLaunchOutOfResources,
                   cat("block ", text(b), " has ", threads, " threads, more than the kernel's __launch_bounds__(",
                       bound->second.max_threads, ") in ", bound->second.source)};
  if (!stream_is_valid(r.stream))
    return Failure{cudaErrorInvalidResourceHandle, "the stream is not a live stream (destroyed, or never created)"};
  return std::nullopt;
}

uintptr_t word_at(const void* bytes, size_t offset) {
  uintptr_t word;
  std::memcpy(&word, static_cast<const std::byte*>(bytes) + offset, sizeof(word));
  return word;
}

// Pointer parameters must be null or inside a live device allocation.
std::optional<Failure> check_arguments(const LaunchRequest& r) {
  for (int i = 0; i < r.argument_count; ++i) {
    const KernelArgument& a = r.arguments[i];
    if (!a.is_pointer) continue;
    const uintptr_t pointer = word_at(a.bytes, 0);
    if (pointer != 0 && memory::find(reinterpret_cast<const void*>(pointer)) == nullptr)
      return Failure{cudaErrorIllegalAddress,
                     cat("argument #", i, " (", a.type, ") = 0x", std::hex, pointer, std::dec,
                         " is not in a live device allocation (a host pointer, a freed allocation, "
                         "or past the end of one)")};
  }
  return std::nullopt;
}

// Out-of-bounds accesses of a run: guard-page faults, then damaged slacks (of every live
// allocation: a wild write need not go through an argument), repaired when the launch ends.
std::optional<Failure> check_bounds(Run& run) {
  std::optional<Failure> failure;
  if (run.fault.count > 0) {
    const GuardFault& g = run.fault;
    failure = Failure{cudaErrorIllegalAddress,
                      cat("out-of-bounds ", g.write ? "write" : "read", " by block ", text(g.block), " thread ",
                          text(g.thread), ": byte offset ", g.offset, " of allocation #", g.serial, ", which has ",
                          g.allocation_bytes, " bytes (a guard page; ", g.count, " faulting accesses in all)")};
  }
  memory::close_guards();
  for (const memory::Allocation* allocation : memory::live_allocations()) {
    const std::string damage = memory::slack_damage(*allocation);
    if (damage.empty()) continue;
    if (!failure) failure = Failure{cudaErrorIllegalAddress, "out-of-bounds write: " + damage};
  }
  return failure;
}

// The first argument that points into `allocation`, for naming a difference.
std::string argument_into(const LaunchRequest& r, const memory::Allocation& allocation, size_t byte,
                          size_t& offset_from_argument) {
  for (int i = 0; i < r.argument_count; ++i) {
    const KernelArgument& a = r.arguments[i];
    if (!a.is_pointer) continue;
    const auto* pointer = reinterpret_cast<const std::byte*>(word_at(a.bytes, 0));
    if (pointer < allocation.data || pointer > allocation.data + allocation.bytes) continue;
    if (allocation.data + byte < pointer) continue;
    offset_from_argument = size_t(allocation.data + byte - pointer);
    return cat("argument #", i, " (", a.type, ")");
  }
  offset_from_argument = byte;
  return cat("allocation #", allocation.serial);
}

std::optional<Failure> compare_schedules(const LaunchRequest& r) {
  const std::optional<memory::WriteDifference> d = memory::compare_tracked_writes();
  if (!d) return std::nullopt;
  float first_float, second_float;
  std::memcpy(&first_float, &d->first_word, sizeof(float));
  std::memcpy(&second_float, &d->second_word, sizeof(float));
  size_t offset = 0;
  const std::string target = argument_into(r, *d->allocation, d->offset, offset);
  return Failure{cudaErrorLaunchFailure,
                 cat("the result depends on the schedule: run with blocks and threads in forward and in reverse "
                     "order, ", target, " differs at byte offset ", offset, " (", hex(d->first_word), " = ",
                     first_float, " forward, ", hex(d->second_word), " = ", second_float, " reverse; ",
                     d->differing_words, " 4-byte words differ). A missing __syncthreads/__syncwarp, a warp "
                     "reduction that assumes lockstep, or a race between blocks")};
}

cudaError_t report(const LaunchRequest& r, const Failure& failure) {
  return record_error(failure.code, cat("kernel ", r.kernel_name, " (grid ", text(r.grid), ", block ",
                                        text(r.block), ", ", r.dynamic_shared, " bytes dynamic shared): ",
                                        failure.detail));
}

// One run of the launch in one order, then its bounds checks.
std::optional<Failure> run_once(const LaunchRequest& r, SharedLayout& layout, KernelRecord& kernel, bool reverse) {
  Run run;
  run.request = &r;
  run.reverse = reverse;
  run.layout = &layout;
  execute(run, kernel);
  std::optional<Failure> bounds = check_bounds(run);
  if (run.failed()) return run.failure;
  return bounds;
}

}  // namespace

// ---- device side -------------------------------------------------------------------------------------------

int block_barrier(BarrierOp op, int predicate) {
  Run& run = require_run(barrier_name(op));
  Fiber& f = *run.current;
  BlockRun& b = run.block;
  if (b.barrier_arrived > 0 && b.barrier_op != op)
    fail_thread(cudaErrorLaunchFailure, cat("calls ", barrier_name(op), " while ", b.barrier_arrived,
                                            " threads wait in ", barrier_name(b.barrier_op)));
  if (b.barrier_arrived == 0) {
    b.barrier_op = op;
    b.barrier_accumulator = op == BarrierOp::sync_and ? 1 : 0;
  }
  const int flag = predicate != 0;
  switch (op) {
    case BarrierOp::sync: break;
    case BarrierOp::sync_or: b.barrier_accumulator |= flag; break;
    case BarrierOp::sync_and: b.barrier_accumulator &= flag; break;
    case BarrierOp::sync_count: b.barrier_accumulator += flag; break;
  }
  ++b.barrier_arrived;
  f.wait = Wait::barrier;
  if (b.barrier_arrived == b.live) release_barrier(run);
  wait_here(run, f);
  return f.barrier_result;
}

namespace {

// The lane whose value lane `lane` receives: the PTX definitions of shfl.sync (the offset's low five
// bits; `width` a power of two).
int source_lane(WarpOp op, int lane, int arg, int width) {
  const int segment = lane & ~(width - 1);
  const int offset = arg & (kWarp - 1);
  switch (op) {
    case WarpOp::shfl: return segment + (arg & (width - 1));
    case WarpOp::shfl_up: return lane - segment >= offset ? lane - offset : lane;
    case WarpOp::shfl_down: return lane - segment + offset < width ? lane + offset : lane;
    case WarpOp::shfl_xor: {
      const int source = lane ^ offset;
      return source >= segment + width ? lane : source;  // later segments: own value
    }
    default: return lane;
  }
}

bool is_shuffle(WarpOp op) {
  return op == WarpOp::shfl || op == WarpOp::shfl_up || op == WarpOp::shfl_down || op == WarpOp::shfl_xor;
}

// The lanes a collective waits for: those of its mask that the block has and that have not exited
// (CUDA: "all non-exited threads named in mask").
unsigned participants(const PendingCollective& p, const WarpState& w) { return p.mask & w.present & ~w.exited; }

// Every participant of `p` has arrived: computes each one's result and lets them go on. Votes count
// the participants; a shuffle that reads a lane outside the mask, or one that has exited, reads an
// undefined value: an error.
void complete(const PendingCollective& p, const WarpState& w, int warp) {
  Engine& e = engine();
  unsigned ballot = 0;
  for (unsigned left = p.arrived; left != 0; left &= left - 1) {
    const int lane = std::countr_zero(left);
    if (p.values[lane] != 0) ballot |= 1u << lane;
  }
  for (unsigned left = p.arrived; left != 0; left &= left - 1) {
    const int lane = std::countr_zero(left);
    uint64_t result = 0;
    switch (p.op) {
      case WarpOp::ballot: result = ballot; break;
      case WarpOp::any: result = ballot != 0; break;
      case WarpOp::all: result = ballot == p.arrived; break;
      case WarpOp::syncwarp: break;
      default: {
        const int source = source_lane(p.op, lane, p.args[lane], p.width);
        const unsigned bit = 1u << source;
        if (!(p.arrived & bit))
          fail_thread(cudaErrorLaunchFailure,
                      cat(op_name(p.op), "(mask ", hex(p.mask), "): lane ", lane, " reads lane ", source, ", which ",
                          !(p.mask & bit) ? "is not in the mask" : !(w.present & bit) ? "this block does not have"
                                                                                         : "has exited",
                          ": the value it gets is undefined on the GPU"));
        result = p.values[source];
      }
    }
    Fiber& f = e.fibers[warp * kWarp + lane];
    f.warp_result = result;
    f.wait = Wait::none;
  }
}

// Completes and removes the collectives of warp `warp` whose participants have all arrived.
void complete_ready(WarpState& w, int warp) {
  for (size_t i = 0; i < w.pending.size();) {
    PendingCollective& p = w.pending[i];
    if (p.arrived == 0 || p.arrived != participants(p, w)) {
      ++i;
      continue;
    }
    complete(p, w, warp);
    if (i + 1 != w.pending.size()) std::swap(p, w.pending.back());
    w.pending.pop_back();
  }
}

}  // namespace

uint64_t warp_collective(WarpOp op, unsigned mask, uint64_t value, int arg, int width) {
  Run& run = require_run(op_name(op));
  Fiber& f = *run.current;
  const int warp = f.linear / kWarp, lane = f.linear % kWarp;
  const unsigned bit = 1u << lane;
  WarpState& w = engine().warps[warp];
  if (!(mask & bit))
    fail_thread(cudaErrorLaunchFailure, cat(op_name(op), "(mask ", hex(mask), ") does not name the calling lane ",
                                            lane, " (a lane must be in the mask it passes)"));
  if (is_shuffle(op) && (width <= 0 || width > kWarp || (width & (width - 1)) != 0))
    fail_thread(cudaErrorLaunchFailure, cat(op_name(op), ": width ", width, " is not a power of two <= 32"));
  int index = -1;
  for (int i = 0; i < int(w.pending.size()); ++i) {
    const PendingCollective& q = w.pending[i];
    if (q.mask == mask) {
      index = i;
      break;
    }
    if (q.mask & mask)
      fail_thread(cudaErrorLaunchFailure,
                  cat(op_name(op), "(mask ", hex(mask), ") overlaps ", op_name(q.op), "(mask ", hex(q.mask),
                      ") in which lanes ", lanes(q.arrived), " wait: the lanes of a mask must meet in one collective"));
  }
  if (index < 0) {
    PendingCollective& fresh = w.pending.emplace_back();
    fresh.op = op, fresh.mask = mask, fresh.width = width, fresh.arrived = 0;
    index = int(w.pending.size()) - 1;
  }
  PendingCollective& p = w.pending[index];
  if (p.op != op || p.width != width)
    fail_thread(cudaErrorLaunchFailure, cat("calls ", op_name(op), "(mask ", hex(mask), ") while lanes ",
                                            lanes(p.arrived), " of the same mask wait in ", op_name(p.op)));
  p.values[lane] = value;
  p.args[lane] = arg;
  p.arrived |= bit;
  f.wait = Wait::warp;
  f.warp_op = op;
  f.warp_mask = mask;
  if (p.arrived == participants(p, w)) complete_ready(w, warp);
  wait_here(run, f);
  return f.warp_result;
}

unsigned active_mask() {
  Run& run = require_run("__activemask");
  const Fiber& f = *run.current;
  const WarpState& w = engine().warps[f.linear / kWarp];
  return w.present & ~w.exited;
}

void device_fail(const char* what) {
  require_run("a device-side failure");
  fail_thread(cudaErrorLaunchFailure, what);
}

std::byte* shared_static(const void* site, const char* name, size_t bytes, size_t alignment) {
  Run& run = require_run("shared memory");
  SharedLayout& layout = *run.layout;
  std::byte* arena = engine().shared;
  for (const auto& [known, offset] : layout.sites)
    if (known == site) return arena + offset;
  const size_t declared = round_up(layout.declared, alignment) + bytes;
  if (declared > config::kDefaultSharedPerBlock)
    fail_thread(cudaErrorLaunchOutOfResources,
                cat("static shared memory reaches ", declared, " bytes with '", name, "'; a kernel may declare ",
                    config::kDefaultSharedPerBlock, " (larger tiles go in dynamic shared memory)"));
  if (declared + layout.dynamic_bytes > layout.limit)
    fail_thread(cudaErrorInvalidValue, cat("static shared memory ('", name, "' included: ", declared, " bytes) and ",
                                           layout.dynamic_bytes, " bytes of dynamic exceed the ", layout.limit,
                                           " a block of this kernel may have"));
  if (layout.attribute != 0 && declared + layout.attribute > config::kOptinSharedPerBlock)
    fail_thread(cudaErrorInvalidValue,
                cat("cudaFuncSetAttribute(MaxDynamicSharedMemorySize, ", layout.attribute, ") with ", declared,
                    " bytes of static shared memory ('", name, "' included) exceeds the ",
                    config::kOptinSharedPerBlock, " a block may have"));
  const size_t offset = round_up(layout.end, std::max<size_t>(alignment, 16));
  const size_t end = offset + bytes + config::kSharedRedZoneBytes;
  if (end > config::kSharedArenaBytes)
    fail_thread(cudaErrorLaunchOutOfResources, cat("'", name, "': more shared declarations than the emulator's arena holds"));
  RedZone& gap = layout.red_zones.back();  // the zone that ends at layout.end grows to the new variable
  std::memset(arena + layout.end, config::kGuardByte, offset - layout.end);
  gap.length += offset - layout.end;
  poison(arena + offset, bytes);
  std::memset(arena + offset + bytes, config::kGuardByte, config::kSharedRedZoneBytes);
  layout.red_zones.push_back({offset + bytes, config::kSharedRedZoneBytes, cat("'", name, "' (", bytes, " bytes)")});
  layout.end = end;
  layout.declared = declared;
  layout.sites.emplace_back(site, offset);
  return arena + offset;
}

std::byte* shared_dynamic() {
  Run& run = require_run("dynamic shared memory");
  return engine().shared + run.layout->dynamic_offset;
}

// ---- launches ------------------------------------------------------------------------------------------------

namespace {

// The launch's shared memory before any static declaration: a red zone, the dynamic region, a red
// zone after it.
SharedLayout initial_layout(const LaunchRequest& r, const KernelRecord& kernel) {
  SharedLayout layout;
  layout.dynamic_offset = config::kSharedDynamicOffset;
  layout.dynamic_bytes = r.dynamic_shared;
  layout.end = layout.dynamic_offset + r.dynamic_shared + config::kSharedRedZoneBytes;
  layout.red_zones.push_back({0, config::kSharedDynamicOffset, cat("the dynamic shared memory (", r.dynamic_shared,
                                                                   " bytes)")});
  layout.red_zones.push_back({layout.dynamic_offset + r.dynamic_shared, config::kSharedRedZoneBytes,
                              cat("the dynamic shared memory (", r.dynamic_shared, " bytes)")});
  layout.limit = kernel.attribute_set ? config::kOptinSharedPerBlock : config::kDefaultSharedPerBlock;
  layout.attribute = kernel.attribute_set ? size_t(kernel.max_dynamic_shared) : 0;
  return layout;
}

// One order, or both from the same memory under write tracking of every live allocation (a kernel
// may reach memory other than through its arguments): the first run's writes are kept aside and
// undone, the second run's stay (they are the launch's result), then the two are compared.
std::optional<Failure> run_launch(const LaunchRequest& r, KernelRecord& kernel) {
  SharedLayout layout = initial_layout(r, kernel);
  const Schedule order = schedule();
  if (order != Schedule::both) return run_once(r, layout, kernel, order == Schedule::reverse);
  struct TrackingScope {
    TrackingScope() { memory::begin_tracking(memory::live_allocations()); }
    ~TrackingScope() { memory::end_tracking(); }
  } tracking;
  if (std::optional<Failure> bad = run_once(r, layout, kernel, false)) return bad;
  memory::rewind_tracked_writes();
  if (std::optional<Failure> bad = run_once(r, layout, kernel, true)) return bad;
  return compare_schedules(r);
}

}  // namespace

cudaError_t execute_launch(const LaunchRequest& r) {
  Engine& e = engine();
  std::lock_guard<std::mutex> lock(e.mutex);
  install_fault_handler();
  KernelRecord& kernel = e.kernels[r.kernel];
  if (std::optional<Failure> bad = check_configuration(r, kernel)) return report(r, *bad);
  if (std::optional<Failure> bad = check_arguments(r)) return report(r, *bad);
  ++e.stats.launches;
  const std::optional<Failure> failure = run_launch(r, kernel);
  memory::repair_damaged_slacks();  // after the tracking: every page is writable again
  return failure ? report(r, *failure) : cudaSuccess;
}

bool register_launch_bound(const char* kernel, int max_threads, const char* source) {
  auto [it, added] = launch_bounds().emplace(kernel, LaunchBound{max_threads, source});
  if (!added && it->second.max_threads != max_threads) {
    std::fprintf(stderr,
                 "dsatrain emulated GPU: two kernels named %s, in %s with __launch_bounds__(%d) and in %s with "
                 "__launch_bounds__(%d): kernel names must be unique for the emulator's launch check\n",
                 kernel, it->second.source.c_str(), it->second.max_threads, source, max_threads);
    std::abort();
  }
  return true;
}

cudaError_t set_max_dynamic_shared(const void* kernel, int bytes) {
  Engine& e = engine();
  std::lock_guard<std::mutex> lock(e.mutex);
  KernelRecord& record = e.kernels[kernel];
  const size_t static_bytes = record.static_known ? record.static_shared : 0;
  if (bytes < 0 || size_t(bytes) + static_bytes > config::kOptinSharedPerBlock)
    return record_error(cudaErrorInvalidValue,
                        cat("cudaFuncSetAttribute(MaxDynamicSharedMemorySize, ", bytes, "): with ", static_bytes,
                            " bytes of static shared memory the most is ", config::kOptinSharedPerBlock - static_bytes));
  record.max_dynamic_shared = bytes;
  record.attribute_set = true;
  return cudaSuccess;
}

cudaFuncAttributes kernel_attributes(const void* kernel) {
  Engine& e = engine();
  std::lock_guard<std::mutex> lock(e.mutex);
  const KernelRecord& record = e.kernels[kernel];
  cudaFuncAttributes attributes{};
  attributes.sharedSizeBytes = record.static_known ? record.static_shared : 0;
  attributes.maxThreadsPerBlock = config::kMaxThreadsPerBlock;
  attributes.maxDynamicSharedSizeBytes = record.max_dynamic_shared;
  attributes.numRegs = 0;
  attributes.ptxVersion = config::kComputeMajor * 10 + config::kComputeMinor;
  attributes.binaryVersion = attributes.ptxVersion;
  return attributes;
}

Schedule schedule() {
  Engine& e = engine();
  if (!e.schedule) {
    const char* value = std::getenv("DSA_EMU_SCHEDULE");
    const std::string text_ = value ? value : "both";
    if (text_ == "forward") e.schedule = Schedule::forward;
    else if (text_ == "reverse") e.schedule = Schedule::reverse;
    else if (text_ == "both") e.schedule = Schedule::both;
    else {
      std::fprintf(stderr, "DSA_EMU_SCHEDULE=%s: expected both, forward or reverse\n", value);
      std::exit(2);
    }
  }
  return *e.schedule;
}

void set_schedule(Schedule value) { engine().schedule = value; }

EngineStats engine_stats() { return engine().stats; }

}  // namespace dsa::emu
