// The CUDA runtime's plain types as the emulated device defines them: vector types, dim3, error
// codes, copy kinds, attributes, device properties, stream and event handles. Names, members and
// numeric values follow the CUDA runtime API, so the twin's sources compile unchanged; everything
// lives in dsa::emu (cuda/platform.cuh brings it into the emulated twin's namespace), so these
// never meet the toolkit's own definitions of the same names in the hardware twin.
#pragma once
#include <cstddef>
#include <cstdint>

namespace dsa::emu {

// ---- vector types (the alignment is the hardware's: a float4 is one 16-byte access) -------------
struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
  constexpr operator uint3() const { return {x, y, z}; }
};
struct alignas(8) float2 { float x, y; };
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(8) int2 { int x, y; };
struct alignas(16) int4 { int x, y, z, w; };
struct alignas(8) uint2 { unsigned x, y; };
struct alignas(16) uint4 { unsigned x, y, z, w; };
struct alignas(16) double2 { double x, y; };

constexpr float2 make_float2(float x, float y) { return {x, y}; }
constexpr float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
constexpr int2 make_int2(int x, int y) { return {x, y}; }
constexpr int4 make_int4(int x, int y, int z, int w) { return {x, y, z, w}; }
constexpr uint2 make_uint2(unsigned x, unsigned y) { return {x, y}; }
constexpr uint3 make_uint3(unsigned x, unsigned y, unsigned z) { return {x, y, z}; }
constexpr uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }
constexpr double2 make_double2(double x, double y) { return {x, y}; }

// ---- errors: the runtime's codes, names and strings, declared once --------------------------------
#define DSA_EMU_CUDA_ERRORS(X)                                                          \
  X(cudaSuccess, 0, "no error")                                                          \
  X(cudaErrorInvalidValue, 1, "invalid argument")                                        \
  X(cudaErrorMemoryAllocation, 2, "out of memory")                                       \
  X(cudaErrorInitializationError, 3, "initialization error")                             \
  X(cudaErrorInvalidConfiguration, 9, "invalid configuration argument")                  \
  X(cudaErrorInvalidMemcpyDirection, 21, "invalid copy direction for memcpy")            \
  X(cudaErrorInvalidDeviceFunction, 98, "invalid device function")                       \
  X(cudaErrorNoDevice, 100, "no CUDA-capable device is detected")                        \
  X(cudaErrorInvalidDevice, 101, "invalid device ordinal")                               \
  X(cudaErrorInvalidResourceHandle, 400, "invalid resource handle")                      \
  X(cudaErrorNotReady, 600, "device not ready")                                          \
  X(cudaErrorIllegalAddress, 700, "an illegal memory access was encountered")            \
  X(cudaErrorLaunchOutOfResources, 701, "too many resources requested for launch")       \
  X(cudaErrorIllegalInstruction, 715, "an illegal instruction was encountered")          \
  X(cudaErrorLaunchFailure, 719, "unspecified launch failure")                           \
  X(cudaErrorNotSupported, 801, "operation not supported")                               \
  X(cudaErrorUnknown, 999, "unknown error")

#define DSA_EMU_ERROR_ENUMERATOR(name, value, text) name = value,
enum cudaError_t : int { DSA_EMU_CUDA_ERRORS(DSA_EMU_ERROR_ENUMERATOR) };
#undef DSA_EMU_ERROR_ENUMERATOR

enum cudaMemcpyKind : int {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};

enum cudaFuncAttribute : int {
  cudaFuncAttributeMaxDynamicSharedMemorySize = 8,
  cudaFuncAttributePreferredSharedMemoryCarveout = 9,
};

enum cudaDeviceAttr : int {
  cudaDevAttrMaxThreadsPerBlock = 1,
  cudaDevAttrMaxBlockDimX = 2,
  cudaDevAttrMaxBlockDimY = 3,
  cudaDevAttrMaxBlockDimZ = 4,
  cudaDevAttrMaxGridDimX = 5,
  cudaDevAttrMaxGridDimY = 6,
  cudaDevAttrMaxGridDimZ = 7,
  cudaDevAttrMaxSharedMemoryPerBlock = 8,
  cudaDevAttrWarpSize = 10,
  cudaDevAttrMultiProcessorCount = 16,
  cudaDevAttrComputeCapabilityMajor = 75,
  cudaDevAttrComputeCapabilityMinor = 76,
  cudaDevAttrMaxSharedMemoryPerBlockOptin = 97,
};

inline constexpr unsigned cudaStreamDefault = 0x00;
inline constexpr unsigned cudaStreamNonBlocking = 0x01;
inline constexpr unsigned cudaEventDefault = 0x00;

// The subset of cudaDeviceProp the code reads, with the runtime's member names.
struct cudaDeviceProp {
  char name[256];
  size_t totalGlobalMem;
  size_t sharedMemPerBlock;
  size_t sharedMemPerBlockOptin;
  size_t sharedMemPerMultiprocessor;
  int regsPerBlock;
  int warpSize;
  int maxThreadsPerBlock;
  int maxThreadsDim[3];
  int maxGridSize[3];
  int clockRate;
  int major;
  int minor;
  int multiProcessorCount;
  int maxThreadsPerMultiProcessor;
  int memoryBusWidth;
  int l2CacheSize;
};

struct cudaFuncAttributes {
  size_t sharedSizeBytes;         // static shared memory (known once a block has run)
  size_t constSizeBytes;
  size_t localSizeBytes;
  int maxThreadsPerBlock;
  int numRegs;
  int ptxVersion;
  int binaryVersion;
  int maxDynamicSharedSizeBytes;  // the kernel's dynamic limit (cudaFuncSetAttribute)
};

// Streams and events are handles to emulator objects; the null stream is the legacy default.
struct Stream;
struct Event;
using cudaStream_t = Stream*;
using cudaEvent_t = Event*;

}  // namespace dsa::emu
