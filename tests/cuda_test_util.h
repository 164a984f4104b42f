// Helpers for CUDA-vs-CPU tests (docs/kernels.md §K1): device buffers through the CUDA twin's own memory
// ops (no CUDA headers here), NaN poisoning (the relative-error metric is test_util.h's). The twin
// runs on the GPU when there is one, else on the emulated device (cuda_backend.h): these tests
// never skip for lack of a GPU. Each test program says once which device it ran on.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <vector>

#include "cuda_backend.h"
#include "test_util.h"

namespace dsa::test {

class CudaDeviceEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { std::printf("CUDA twin: %s\n", cuda::description().c_str()); }
};
inline const bool kCudaDeviceAnnounced =
    (::testing::AddGlobalTestEnvironment(new CudaDeviceEnvironment), true);

// A device array of T that starts as a copy of `host` (or `count` NaNs: poisoned output).
template <class T>
class DeviceArray {
 public:
  explicit DeviceArray(const std::vector<T>& host) : DeviceArray(host.size()) { upload(host); }
  explicit DeviceArray(size_t count, T fill = poison())
      : memory_(cuda::backend().memory), ctx_(cuda::backend().make_context()), count_(count) {
    data_ = static_cast<T*>(memory_.allocator.allocate(std::max<size_t>(count, 1) * sizeof(T)));
    if (data_ == nullptr) throw std::runtime_error("DeviceArray: cudaMalloc failed");
    upload(std::vector<T>(count, fill));
  }
  ~DeviceArray() { memory_.allocator.release(data_); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;

  void upload(const std::vector<T>& host) { memory_.to_device(ctx_, data_, host.data(), count_ * sizeof(T)); }
  std::vector<T> download() const {
    std::vector<T> host(count_);
    memory_.to_host(ctx_, host.data(), data_, count_ * sizeof(T));
    return host;
  }
  T* get() const { return data_; }

  static T poison() {
    if constexpr (std::is_floating_point_v<T>) return std::numeric_limits<T>::quiet_NaN();
    else return T(-12345);
  }

 private:
  ops::MemoryOps memory_;
  ops::Context ctx_;
  size_t count_;
  T* data_ = nullptr;
};

// The CUDA twin's context with `bytes` of device workspace.
struct GpuContext {
  explicit GpuContext(size_t bytes = 0) : workspace(bytes / sizeof(float) + 1, 0.0f) {
    ctx = cuda::backend().make_context();
    ctx.workspace = workspace.get();
    ctx.workspace_bytes = bytes;
  }
  DeviceArray<float> workspace;
  ops::Context ctx;
};

}  // namespace dsa::test
