// Self-tests of the emulated GPU (cuda/emu/): kernels with planted bugs, each of which the
// emulator must report, naming the kernel — a read of shared memory before the barrier that
// publishes it, a warp reduction that assumes lockstep, an out-of-bounds write, a host pointer
// passed to a kernel, a shuffle whose mask names an exited lane, a launch of 1025 threads, dynamic
// shared memory over 48 KiB without the opt-in, a race between blocks — next to the correct
// versions of the same kernels, which must pass cleanly; and the CUDA semantics the emulator
// implements (shuffles, votes, barrier reductions, deadlocks, copies, cuBLAS, CUB).
//
// The kernels here build like the twin's (cuda/platform.cuh, the emulated build only): launch<>
// and DSA_SHARED, in namespace dsa::cuda_emu.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "platform.cuh"
#include "platform_sort.cuh"

namespace dsa::DSA_CUDA_TWIN {
namespace {

// ---- helpers -------------------------------------------------------------------------------------

// A device array that frees itself; starts as a copy of `host`.
template <class T>
class Device {
 public:
  explicit Device(const std::vector<T>& host) : count_(host.size()) {
    EXPECT_EQ(cudaMalloc(&data_, std::max<size_t>(count_, 1) * sizeof(T)), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(data_, host.data(), count_ * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  }
  explicit Device(size_t count, T fill = T()) : Device(std::vector<T>(count, fill)) {}
  ~Device() { cudaFree(data_); }
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;
  T* get() const { return data_; }
  std::vector<T> download() const {
    std::vector<T> host(count_);
    EXPECT_EQ(cudaMemcpy(host.data(), data_, count_ * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
    return host;
  }

 private:
  size_t count_;
  T* data_ = nullptr;
};

// What the last launch left: "" when it succeeded, else "<error name>: <string with the
// emulator's account>". Clears the error.
std::string launch_result() {
  const cudaError_t status = cudaGetLastError();
  if (status == cudaSuccess) return "";
  return std::string(cudaGetErrorName(status)) + ": " + cudaGetErrorString(status);
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::vector<float> iota_floats(size_t n) {
  std::vector<float> v(n);
  std::iota(v.begin(), v.end(), 1.0f);
  return v;
}

constexpr unsigned kFull = 0xffffffffu;

// ---- planted bug 1: shared memory read before the barrier that publishes it ----------------------------

// out[t] = in[(t + 1) % n] through shared memory.
__global__ void rotate_without_barrier(float* out, const float* in) {
  DSA_SHARED(float[64], staged);
  const unsigned t = threadIdx.x;
  staged[t] = in[t];
  out[t] = staged[(t + 1) % blockDim.x];  // BUG: thread t + 1 may not have written yet
}

__global__ void rotate_with_barrier(float* out, const float* in) {
  DSA_SHARED(float[64], staged);
  const unsigned t = threadIdx.x;
  staged[t] = in[t];
  __syncthreads();
  out[t] = staged[(t + 1) % blockDim.x];
}

TEST(CudaEmu, ReportsASharedReadBeforeItsBarrier) {
  Device<float> in(iota_floats(64)), out(64, 0.0f);
  launch<rotate_without_barrier>({1, 64}, out.get(), in.get());
  const std::string bug = launch_result();
  EXPECT_TRUE(contains(bug, "rotate_without_barrier")) << bug;
  EXPECT_TRUE(contains(bug, "depends on the schedule")) << bug;

  launch<rotate_with_barrier>({1, 64}, out.get(), in.get());
  ASSERT_EQ(launch_result(), "");
  const std::vector<float> result = out.download();
  for (int t = 0; t < 64; ++t) EXPECT_EQ(result[t], float((t + 1) % 64 + 1)) << t;
}

// ---- planted bug 2: a warp reduction that assumes lockstep ----------------------------------------

// out[0] = the sum of in[0..63]: a block tree down to 32 values, then the last warp in shared memory.
__global__ void sum_lockstep(float* out, const float* in) {
  DSA_SHARED(float[64], partial);
  const unsigned t = threadIdx.x;
  partial[t] = in[t];
  __syncthreads();
  if (t < 32) {
    // BUG: the classic pre-Volta warp reduction; lanes are not in lockstep (no __syncwarp).
    for (unsigned offset = 32; offset > 0; offset /= 2) partial[t] += partial[t + offset];
  }
  if (t == 0) *out = partial[0];
}

__global__ void sum_with_syncwarp(float* out, const float* in) {
  DSA_SHARED(float[64], partial);
  const unsigned t = threadIdx.x;
  partial[t] = in[t];
  __syncthreads();
  if (t < 32) {
    for (unsigned offset = 32; offset > 0; offset /= 2) {
      const float other = t < offset ? partial[t + offset] : 0.0f;
      __syncwarp();
      if (t < offset) partial[t] += other;
      __syncwarp();
    }
  }
  if (t == 0) *out = partial[0];
}

TEST(CudaEmu, ReportsAWarpReductionThatAssumesLockstep) {
  Device<float> in(iota_floats(64)), out(1, 0.0f);
  launch<sum_lockstep>({1, 64}, out.get(), in.get());
  const std::string bug = launch_result();
  EXPECT_TRUE(contains(bug, "sum_lockstep")) << bug;
  EXPECT_TRUE(contains(bug, "depends on the schedule")) << bug;

  launch<sum_with_syncwarp>({1, 64}, out.get(), in.get());
  ASSERT_EQ(launch_result(), "");
  EXPECT_EQ(out.download()[0], 64.0f * 65.0f / 2.0f);
}

// ---- planted bug 3: an out-of-bounds global write ------------------------------------------------------

__global__ void scale_past_the_end(float* x, int n) {
  const int i = int(blockIdx.x * blockDim.x + threadIdx.x);
  if (i <= n) x[i] *= 2.0f;  // BUG: <= writes x[n]
}

__global__ void scale(float* x, int n) {
  const int i = int(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n) x[i] *= 2.0f;
}

TEST(CudaEmu, ReportsAnOutOfBoundsWrite) {
  Device<float> x(iota_floats(100));
  launch<scale_past_the_end>({1, 128}, x.get(), 100);
  const std::string bug = launch_result();
  EXPECT_TRUE(contains(bug, "scale_past_the_end")) << bug;
  EXPECT_TRUE(contains(bug, "cudaErrorIllegalAddress")) << bug;
  EXPECT_TRUE(contains(bug, "out-of-bounds write")) << bug;
  EXPECT_TRUE(contains(bug, "after the end of allocation")) << bug;

  Device<float> y(iota_floats(100));
  launch<scale>({1, 128}, y.get(), 100);
  ASSERT_EQ(launch_result(), "");
  EXPECT_EQ(y.download()[99], 200.0f);
}

// The first byte past an allocation whose size is a multiple of 256 is a guard page: an access
// there (a write or a read) is caught by the fault handler, reported, and the process goes on.
__global__ void write_at_the_end(float* x, int n) {
  if (threadIdx.x == 0) x[n] = 1.0f;
}

__global__ void read_at_the_end(float* out, const float* x, int n) {
  if (threadIdx.x == 0) *out = x[n];
}

TEST(CudaEmu, ReportsAccessesThatReachAGuardPage) {
  Device<float> x(1024, 0.0f), out(1, 0.0f);
  launch<write_at_the_end>({1, 32}, x.get(), 1024);
  std::string bug = launch_result();
  EXPECT_TRUE(contains(bug, "write_at_the_end")) << bug;
  EXPECT_TRUE(contains(bug, "out-of-bounds write by block (0,0,0) thread (0,0,0): byte offset 4096 of allocation"))
      << bug;
  EXPECT_TRUE(contains(bug, "which has 4096 bytes")) << bug;
  launch<read_at_the_end>({1, 32}, out.get(), x.get(), 1024);
  bug = launch_result();
  EXPECT_TRUE(contains(bug, "read_at_the_end")) << bug;
  EXPECT_TRUE(contains(bug, "out-of-bounds read")) << bug;
  // The guard is closed again: the same launch is caught again.
  launch<write_at_the_end>({1, 32}, x.get(), 1024);
  EXPECT_TRUE(contains(launch_result(), "out-of-bounds write"));
}

// Writes one element past a shared array (static, then dynamic): found in the red zone after it.
__global__ void write_past_shared(float* out) {
  DSA_SHARED(float[64], staged);
  staged[threadIdx.x] = 1.0f;  // BUG: 65 threads
  __syncthreads();
  out[threadIdx.x] = staged[0];
}

__global__ void write_past_dynamic_shared(float* out, int count) {
  DSA_DYNAMIC_SHARED(float, staged);
  staged[threadIdx.x] = 1.0f;  // BUG: count + 1 threads
  __syncthreads();
  if (int(threadIdx.x) < count) out[threadIdx.x] = staged[threadIdx.x];
}

TEST(CudaEmu, ReportsWritesPastASharedArray) {
  Device<float> out(65, 0.0f);
  launch<write_past_shared>({1, 65}, out.get());
  std::string bug = launch_result();
  EXPECT_TRUE(contains(bug, "write_past_shared")) << bug;
  EXPECT_TRUE(contains(bug, "shared memory bytes 0..3 past the end of 'staged' (256 bytes) were written")) << bug;
  launch<write_past_dynamic_shared>({1, 33, 32 * sizeof(float)}, out.get(), 32);
  bug = launch_result();
  EXPECT_TRUE(contains(bug, "write_past_dynamic_shared")) << bug;
  EXPECT_TRUE(contains(bug, "past the end of the dynamic shared memory (128 bytes)")) << bug;
  launch<write_past_dynamic_shared>({1, 32, 32 * sizeof(float)}, out.get(), 32);
  EXPECT_EQ(launch_result(), "");
}

// ---- planted bug 4: a host pointer passed to a kernel ------------------------------------------------

TEST(CudaEmu, ReportsAHostPointerArgument) {
  std::vector<float> host(128, 1.0f);
  launch<scale>({1, 128}, host.data(), 128);
  const std::string bug = launch_result();
  EXPECT_TRUE(contains(bug, "scale")) << bug;
  EXPECT_TRUE(contains(bug, "argument #0 (float*)")) << bug;
  EXPECT_TRUE(contains(bug, "not in a live device allocation")) << bug;
  EXPECT_EQ(host[0], 1.0f) << "the kernel must not have run";
}

// ---- planted bug 5: a shuffle whose mask names a lane that has exited -----------------------------
// Naming exited lanes in a mask is legal CUDA ("all non-exited threads named in mask" take part);
// reading the value of one is not: it is undefined.

__global__ void shuffle_from_exited_lanes(float* out) {
  const unsigned lane = threadIdx.x % 32;
  if (lane >= 16) return;
  out[lane] = __shfl_xor_sync(kFull, float(lane), 16);  // BUG: lane ^ 16 has exited
}

__global__ void shuffle_among_live_lanes(float* out, unsigned* ballots) {
  const unsigned lane = threadIdx.x % 32;
  if (lane >= 16) return;
  out[lane] = __shfl_xor_sync(kFull, float(lane), 1);  // the full mask names exited lanes: legal
  ballots[lane] = __ballot_sync(kFull, lane % 2 == 0);  // votes of the lanes that take part
}

TEST(CudaEmu, ReportsAShuffleThatReadsAnExitedLane) {
  Device<float> out(32, 0.0f);
  Device<unsigned> ballots(32, 0u);
  launch<shuffle_from_exited_lanes>({1, 32}, out.get());
  const std::string bug = launch_result();
  EXPECT_TRUE(contains(bug, "shuffle_from_exited_lanes")) << bug;
  EXPECT_TRUE(contains(bug, "reads lane 16, which has exited")) << bug;

  launch<shuffle_among_live_lanes>({1, 32}, out.get(), ballots.get());
  ASSERT_EQ(launch_result(), "");
  const std::vector<float> result = out.download();
  const std::vector<unsigned> votes = ballots.download();
  for (int lane = 0; lane < 16; ++lane) {
    EXPECT_EQ(result[lane], float(lane ^ 1)) << lane;
    EXPECT_EQ(votes[lane], 0x5555u) << lane;
  }
}

// ---- planted bug 6: a launch with 1025 threads ---------------------------------------------------------

TEST(CudaEmu, ReportsALaunchOf1025Threads) {
  Device<float> x(2048, 1.0f);
  launch<scale>({1, 1025}, x.get(), 2048);
  const std::string bug = launch_result();
  EXPECT_TRUE(contains(bug, "cudaErrorInvalidConfiguration")) << bug;
  EXPECT_TRUE(contains(bug, "scale")) << bug;
  EXPECT_TRUE(contains(bug, "1025 threads")) << bug;
  EXPECT_EQ(x.download()[0], 1.0f) << "a refused launch runs nothing";
  launch<scale>({2, 1024}, x.get(), 2048);
  ASSERT_EQ(launch_result(), "");
  EXPECT_EQ(x.download()[2047], 2.0f);
}

// ---- planted bug 7: dynamic shared memory over 48 KiB without the opt-in -------------------------------

// Sums `count` floats of `in` through dynamic shared memory (thread 0 writes out).
__global__ void stage_dynamic(float* out, const float* in, int count) {
  DSA_DYNAMIC_SHARED(float, staged);
  for (int i = int(threadIdx.x); i < count; i += int(blockDim.x)) staged[i] = in[i];
  __syncthreads();
  if (threadIdx.x != 0) return;
  float sum = 0.0f;
  for (int i = 0; i < count; ++i) sum += staged[i];
  *out = sum;
}

TEST(CudaEmu, ReportsDynamicSharedMemoryOver48KiBWithoutTheOptIn) {
  constexpr int kCount = 16384;  // 64 KiB
  Device<float> in(std::vector<float>(kCount, 0.5f)), out(1, 0.0f);
  launch<stage_dynamic>({1, 256, kCount * sizeof(float)}, out.get(), in.get(), kCount);
  const std::string bug = launch_result();
  EXPECT_TRUE(contains(bug, "stage_dynamic")) << bug;
  EXPECT_TRUE(contains(bug, "65536 bytes of dynamic shared memory")) << bug;
  EXPECT_TRUE(contains(bug, "cudaFuncSetAttribute")) << bug;

  ASSERT_EQ(cudaFuncSetAttribute(stage_dynamic, cudaFuncAttributeMaxDynamicSharedMemorySize, kCount * 4), cudaSuccess);
  launch<stage_dynamic>({1, 256, kCount * sizeof(float)}, out.get(), in.get(), kCount);
  ASSERT_EQ(launch_result(), "");
  EXPECT_EQ(out.download()[0], 0.5f * kCount);
  // Beyond the device's 227 KiB even the opt-in is refused.
  EXPECT_EQ(cudaFuncSetAttribute(stage_dynamic, cudaFuncAttributeMaxDynamicSharedMemorySize, 228 * 1024),
            cudaErrorInvalidValue);
  cudaGetLastError();
}

__global__ void too_much_static_shared(float* out) {
  DSA_SHARED(float[13000], big);  // 52000 bytes: over the 48 KiB of static shared memory
  big[threadIdx.x] = 1.0f;
  out[threadIdx.x] = big[threadIdx.x];
}

TEST(CudaEmu, ReportsStaticSharedMemoryOver48KiB) {
  Device<float> out(32, 0.0f);
  launch<too_much_static_shared>({1, 32}, out.get());
  const std::string bug = launch_result();
  EXPECT_TRUE(contains(bug, "too_much_static_shared")) << bug;
  EXPECT_TRUE(contains(bug, "'big'")) << bug;
}

// ---- planted bug 8: a race between blocks through global memory --------------------------------------

// Block b marks itself done and copies its right neighbour's mark: correct only if blocks ran in order.
__global__ void read_the_next_block(int* marks, int* seen) {
  const unsigned b = blockIdx.x;
  if (threadIdx.x == 0) {
    marks[b] = 1;
    seen[b] = b + 1 < gridDim.x ? marks[b + 1] : -1;  // BUG: block b + 1 may or may not have run
  }
}

__global__ void read_own_block(int* marks, int* seen) {
  const unsigned b = blockIdx.x;
  if (threadIdx.x == 0) {
    marks[b] = 1;
    seen[b] = marks[b];
  }
}

TEST(CudaEmu, ReportsARaceBetweenBlocks) {
  Device<int> marks(16, 0), seen(16, 0);
  launch<read_the_next_block>({16, 32}, marks.get(), seen.get());
  const std::string bug = launch_result();
  EXPECT_TRUE(contains(bug, "read_the_next_block")) << bug;
  EXPECT_TRUE(contains(bug, "depends on the schedule")) << bug;
  EXPECT_TRUE(contains(bug, "argument #1 (int*) differs at byte offset 0")) << bug;

  launch<read_own_block>({16, 32}, marks.get(), seen.get());
  ASSERT_EQ(launch_result(), "");
  EXPECT_EQ(seen.download(), std::vector<int>(16, 1));
}

// ---- __launch_bounds__ -----------------------------------------------------------------------------------

constexpr int kBoundedThreads = 128;

__global__ void __launch_bounds__(kBoundedThreads)
    bounded_scale(float* x, int n) {
  const int i = int(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n) x[i] *= 2.0f;
}

TEST(CudaEmu, ReportsALaunchOverTheKernelsLaunchBounds) {
  Device<float> x(256, 1.0f);
  launch<bounded_scale>({1, 256}, x.get(), 256);
  const std::string bug = launch_result();
  EXPECT_TRUE(contains(bug, "cudaErrorLaunchOutOfResources")) << bug;
  EXPECT_TRUE(contains(bug, "bounded_scale")) << bug;
  EXPECT_TRUE(contains(bug, "more than the kernel's __launch_bounds__(128) in test_cuda_emu.cpp")) << bug;
  launch<bounded_scale>({2, kBoundedThreads}, x.get(), 256);
  ASSERT_EQ(launch_result(), "");
  EXPECT_EQ(x.download()[255], 2.0f);
}

// ---- CUDA semantics the emulator implements --------------------------------------------------------------

// Per lane: every shuffle form, with the full warp and with width 8; votes.
__global__ void warp_intrinsics(int* out) {
  const int lane = int(threadIdx.x % 32);
  // The lanes that have not exited (the emulator models no divergence): taken before any lane can
  // have finished, so the same in every schedule.
  const unsigned active = __activemask();
  int* row = out + lane * 8;
  row[0] = __shfl_sync(kFull, lane * 10, 5);
  row[1] = __shfl_up_sync(kFull, lane * 10, 3);
  row[2] = __shfl_down_sync(kFull, lane * 10, 3);
  row[3] = __shfl_xor_sync(kFull, lane * 10, 6);
  row[4] = __shfl_down_sync(kFull, lane * 10, 3, 8);
  row[5] = int(__ballot_sync(kFull, lane % 3 == 0));
  row[6] = __any_sync(kFull, lane == 31) + 2 * __all_sync(kFull, lane < 31);
  row[7] = __popc(active);
}

TEST(CudaEmu, WarpIntrinsicsFollowTheCudaDefinitions) {
  Device<int> out(32 * 8, -1);
  launch<warp_intrinsics>({1, 32}, out.get());
  ASSERT_EQ(launch_result(), "");
  const std::vector<int> r = out.download();
  unsigned ballot = 0;
  for (int lane = 0; lane < 32; lane += 3) ballot |= 1u << lane;
  for (int lane = 0; lane < 32; ++lane) {
    const int* row = r.data() + lane * 8;
    EXPECT_EQ(row[0], 50) << lane;
    EXPECT_EQ(row[1], lane >= 3 ? (lane - 3) * 10 : lane * 10) << lane;
    EXPECT_EQ(row[2], lane + 3 < 32 ? (lane + 3) * 10 : lane * 10) << lane;
    EXPECT_EQ(row[3], (lane ^ 6) * 10) << lane;
    EXPECT_EQ(row[4], lane % 8 + 3 < 8 ? (lane + 3) * 10 : lane * 10) << lane;
    EXPECT_EQ(unsigned(row[5]), ballot) << lane;
    EXPECT_EQ(row[6], 1) << lane;  // any: yes; all: no
    EXPECT_EQ(row[7], 32) << lane;
  }
}

__global__ void barrier_reductions(int* out) {
  const int t = int(threadIdx.x);
  const int count = __syncthreads_count(t % 4 == 0);
  const int any = __syncthreads_or(t == 77);
  const int all = __syncthreads_and(t < 1000);
  if (t == 0) out[0] = count, out[1] = any, out[2] = all;
}

TEST(CudaEmu, BarrierReductions) {
  Device<int> out(3, -1);
  launch<barrier_reductions>({1, 96}, out.get());
  ASSERT_EQ(launch_result(), "");
  EXPECT_EQ(out.download(), (std::vector<int>{24, 1, 1}));
}

// Threads exit early; the others still meet at the barrier (exited threads do not hold it up).
__global__ void barrier_after_early_exit(int* out) {
  if (threadIdx.x >= 40) return;
  DSA_SHARED(int[40], values);
  values[threadIdx.x] = int(threadIdx.x);
  __syncthreads();
  out[threadIdx.x] = values[39 - threadIdx.x];
}

TEST(CudaEmu, ExitedThreadsDoNotHoldABarrier) {
  Device<int> out(40, -1);
  launch<barrier_after_early_exit>({1, 64}, out.get());
  ASSERT_EQ(launch_result(), "");
  const std::vector<int> r = out.download();
  for (int t = 0; t < 40; ++t) EXPECT_EQ(r[t], 39 - t);
}

// Threads 0..47 wait at a barrier while lanes 16..31 of warp 1 wait in a shuffle that names lanes
// 0..15 of their warp, which are at the barrier: neither can complete.
__global__ void divergent_barrier(int* out) {
  if (threadIdx.x < 48) {
    __syncthreads();
  } else {
    out[threadIdx.x] = __shfl_xor_sync(kFull, 1, 1);
  }
}

__global__ void lane_missing_from_its_mask(int* out) {
  out[threadIdx.x] = __shfl_xor_sync(0x0000fffeu, 1, 1);  // lane 0 is not in the mask it passes
}

__global__ void read_beyond_the_block(int* out) {
  __syncwarp();  // the full mask names lanes 16..31, which a 16-thread block does not have: legal
  out[threadIdx.x] = __shfl_xor_sync(kFull, 1, 16);  // reading one is not
}

TEST(CudaEmu, ReportsDeadlocksAndMaskMisuse) {
  Device<int> out(64, 0);
  launch<divergent_barrier>({1, 64}, out.get());
  std::string bug = launch_result();
  EXPECT_TRUE(contains(bug, "divergent_barrier")) << bug;
  EXPECT_TRUE(contains(bug, "deadlock")) << bug;
  EXPECT_TRUE(contains(bug, "48 of 64 live threads wait in __syncthreads")) << bug;
  EXPECT_TRUE(contains(bug, "Warp 1: lanes 16-31 wait in __shfl_xor_sync(mask 0xffffffff) for lanes 0-15, of which "
                            "lanes 0-15 wait in __syncthreads")) << bug;

  launch<lane_missing_from_its_mask>({1, 32}, out.get());
  bug = launch_result();
  EXPECT_TRUE(contains(bug, "lane_missing_from_its_mask")) << bug;
  EXPECT_TRUE(contains(bug, "does not name the calling lane 0")) << bug;

  launch<read_beyond_the_block>({1, 16}, out.get());
  bug = launch_result();
  EXPECT_TRUE(contains(bug, "read_beyond_the_block")) << bug;
  EXPECT_TRUE(contains(bug, "reads lane 16, which this block does not have")) << bug;
}

TEST(CudaEmu, ChecksGridLimitsAndStreams) {
  Device<float> x(64, 1.0f);
  launch<scale>({dim3(1, 65536), 32}, x.get(), 64);
  std::string bug = launch_result();
  EXPECT_TRUE(contains(bug, "cudaErrorInvalidConfiguration")) << bug;
  EXPECT_TRUE(contains(bug, "grid (1,65536,1)")) << bug;
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  launch<scale>({1, 64, 0, stream}, x.get(), 64);
  ASSERT_EQ(launch_result(), "");
  ASSERT_EQ(cudaStreamDestroy(stream), cudaSuccess);
  launch<scale>({1, 64, 0, stream}, x.get(), 64);
  bug = launch_result();
  EXPECT_TRUE(contains(bug, "cudaErrorInvalidResourceHandle")) << bug;
  EXPECT_EQ(x.download()[0], 2.0f);
}

// A fresh allocation and every block's shared memory start poisoned: NaN as floats.
__global__ void read_unwritten_shared(float* out) {
  DSA_SHARED(float[32], never_written);
  out[threadIdx.x] = never_written[threadIdx.x];
}

TEST(CudaEmu, FreshMemoryIsPoisoned) {
  float* raw = nullptr;
  ASSERT_EQ(cudaMalloc(&raw, 32 * sizeof(float)), cudaSuccess);
  std::vector<float> host(32, 0.0f);
  ASSERT_EQ(cudaMemcpy(host.data(), raw, 32 * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
  for (float v : host) EXPECT_TRUE(std::isnan(v));
  launch<read_unwritten_shared>({1, 32}, raw);
  ASSERT_EQ(launch_result(), "");
  ASSERT_EQ(cudaMemcpy(host.data(), raw, 32 * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
  for (float v : host) EXPECT_TRUE(std::isnan(v));
  ASSERT_EQ(cudaFree(raw), cudaSuccess);
  EXPECT_EQ(cudaFree(raw), cudaErrorInvalidValue) << "a second free is an error";
  cudaGetLastError();
}

TEST(CudaEmu, CopiesCheckTheirKindAgainstWhereThePointersLive) {
  Device<float> device(16, 0.0f);
  std::vector<float> host(16, 3.0f);
  EXPECT_EQ(cudaMemcpy(host.data(), device.get(), 64, cudaMemcpyHostToDevice), cudaErrorInvalidValue);
  EXPECT_TRUE(contains(cudaGetErrorString(cudaErrorInvalidValue), "is not in a live device allocation"));
  EXPECT_EQ(cudaMemcpy(device.get(), host.data(), 68, cudaMemcpyHostToDevice), cudaErrorInvalidValue);
  EXPECT_TRUE(contains(cudaGetErrorString(cudaErrorInvalidValue), "run past the end of allocation"));
  EXPECT_EQ(cudaMemcpy(device.get(), host.data(), 64, cudaMemcpyDeviceToDevice), cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemcpy(device.get(), host.data(), 64, cudaMemcpyDefault), cudaSuccess);
  EXPECT_EQ(device.download(), host);
  EXPECT_EQ(cudaMemset(device.get() + 8, 0, 64), cudaErrorInvalidValue);
  cudaGetLastError();
}

TEST(CudaEmu, CublasSgemmIsColumnMajor) {
  // C (2 x 3) = A (2 x 4) B (4 x 3), column-major; then C^T = B^T A^T through the transposes.
  const std::vector<float> a{1, 2, 3, 4, 5, 6, 7, 8}, b{1, 0, 2, 1, 3, 1, 0, 2, 1, 1, 1, 1};
  Device<float> da(a), db(b), dc(6, NAN);
  cublasHandle_t handle = nullptr;
  ASSERT_EQ(cublasCreate(&handle), CUBLAS_STATUS_SUCCESS);
  const float one = 1.0f, zero = 0.0f;
  ASSERT_EQ(cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, 2, 3, 4, &one, da.get(), 2, db.get(), 4, &zero, dc.get(), 2),
            CUBLAS_STATUS_SUCCESS);
  std::vector<float> expected(6, 0.0f);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) expected[j * 2 + i] += a[k * 2 + i] * b[j * 4 + k];
  EXPECT_EQ(dc.download(), expected) << "beta = 0 must not read the NaN in C";
  Device<float> dct(6, 0.0f);
  ASSERT_EQ(cublasSgemm(handle, CUBLAS_OP_T, CUBLAS_OP_T, 3, 2, 4, &one, db.get(), 4, da.get(), 2, &zero, dct.get(), 3),
            CUBLAS_STATUS_SUCCESS);
  const std::vector<float> ct = dct.download();
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) EXPECT_EQ(ct[i * 3 + j], expected[j * 2 + i]);
  EXPECT_EQ(cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, 2, 3, 4, &one, da.get(), 1, db.get(), 4, &zero, dc.get(), 2),
            CUBLAS_STATUS_INVALID_VALUE)
      << "lda 1 < m 2";
  std::vector<float> host_b(b);
  EXPECT_EQ(cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, 2, 3, 4, &one, da.get(), 2, host_b.data(), 4, &zero,
                        dc.get(), 2),
            CUBLAS_STATUS_EXECUTION_FAILED)
      << "a host operand would fault on a GPU";
  cudaGetLastError();
  cublasDestroy(handle);
}

TEST(CudaEmu, CubRadixSortIsStableOverTheRequestedBits) {
  // Keys sorted by bits [4, 8) only: equal digits keep their input order.
  const std::vector<uint32_t> keys{0x31, 0x12, 0x2f, 0x10, 0x35, 0x01};
  const std::vector<int32_t> values{0, 1, 2, 3, 4, 5};
  Device<uint32_t> keys_in(keys), keys_out(keys.size(), 0);
  Device<int32_t> values_in(values), values_out(values.size(), 0);
  size_t temp_bytes = 0;
  ASSERT_EQ(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, keys_in.get(), keys_out.get(), values_in.get(),
                                            values_out.get(), int(keys.size()), 4, 8),
            cudaSuccess);
  Device<char> temp(temp_bytes, 0);
  size_t short_bytes = temp_bytes - 1;
  EXPECT_EQ(cub::DeviceRadixSort::SortPairs(temp.get(), short_bytes, keys_in.get(), keys_out.get(), values_in.get(),
                                            values_out.get(), int(keys.size()), 4, 8),
            cudaErrorInvalidValue);
  ASSERT_EQ(cub::DeviceRadixSort::SortPairs(temp.get(), temp_bytes, keys_in.get(), keys_out.get(), values_in.get(),
                                            values_out.get(), int(keys.size()), 4, 8),
            cudaSuccess);
  EXPECT_EQ(values_out.download(), (std::vector<int32_t>{5, 1, 3, 2, 0, 4}));
  EXPECT_EQ(keys_out.download(), (std::vector<uint32_t>{0x01, 0x12, 0x10, 0x2f, 0x31, 0x35}));
  cudaGetLastError();
}

// ---- what a review of the emulator found (each once wrong, each a regression test now) --------------

// An overrun into the tail of a multi-page allocation whose first page the launch never wrote: the
// repair of the slacks must wait until the write tracking is over (it used to kill the process).
__global__ void write_one_past(float* x, int n) {
  if (threadIdx.x == 0) x[n] = 1.0f;
}

TEST(CudaEmu, AnOverrunOfAMultiPageAllocationIsReportedAndRepaired) {
  Device<float> x(3000, 0.0f);  // 12000 bytes over three pages, 256 bytes of front slack
  launch<write_one_past>({1, 32}, x.get(), 3000);
  EXPECT_TRUE(contains(launch_result(), "bytes 0..3 after the end"));
  launch<write_one_past>({1, 32}, x.get(), 2999);
  EXPECT_EQ(launch_result(), "") << "the slack was repaired";
  EXPECT_EQ(x.download()[2999], 1.0f);
}

// One write per page over more pages than the tracking opens one by one: the allocation is then
// saved and opened whole (opening every page alone ran out of the kernel's mappings).
__global__ void write_every_page(float* x, int pages) {
  const int page = int(blockIdx.x * blockDim.x + threadIdx.x);
  if (page < pages) x[size_t(page) * 1024] = float(page);
}

TEST(CudaEmu, ScatteredWritesOverManyPagesPassTheScheduleCheck) {
  constexpr int kPages = 10000;  // more than the 8192 pages opened one by one
  Device<float> x(size_t(kPages) * 1024, 0.0f);
  launch<write_every_page>({(kPages + 255) / 256, 256}, x.get(), kPages);
  ASSERT_EQ(launch_result(), "");
  const std::vector<float> result = x.download();
  for (int page = 0; page < kPages; page += 997) EXPECT_EQ(result[size_t(page) * 1024], float(page));
}

// Memory reached through a pointer stored in device memory, not through an argument: both runs of
// the schedule check start from the same contents there too.
__global__ void increment_through_a_table(float* const* table, int n) {
  const int i = int(threadIdx.x);
  if (i < n) table[0][i] += 1.0f;
}

TEST(CudaEmu, MemoryReachedThroughDeviceMemoryIsWrittenOnce) {
  Device<float> x(32, 1.0f);
  Device<float*> table(std::vector<float*>{x.get()});
  launch<increment_through_a_table>({1, 32}, table.get(), 32);
  ASSERT_EQ(launch_result(), "");
  EXPECT_EQ(x.download(), std::vector<float>(32, 2.0f));
}

// Writes before a shared array: in front of the dynamic region, and before a static variable (into
// the red zone and padding after the one before it).
__global__ void write_before_dynamic_shared(float* out) {
  DSA_DYNAMIC_SHARED(float, staged);
  if (threadIdx.x == 0) staged[-1] = 1.0f;  // BUG
  out[threadIdx.x] = 0.0f;
}

__global__ void write_before_static_shared(float* out) {
  DSA_SHARED(float[5], first);
  DSA_SHARED(float[32], second);
  first[threadIdx.x % 5] = 1.0f;
  if (threadIdx.x == 0) second[int(threadIdx.x) - 1] = 1.0f;  // BUG: second[-1]
  out[threadIdx.x] = first[0];
}

TEST(CudaEmu, ReportsWritesBeforeASharedArray) {
  Device<float> out(32, 0.0f);
  launch<write_before_dynamic_shared>({1, 32, 128}, out.get());
  std::string bug = launch_result();
  EXPECT_TRUE(contains(bug, "before the start of the dynamic shared memory (128 bytes)")) << bug;
  launch<write_before_static_shared>({1, 32}, out.get());
  bug = launch_result();
  EXPECT_TRUE(contains(bug, "past the end of 'first' (20 bytes) were written")) << bug;
}

// Shuffle offsets use their low five bits, as PTX's shfl.sync does.
__global__ void shuffle_wide_offsets(int* out) {
  const int lane = int(threadIdx.x);
  out[lane] = __shfl_up_sync(kFull, lane, 33u);            // = up by 1
  out[32 + lane] = __shfl_xor_sync(kFull, lane, 32 + 5);   // = xor 5
}

TEST(CudaEmu, ShuffleOffsetsUseTheirLowFiveBits) {
  Device<int> out(64, -1);
  launch<shuffle_wide_offsets>({1, 32}, out.get());
  ASSERT_EQ(launch_result(), "");
  const std::vector<int> r = out.download();
  for (int lane = 0; lane < 32; ++lane) {
    EXPECT_EQ(r[lane], lane >= 1 ? lane - 1 : lane) << lane;
    EXPECT_EQ(r[32 + lane], lane ^ 5) << lane;
  }
}

// The opt-in: with the attribute set, static + dynamic may pass 48 KiB (here 10 + 40 KiB), as long
// as static + the attribute stays within 227 KiB — checked once the static size is known.
__global__ void static_and_dynamic(float* out, int count) {
  DSA_SHARED(float[2560], fixed);  // 10 KiB
  DSA_DYNAMIC_SHARED(float, staged);
  fixed[threadIdx.x] = 1.0f;
  for (int i = int(threadIdx.x); i < count; i += int(blockDim.x)) staged[i] = 2.0f;
  __syncthreads();
  if (threadIdx.x == 0) *out = fixed[0] + staged[count - 1];
}

__global__ void static_then_too_much_dynamic(float* out) {
  DSA_SHARED(float[1024], fixed);  // 4 KiB
  fixed[threadIdx.x] = 1.0f;
  out[threadIdx.x] = fixed[threadIdx.x];
}

TEST(CudaEmu, TheDynamicSharedMemoryOptInFollowsTheRuntime) {
  Device<float> out(32, 0.0f);
  constexpr int kCount = 10240;  // 40 KiB
  ASSERT_EQ(cudaFuncSetAttribute(static_and_dynamic, cudaFuncAttributeMaxDynamicSharedMemorySize, kCount * 4),
            cudaSuccess);
  launch<static_and_dynamic>({1, 256, kCount * sizeof(float)}, out.get(), kCount);
  ASSERT_EQ(launch_result(), "");
  EXPECT_EQ(out.download()[0], 3.0f);
  // 227 KiB of dynamic memory on top of 4 KiB of static: refused once the static size is known.
  ASSERT_EQ(cudaFuncSetAttribute(static_then_too_much_dynamic, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                 227 * 1024),
            cudaSuccess);
  launch<static_then_too_much_dynamic>({1, 32}, out.get());
  const std::string bug = launch_result();
  EXPECT_TRUE(contains(bug, "cudaFuncSetAttribute(MaxDynamicSharedMemorySize, 232448) with 4096 bytes of static"))
      << bug;
}

TEST(CudaEmu, CopiesNearAnAllocationAreDeviceMemoryOutOfBounds) {
  Device<float> device(64, 0.0f);
  std::vector<float> host(16, 1.0f);
  EXPECT_EQ(cudaMemcpy(device.get() + 64, host.data(), 64, cudaMemcpyDefault), cudaErrorInvalidValue);
  EXPECT_TRUE(contains(cudaGetErrorString(cudaErrorInvalidValue), "run past the end of allocation"));
  EXPECT_EQ(cudaMemcpy(device.get() + 80, host.data(), 64, cudaMemcpyDefault), cudaErrorInvalidValue);
  EXPECT_TRUE(contains(cudaGetErrorString(cudaErrorInvalidValue), "in its guard zone"));
  EXPECT_EQ(cudaMemcpy(nullptr, host.data(), 64, cudaMemcpyDefault), cudaErrorInvalidValue);
  cudaGetLastError();
  launch<scale>({1, 64}, device.get(), 64);
  EXPECT_EQ(launch_result(), "") << "no slack was written by the refused copies";
}

TEST(CudaEmu, CubRefusesTemporaryStorageOverlappingTheOutput) {
  const std::vector<uint32_t> keys{3, 1, 2, 0};
  Device<uint32_t> keys_in(keys);
  Device<int32_t> values_in(std::vector<int32_t>{0, 1, 2, 3}), values_out(4, 0);
  size_t temp_bytes = 0;
  ASSERT_EQ(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, keys_in.get(), keys_in.get(), values_in.get(),
                                            values_out.get(), 4),
            cudaSuccess);
  Device<char> temp(temp_bytes, 0);
  auto* keys_out_in_temp = reinterpret_cast<uint32_t*>(temp.get() + temp_bytes / 2);  // inside the temp storage
  EXPECT_EQ(cub::DeviceRadixSort::SortPairs(temp.get(), temp_bytes, keys_in.get(), keys_out_in_temp, values_in.get(),
                                            values_out.get(), 4),
            cudaErrorInvalidValue);
  EXPECT_TRUE(contains(cudaGetErrorString(cudaErrorInvalidValue), "temporary storage overlaps"));
  cudaGetLastError();
}

// CUDA's float min/max are fminf/fmaxf (a NaN operand gives the other) and __saturatef(NaN) is 0.
__global__ void nan_math(float* out) {
  const float nan = __int_as_float(0x7fc00000);
  out[0] = max(nan, 1.0f);
  out[1] = max(1.0f, nan);
  out[2] = min(nan, -1.0f);
  out[3] = __saturatef(nan);
}

TEST(CudaEmu, FloatMinMaxAndSaturateHandleNanAsCuda) {
  Device<float> out(4, 0.0f);
  launch<nan_math>({1, 1}, out.get());
  ASSERT_EQ(launch_result(), "");
  EXPECT_EQ(out.download(), (std::vector<float>{1.0f, 1.0f, -1.0f, 0.0f}));
}

// A __launch_bounds__ the build script cannot read fails the build instead of going unchecked.
TEST(CudaEmu, ALaunchBoundsTheScriptCannotReadFailsTheBuild) {
  const std::string dir = ::testing::TempDir();
  const std::string source = dir + "/odd_bounds.cu", output = dir + "/odd_bounds.inc", log = dir + "/odd_bounds.log";
  std::FILE* file = std::fopen(source.c_str(), "w");
  ASSERT_NE(file, nullptr);
  std::fputs("namespace dsa::DSA_CUDA_TWIN {\n__global__ __launch_bounds__(128) void odd_kernel(float* x) {}\n}\n",
             file);
  std::fclose(file);
  const std::string command = "cmake -DSOURCE=" + source + " -DOUTPUT=" + output + " -P " + DSA_SOURCE_DIR +
                              "/cuda/emu/launch_bounds.cmake > " + log + " 2>&1";
  EXPECT_NE(std::system(command.c_str()), 0);
  std::FILE* report = std::fopen(log.c_str(), "r");
  ASSERT_NE(report, nullptr);
  char text[2048] = {};
  const size_t n = std::fread(text, 1, sizeof text - 1, report);
  std::fclose(report);
  EXPECT_TRUE(contains(std::string(text, n), "1 __launch_bounds__ but 0 of the form")) << text;
}

// Every launch runs twice (forward and reverse order) unless DSA_EMU_SCHEDULE says otherwise; a
// kernel with a race passes a single-order run, which is why the check exists.
TEST(CudaEmu, OneOrderAloneMissesWhatBothOrdersCatch) {
  ASSERT_EQ(emu::schedule(), emu::Schedule::both) << "the CUDA suites run with DSA_EMU_SCHEDULE unset (both)";
  Device<int> marks(16, 0), seen(16, 0), fresh_marks(16, 0);
  emu::set_schedule(emu::Schedule::forward);
  launch<read_the_next_block>({16, 32}, marks.get(), seen.get());
  EXPECT_EQ(launch_result(), "");
  emu::set_schedule(emu::Schedule::both);
  launch<read_the_next_block>({16, 32}, fresh_marks.get(), seen.get());
  EXPECT_TRUE(contains(launch_result(), "depends on the schedule"));
}

}  // namespace
}  // namespace dsa::DSA_CUDA_TWIN

// The launch bounds of the kernels above, read from this file by the build (a C++ compiler does
// not see __launch_bounds__; cuda/emu/launch_bounds.cmake).
#include "test_cuda_emu.launch_bounds.inc"
