// The emulated device's execution engine (engine.cpp): launches run here, on the calling thread.
//
// Blocks of a grid run one after another. The threads of a block run as cooperative fibers
// (Boost.Context fcontext, one pooled stack each) that switch only where CUDA threads wait for
// each other: block barriers (__syncthreads and its _or/_and/_count forms) and every warp
// collective (__syncwarp, shuffles, votes). A scheduler pass resumes every runnable thread once,
// in thread order; a pass in which none can run while some still live is a deadlock, reported
// with what each thread waits for. Collectives follow the CUDA definitions for the lanes their
// mask names: a lane named in a mask that has exited or does not exist, a lane calling with a mask
// that omits itself, or lanes of one mask meeting at different intrinsics, fail the launch.
//
// The schedule check: each launch runs twice — blocks and the threads of every barrier interval
// first in forward, then in reverse order — from the same contents of the device allocations its
// arguments reach, and the two results must be bit-identical (memory.h tracks the pages each run
// writes, so the check costs what a launch writes, not the size of what it can reach). A missing barrier, a warp reduction
// that assumes lockstep, or a race between blocks shows up as a difference that names the kernel,
// the argument and the first differing element, instead of passing by luck.
// (DSA_EMU_SCHEDULE=forward|reverse runs one order only: faster, unchecked.)
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "types.h"

namespace dsa::emu {

// A thread's built-in variables (threadIdx, blockIdx, blockDim, gridDim read these).
struct ThreadState {
  uint3 thread_idx;
  uint3 block_idx;
  dim3 block_dim;
  dim3 grid_dim;
};

namespace detail {
// The state of the fiber being run on this OS thread (fibers never move between OS threads);
// null outside a launch.
extern thread_local const ThreadState* t_thread;
}  // namespace detail

inline const ThreadState& this_thread() { return *detail::t_thread; }

// ---- collectives (device.h gives them their CUDA names) ------------------------------------------
enum class WarpOp : uint8_t { shfl, shfl_up, shfl_down, shfl_xor, ballot, any, all, syncwarp };
enum class BarrierOp : uint8_t { sync, sync_or, sync_and, sync_count };

// The calling lane's result of one warp collective over the lanes of `mask` (`value`: this lane's
// operand bits; `arg`: source lane, delta or lane mask; `width`: the shuffle segment).
uint64_t warp_collective(WarpOp op, unsigned mask, uint64_t value, int arg, int width);
// Waits until every live thread of the block arrives; returns the reduction of `predicate` that
// `op` asks for (0 for a plain barrier).
int block_barrier(BarrierOp op, int predicate);
// The lanes of the caller's warp that have not exited (no divergence is modelled).
unsigned active_mask();
// Fails the launch from device code (__trap, a failed device-side check).
[[noreturn]] void device_fail(const char* what);

// Shared memory of the running block: a static declaration's storage (one per declaration site,
// `site` its address key) and the dynamic region. Both start poisoned at every block.
std::byte* shared_static(const void* site, const char* name, size_t bytes, size_t alignment);
std::byte* shared_dynamic();

// ---- launches ----------------------------------------------------------------------------------------
struct KernelArgument {
  const void* bytes;     // the converted parameter value
  size_t size;
  bool is_pointer;       // a T* parameter: must be null or inside a live device allocation
  std::string_view type; // for reports
};

struct LaunchRequest {
  std::string_view kernel_name;  // "topk_kernel", "attention_forward_kernel<64>"
  const void* kernel;            // identity: attributes and learned static shared sizes
  dim3 grid, block;
  size_t dynamic_shared = 0;
  cudaStream_t stream = nullptr;
  const KernelArgument* arguments = nullptr;
  int argument_count = 0;
  void (*run_thread)(const void* closure) = nullptr;  // runs the kernel body for this_thread()
  const void* closure = nullptr;
};

// Runs the launch to completion (both schedules under the check). Errors — launch configuration,
// bad pointer arguments, deadlocks, collective misuse, out-of-bounds writes, schedule-dependent
// results — are recorded as the runtime's last error with a message naming the kernel.
cudaError_t execute_launch(const LaunchRequest& request);

// A kernel's __launch_bounds__ (its most threads per block), registered by name at start-up from
// code that cuda/emu/launch_bounds.cmake generates out of the kernel's source (a C++ compiler
// never sees the attribute). A launch with more threads is refused, as on the hardware. Kernel
// names must be unique across the twin: a second registration with another bound aborts.
bool register_launch_bound(const char* kernel, int max_threads, const char* source);

// Kernel attributes (cudaFuncSetAttribute / cudaFuncGetAttributes).
cudaError_t set_max_dynamic_shared(const void* kernel, int bytes);
cudaFuncAttributes kernel_attributes(const void* kernel);

enum class Schedule : uint8_t { both, forward, reverse };
// DSA_EMU_SCHEDULE (both | forward | reverse; default both); tests may override it.
Schedule schedule();
void set_schedule(Schedule schedule);

// Counters since the process started (reported by tools and tests).
struct EngineStats {
  uint64_t launches = 0, blocks = 0, threads = 0, switches = 0;
};
EngineStats engine_stats();

}  // namespace dsa::emu
