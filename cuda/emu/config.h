// The emulated device's constants, each with its reason: the H100 stand-in's limits (the launch
// checks are as strict as the hardware's), the poison and guard patterns, and the fiber stacks.
#pragma once
#include <cstddef>
#include <cstdint>

namespace dsa::emu::config {

// ---- the device: an H100 SXM stand-in (sm_90), the machine tools/gpu_check.sh runs on ----------
inline constexpr const char* kDeviceName = "dsatrain emulated GPU (H100 stand-in on the CPU, cuda/emu)";
inline constexpr int kComputeMajor = 9, kComputeMinor = 0;
inline constexpr int kMultiProcessors = 132;
inline constexpr int kWarpSize = 32;
inline constexpr int kMaxThreadsPerBlock = 1024;
inline constexpr int kMaxBlockDim[3] = {1024, 1024, 64};
inline constexpr int64_t kMaxGridDim[3] = {2147483647, 65535, 65535};
inline constexpr int kMaxThreadsPerMultiProcessor = 2048;
inline constexpr size_t kTotalGlobalMem = size_t(80) << 30;       // 80 GiB HBM3 (reported only)
// Shared memory per block: 48 KiB static + dynamic by default; a kernel may raise its dynamic
// limit with cudaFuncSetAttribute(MaxDynamicSharedMemorySize) up to 227 KiB (the opt-in limit).
inline constexpr size_t kDefaultSharedPerBlock = 48 * 1024;
inline constexpr size_t kOptinSharedPerBlock = 227 * 1024;
inline constexpr size_t kSharedPerMultiProcessor = 228 * 1024;
inline constexpr int kRegistersPerBlock = 65536;
inline constexpr size_t kL2CacheBytes = 50u << 20;
inline constexpr int kMemoryBusWidthBits = 5120;
inline constexpr int kClockRateKhz = 1980000;
// cudaMalloc returns 256-byte aligned pointers (the CUDA programming guide's guarantee).
inline constexpr size_t kAllocationAlignment = 256;

// ---- poison and guards ---------------------------------------------------------------------------
// Fresh device allocations and every block's shared memory start filled with this 32-bit pattern:
// as a float it is a NaN, as an int32 a large negative number that is neither a key nor the -1
// list padding, so a read of memory nobody wrote shows in the results.
inline constexpr uint32_t kPoisonWord = 0xFFBADBADu;
// The slack bytes around an allocation's data, up to its guard pages, hold this pattern; a
// changed byte after a launch is a write out of bounds.
inline constexpr unsigned char kGuardByte = 0xFD;

// After the dynamic region and after every static variable of a block's shared memory: bytes that
// nothing may write (filled with kGuardByte at every block start, checked at its end). A write up
// to this far past a shared array is reported naming the array.
inline constexpr size_t kSharedRedZoneBytes = 64;
// Dynamic shared memory starts this far into the arena (128-aligned), after a red zone of that size.
inline constexpr size_t kSharedDynamicOffset = 128;
// The emulated shared-memory arena: the opt-in limit plus room for the red zones and alignment.
inline constexpr size_t kSharedArenaBytes = kOptinSharedPerBlock + 64 * 1024;

// ---- fibers ---------------------------------------------------------------------------------------
// One stack per thread of a block (at most 1024 live at once), with a PROT_NONE page below it. The
// kernels keep small register arrays (attention: a few KiB); 256 KiB leaves room for -O0 builds
// and sanitizers. Stacks are mapped once and reused, so only touched pages cost memory.
inline constexpr size_t kFiberStackBytes = 256 * 1024;

}  // namespace dsa::emu::config
