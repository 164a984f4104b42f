// The CUDA runtime API subset the twin calls, on the emulated device: one device (an H100
// stand-in, config.h), device memory with guards (memory.h), copies whose kind is checked against
// where the pointers live, streams and events that run in order (every call completes before it
// returns), kernel attributes, and the runtime's error codes and strings (status.h).
#pragma once
#include <cstddef>

#include "engine.h"
#include "status.h"
#include "types.h"

namespace dsa::emu {

// Whether `stream` is the null stream or a live stream (the engine checks launches with it).
bool stream_is_valid(cudaStream_t stream);

// ---- device -----------------------------------------------------------------------------------------------
cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaGetDevice(int* device);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device);
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attribute, int device);
cudaError_t cudaDeviceSynchronize();

// ---- memory -----------------------------------------------------------------------------------------------
cudaError_t cudaMalloc(void** pointer, size_t bytes);
template <class T>
cudaError_t cudaMalloc(T** pointer, size_t bytes) {
  return cudaMalloc(reinterpret_cast<void**>(pointer), bytes);
}
cudaError_t cudaFree(void* pointer);
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream = nullptr);
cudaError_t cudaMemset(void* dst, int value, size_t bytes);
cudaError_t cudaMemsetAsync(void* dst, int value, size_t bytes, cudaStream_t stream = nullptr);

// ---- streams and events -------------------------------------------------------------------------------------
cudaError_t cudaStreamCreate(cudaStream_t* stream);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaEventCreate(cudaEvent_t* event);
cudaError_t cudaEventDestroy(cudaEvent_t event);
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream = nullptr);
cudaError_t cudaEventSynchronize(cudaEvent_t event);
// Host time between the two records (what the emulator took, not what a GPU would).
cudaError_t cudaEventElapsedTime(float* milliseconds, cudaEvent_t start, cudaEvent_t end);

// ---- kernels --------------------------------------------------------------------------------------------------
template <class Kernel>
cudaError_t cudaFuncSetAttribute(Kernel* kernel, cudaFuncAttribute attribute, int value) {
  if (attribute == cudaFuncAttributePreferredSharedMemoryCarveout) return cudaSuccess;  // a hint
  if (attribute != cudaFuncAttributeMaxDynamicSharedMemorySize)
    return record_error(cudaErrorInvalidValue, "cudaFuncSetAttribute: unknown attribute");
  return set_max_dynamic_shared(reinterpret_cast<const void*>(kernel), value);
}
template <class Kernel>
cudaError_t cudaFuncGetAttributes(cudaFuncAttributes* attributes, Kernel* kernel) {
  *attributes = kernel_attributes(reinterpret_cast<const void*>(kernel));
  return cudaSuccess;
}

// ---- errors and the profiler --------------------------------------------------------------------------------
inline cudaError_t cudaGetLastError() { return take_last_error(); }
inline cudaError_t cudaPeekAtLastError() { return peek_last_error(); }
inline const char* cudaGetErrorName(cudaError_t code) { return error_name(code); }
inline const char* cudaGetErrorString(cudaError_t code) { return error_string(code); }
inline cudaError_t cudaProfilerStart() { return cudaSuccess; }
inline cudaError_t cudaProfilerStop() { return cudaSuccess; }

}  // namespace dsa::emu
