// The emulated CUDA runtime API (runtime.h).
#include "runtime.h"

#include <chrono>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <set>
#include <sstream>
#include <string>

#include "config.h"
#include "core/error.h"
#include "memory.h"

namespace dsa::emu {

struct Stream {
  unsigned flags = 0;
};

struct Event {
  bool recorded = false;
  std::chrono::steady_clock::time_point time;
};

namespace {

// Live handles of one kind: what the create call returned and no destroy has taken back.
template <class T>
class Handles {
 public:
  T* create(T value) {
    std::lock_guard<std::mutex> lock(mutex_);
    T* handle = new T(value);
    live_.insert(handle);
    return handle;
  }
  bool destroy(T* handle) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (handle == nullptr || live_.erase(handle) == 0) return false;
    delete handle;
    return true;
  }
  bool live(const T* handle) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return live_.count(handle) != 0;
  }

 private:
  mutable std::mutex mutex_;
  std::set<const T*> live_;
};

Handles<Stream>& streams() {
  static Handles<Stream> handles;
  return handles;
}
Handles<Event>& events() {
  static Handles<Event> handles;
  return handles;
}

const char* kind_name(cudaMemcpyKind kind) {
  switch (kind) {
    case cudaMemcpyHostToHost: return "HostToHost";
    case cudaMemcpyHostToDevice: return "HostToDevice";
    case cudaMemcpyDeviceToHost: return "DeviceToHost";
    case cudaMemcpyDeviceToDevice: return "DeviceToDevice";
    case cudaMemcpyDefault: return "Default";
  }
  return "an unknown kind";
}

// Why [pointer, pointer + bytes) is not device memory a copy may touch; empty when it is.
std::string device_range_problem(const void* pointer, size_t bytes) {
  const memory::Allocation* allocation = memory::find(pointer);
  if (allocation == nullptr && memory::find_mapping(pointer) != nullptr)
    return cat(pointer, " is outside allocation #", memory::find_mapping(pointer)->serial, " (",
               memory::find_mapping(pointer)->bytes, " bytes), in its guard zone");
  if (allocation == nullptr) return cat(pointer, " is not in a live device allocation");
  const size_t offset = size_t(static_cast<const std::byte*>(pointer) - allocation->data);
  if (offset + bytes > allocation->bytes)
    return cat(bytes, " bytes at offset ", offset, " run past the end of allocation #", allocation->serial, " (",
               allocation->bytes, " bytes)");
  return {};
}

// Device memory as far as copies go: anywhere in an allocation's mapping (guard zones included).
bool is_device(const void* pointer) { return memory::find_mapping(pointer) != nullptr; }

cudaError_t copy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, const char* api) {
  if (bytes == 0) return cudaSuccess;
  if (kind < cudaMemcpyHostToHost || kind > cudaMemcpyDefault)
    return record_error(cudaErrorInvalidMemcpyDirection, cat(api, ": copy kind ", int(kind), " is not a cudaMemcpyKind"));
  if (dst == nullptr || src == nullptr)
    return record_error(cudaErrorInvalidValue, cat(api, "(", kind_name(kind), ", ", bytes, " bytes): a null ",
                                                   dst == nullptr ? "destination" : "source"));
  const bool dst_device = kind == cudaMemcpyDefault ? is_device(dst)
                                                    : kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  const bool src_device = kind == cudaMemcpyDefault ? is_device(src)
                                                    : kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  const auto check = [&](const void* pointer, bool device, const char* role) -> std::string {
    if (device) {
      const std::string problem = device_range_problem(pointer, bytes);
      return problem.empty() ? problem : cat("the ", role, " is device memory by the kind, but ", problem);
    }
    if (is_device(pointer))
      return cat("the ", role, " ", pointer, " is device memory, but the kind says host memory");
    return {};
  };
  std::string problem = check(dst, dst_device, "destination");
  if (problem.empty()) problem = check(src, src_device, "source");
  if (!problem.empty())
    return record_error(cudaErrorInvalidValue, cat(api, "(", kind_name(kind), ", ", bytes, " bytes): ", problem));
  std::memmove(dst, src, bytes);
  return cudaSuccess;
}

cudaError_t fill(void* dst, int value, size_t bytes, const char* api) {
  if (bytes == 0) return cudaSuccess;
  if (dst == nullptr) return record_error(cudaErrorInvalidValue, cat(api, " of ", bytes, " bytes: a null destination"));
  const std::string problem = device_range_problem(dst, bytes);
  if (!problem.empty()) return record_error(cudaErrorInvalidValue, cat(api, " of ", bytes, " bytes: ", problem));
  std::memset(dst, value, bytes);
  return cudaSuccess;
}

cudaError_t check_stream(cudaStream_t stream, const char* api) {
  if (stream_is_valid(stream)) return cudaSuccess;
  return record_error(cudaErrorInvalidResourceHandle, cat(api, ": the stream is not a live stream"));
}

}  // namespace

bool stream_is_valid(cudaStream_t stream) { return stream == nullptr || streams().live(stream); }

// ---- device ---------------------------------------------------------------------------------------------------

cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}

cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
  if (device == 0) return cudaSuccess;
  return record_error(cudaErrorInvalidDevice, cat("cudaSetDevice(", device, "): the emulator has device 0 only"));
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (device != 0) return record_error(cudaErrorInvalidDevice, cat("cudaGetDeviceProperties(", device, ")"));
  *prop = cudaDeviceProp{};
  std::strncpy(prop->name, config::kDeviceName, sizeof(prop->name) - 1);
  prop->totalGlobalMem = config::kTotalGlobalMem;
  prop->sharedMemPerBlock = config::kDefaultSharedPerBlock;
  prop->sharedMemPerBlockOptin = config::kOptinSharedPerBlock;
  prop->sharedMemPerMultiprocessor = config::kSharedPerMultiProcessor;
  prop->regsPerBlock = config::kRegistersPerBlock;
  prop->warpSize = config::kWarpSize;
  prop->maxThreadsPerBlock = config::kMaxThreadsPerBlock;
  for (int i = 0; i < 3; ++i) {
    prop->maxThreadsDim[i] = config::kMaxBlockDim[i];
    prop->maxGridSize[i] = int(config::kMaxGridDim[i]);
  }
  prop->clockRate = config::kClockRateKhz;
  prop->major = config::kComputeMajor;
  prop->minor = config::kComputeMinor;
  prop->multiProcessorCount = config::kMultiProcessors;
  prop->maxThreadsPerMultiProcessor = config::kMaxThreadsPerMultiProcessor;
  prop->memoryBusWidth = config::kMemoryBusWidthBits;
  prop->l2CacheSize = int(config::kL2CacheBytes);
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attribute, int device) {
  if (device != 0) return record_error(cudaErrorInvalidDevice, cat("cudaDeviceGetAttribute on device ", device));
  switch (attribute) {
    case cudaDevAttrMaxThreadsPerBlock: *value = config::kMaxThreadsPerBlock; break;
    case cudaDevAttrMaxBlockDimX: *value = config::kMaxBlockDim[0]; break;
    case cudaDevAttrMaxBlockDimY: *value = config::kMaxBlockDim[1]; break;
    case cudaDevAttrMaxBlockDimZ: *value = config::kMaxBlockDim[2]; break;
    case cudaDevAttrMaxGridDimX: *value = int(config::kMaxGridDim[0]); break;
    case cudaDevAttrMaxGridDimY: *value = int(config::kMaxGridDim[1]); break;
    case cudaDevAttrMaxGridDimZ: *value = int(config::kMaxGridDim[2]); break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = int(config::kDefaultSharedPerBlock); break;
    case cudaDevAttrWarpSize: *value = config::kWarpSize; break;
    case cudaDevAttrMultiProcessorCount: *value = config::kMultiProcessors; break;
    case cudaDevAttrComputeCapabilityMajor: *value = config::kComputeMajor; break;
    case cudaDevAttrComputeCapabilityMinor: *value = config::kComputeMinor; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = int(config::kOptinSharedPerBlock); break;
    default: return record_error(cudaErrorInvalidValue, cat("cudaDeviceGetAttribute: attribute ", int(attribute),
                                                            " is not emulated"));
  }
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }  // every call has completed already

// ---- memory ------------------------------------------------------------------------------------------------------

cudaError_t cudaMalloc(void** pointer, size_t bytes) {
  *pointer = nullptr;
  if (bytes == 0) return cudaSuccess;  // as the runtime: success, and a null pointer
  if (bytes > config::kTotalGlobalMem)
    return record_error(cudaErrorMemoryAllocation, cat("cudaMalloc of ", bytes, " bytes: more than the device's ",
                                                       config::kTotalGlobalMem));
  *pointer = memory::allocate(bytes);
  if (*pointer == nullptr)
    return record_error(cudaErrorMemoryAllocation, cat("cudaMalloc of ", bytes, " bytes: the host could not map them"));
  return cudaSuccess;
}

cudaError_t cudaFree(void* pointer) {
  if (pointer == nullptr || memory::release(pointer)) return cudaSuccess;
  return record_error(cudaErrorInvalidValue,
                      cat("cudaFree(", pointer, "): not the start of a live device allocation (freed twice, or "
                                            "never returned by cudaMalloc)"));
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  return copy(dst, src, bytes, kind, "cudaMemcpy");
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream) {
  if (const cudaError_t bad = check_stream(stream, "cudaMemcpyAsync"); bad != cudaSuccess) return bad;
  return copy(dst, src, bytes, kind, "cudaMemcpyAsync");
}

cudaError_t cudaMemset(void* dst, int value, size_t bytes) { return fill(dst, value, bytes, "cudaMemset"); }

cudaError_t cudaMemsetAsync(void* dst, int value, size_t bytes, cudaStream_t stream) {
  if (const cudaError_t bad = check_stream(stream, "cudaMemsetAsync"); bad != cudaSuccess) return bad;
  return fill(dst, value, bytes, "cudaMemsetAsync");
}

// ---- streams and events ----------------------------------------------------------------------------------------------

cudaError_t cudaStreamCreate(cudaStream_t* stream) { return cudaStreamCreateWithFlags(stream, cudaStreamDefault); }

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags) {
  *stream = streams().create(Stream{flags});
  return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  if (streams().destroy(stream)) return cudaSuccess;
  return record_error(cudaErrorInvalidResourceHandle, "cudaStreamDestroy: not a live stream");
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) { return check_stream(stream, "cudaStreamSynchronize"); }

cudaError_t cudaEventCreate(cudaEvent_t* event) {
  *event = events().create(Event{});
  return cudaSuccess;
}

cudaError_t cudaEventDestroy(cudaEvent_t event) {
  if (events().destroy(event)) return cudaSuccess;
  return record_error(cudaErrorInvalidResourceHandle, "cudaEventDestroy: not a live event");
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  if (const cudaError_t bad = check_stream(stream, "cudaEventRecord"); bad != cudaSuccess) return bad;
  if (!events().live(event)) return record_error(cudaErrorInvalidResourceHandle, "cudaEventRecord: not a live event");
  event->recorded = true;
  event->time = std::chrono::steady_clock::now();
  return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  if (events().live(event)) return cudaSuccess;
  return record_error(cudaErrorInvalidResourceHandle, "cudaEventSynchronize: not a live event");
}

cudaError_t cudaEventElapsedTime(float* milliseconds, cudaEvent_t start, cudaEvent_t end) {
  if (!events().live(start) || !events().live(end))
    return record_error(cudaErrorInvalidResourceHandle, "cudaEventElapsedTime: not a live event");
  if (!start->recorded || !end->recorded)
    return record_error(cudaErrorInvalidResourceHandle, "cudaEventElapsedTime: an event was never recorded");
  *milliseconds = std::chrono::duration<float, std::milli>(end->time - start->time).count();
  return cudaSuccess;
}

}  // namespace dsa::emu
