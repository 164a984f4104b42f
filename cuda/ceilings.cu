// The machine's own limits, measured (METHOD: datasheet rates are leads; a kernel's speed is
// reported as a fraction of these): cuBLAS GEMM rates at 8192^3 in fp32 (TF32 off), TF32 and bf16
// (fp32 accumulate), and the device-to-device copy bandwidth counting bytes read plus written.
// `dsatrain bench --ceilings` prints them; tools/gpu_check.sh puts each kernel next to them.
//
// Everything here has its own stream, cuBLAS handle and buffers (freed on every exit path), so the
// twin's runtime (its handle's math mode above all) is untouched. Inputs are random, never zeros:
// a bf16 product ran 13% faster on zeros than on random data on these machines.

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "check.cuh"
#include "cuda_backend.h"
#include "cuda_ops.h"

namespace dsa::DSA_CUDA_TWIN {

using cuda::Ceilings;
using cuda::DeviceStatus;

namespace {

constexpr int64_t kGemmSize = 8192;            // M = N = K
constexpr size_t kCopyBytes = size_t(2) << 30; // 2 GiB copied: 4 GiB of traffic per copy
constexpr int kWarmup = 3, kTimed = 10;

// Uniform in [-1, 1) from a 32-bit integer hash of (seed, index): cheap, and different per element.
__device__ float hash_uniform(uint64_t index, uint32_t seed) {
  uint32_t h = uint32_t(index) * 0x9E3779B1u ^ uint32_t(index >> 32) * 0x85EBCA77u ^ seed * 0xC2B2AE3Du;
  h ^= h >> 16;
  h *= 0x7FEB352Du;
  h ^= h >> 15;
  h *= 0x846CA68Bu;
  h ^= h >> 16;
  return float(h >> 8) * (2.0f / 16777216.0f) - 1.0f;
}

// x [n], grid-stride.
template <class T>
__global__ void fill_random(T* x, size_t n, uint32_t seed) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    if constexpr (std::is_same_v<T, float>) x[i] = hash_uniform(i, seed);
    else x[i] = __float2bfloat16(hash_uniform(i, seed));
  }
}

// A device buffer that frees itself (the measurements throw on any failed call).
class Buffer {
 public:
  explicit Buffer(size_t bytes, const char* what) {
    DSA_CUDA_CHECK(cudaMalloc(&data_, bytes), "ceilings: ", what, " (", bytes >> 20, " MiB)");
  }
  ~Buffer() { cudaFree(data_); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  template <class T>
  T* as() const { return static_cast<T*>(data_); }

 private:
  void* data_ = nullptr;
};

struct Resources {
  cudaStream_t stream = nullptr;
  cudaEvent_t start = nullptr, stop = nullptr;
  cublasHandle_t blas = nullptr;
  Resources() {
    DSA_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "ceilings stream");
    DSA_CUDA_CHECK(cudaEventCreate(&start), "ceilings event");
    DSA_CUDA_CHECK(cudaEventCreate(&stop), "ceilings event");
    DSA_CUBLAS_CHECK(cublasCreate(&blas), "ceilings cuBLAS handle");
    DSA_CUBLAS_CHECK(cublasSetStream(blas, stream), "ceilings cuBLAS stream");
  }
  ~Resources() {
    if (blas != nullptr) cublasDestroy(blas);
    if (stop != nullptr) cudaEventDestroy(stop);
    if (start != nullptr) cudaEventDestroy(start);
    if (stream != nullptr) cudaStreamDestroy(stream);
  }
};

template <class T>
void fill(const Resources& r, T* x, size_t n, uint32_t seed) {
  launch<fill_random<T>>({1024, 256, 0, r.stream}, x, n, seed);
  DSA_LAUNCH_CHECK("fill_random", n, " elements");
}

// Median milliseconds of `run` over kTimed event-timed repetitions after kWarmup untimed ones.
template <class Run>
double median_ms(const Resources& r, Run&& run, const char* what) {
  for (int i = 0; i < kWarmup; ++i) run();
  DSA_CUDA_CHECK(cudaStreamSynchronize(r.stream), what, " warm-up");
  std::vector<float> ms(kTimed);
  for (float& m : ms) {
    DSA_CUDA_CHECK(cudaEventRecord(r.start, r.stream), what);
    run();
    DSA_CUDA_CHECK(cudaEventRecord(r.stop, r.stream), what);
    DSA_CUDA_CHECK(cudaEventSynchronize(r.stop), what);
    DSA_CUDA_CHECK(cudaEventElapsedTime(&m, r.start, r.stop), what);
  }
  std::sort(ms.begin(), ms.end());
  return 0.5 * (ms[(kTimed - 1) / 2] + ms[kTimed / 2]);
}

// C = A·B, all n×n, column-major (the layout does not change the rate).
double gemm_tflops(const Resources& r, cudaDataType type, cublasComputeType_t compute,
                   cublasMath_t math, const void* a, const void* b, void* c, const char* what) {
  DSA_CUBLAS_CHECK(cublasSetMathMode(r.blas, math), what, " math mode");
  const float alpha = 1.0f, beta = 0.0f;
  const int n = int(kGemmSize);
  const double ms = median_ms(r, [&] {
    DSA_CUBLAS_CHECK(cublasGemmEx(r.blas, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &alpha, a, type, n, b, type, n,
                                  &beta, c, type, n, compute, CUBLAS_GEMM_DEFAULT),
                     what, " ", n, "^3");
  }, what);
  return 2.0 * double(kGemmSize) * double(kGemmSize) * double(kGemmSize) / (ms * 1e-3) / 1e12;
}

}  // namespace

Ceilings measure_ceilings() {
  DSA_CHECK(!kEmulatedDevice, "ceilings: speed is not emulated (the emulated device runs the kernels on the CPU); "
            "measure them on a GPU");
  const DeviceStatus status = device_status();
  DSA_CHECK(status.available, "ceilings: ", status.description);
  Ceilings result;
  result.device = status.description;
  Resources r;
  const size_t elements = size_t(kGemmSize) * size_t(kGemmSize);
  {
    const Buffer a(elements * sizeof(float), "fp32 A"), b(elements * sizeof(float), "fp32 B"),
        c(elements * sizeof(float), "fp32 C");
    fill(r, a.as<float>(), elements, 1);
    fill(r, b.as<float>(), elements, 2);
    // CUBLAS_COMPUTE_32F under the default math mode is true fp32: TF32 needs the TF32 mode or
    // the _FAST_TF32 compute type, the second measurement.
    result.fp32_gemm_tflops = gemm_tflops(r, CUDA_R_32F, CUBLAS_COMPUTE_32F, CUBLAS_DEFAULT_MATH, a.as<float>(),
                                          b.as<float>(), c.as<float>(), "fp32 GEMM (TF32 off)");
    result.tf32_gemm_tflops = gemm_tflops(r, CUDA_R_32F, CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_TF32_TENSOR_OP_MATH,
                                          a.as<float>(), b.as<float>(), c.as<float>(), "TF32 GEMM");
  }
  {
    const Buffer a(elements * 2, "bf16 A"), b(elements * 2, "bf16 B"), c(elements * 2, "bf16 C");
    fill(r, a.as<__nv_bfloat16>(), elements, 3);
    fill(r, b.as<__nv_bfloat16>(), elements, 4);
    result.bf16_gemm_tflops = gemm_tflops(r, CUDA_R_16BF, CUBLAS_COMPUTE_32F, CUBLAS_DEFAULT_MATH,
                                          a.as<__nv_bfloat16>(), b.as<__nv_bfloat16>(), c.as<__nv_bfloat16>(),
                                          "bf16 GEMM (fp32 accumulate)");
  }
  {
    const Buffer src(kCopyBytes, "copy source"), dst(kCopyBytes, "copy destination");
    fill(r, src.as<float>(), kCopyBytes / sizeof(float), 5);
    const double ms = median_ms(r, [&] {
      DSA_CUDA_CHECK(cudaMemcpyAsync(dst.as<char>(), src.as<char>(), kCopyBytes, cudaMemcpyDeviceToDevice, r.stream),
                     "device-to-device copy of ", kCopyBytes >> 20, " MiB");
    }, "device-to-device copy");
    result.copy_tb_per_s = 2.0 * double(kCopyBytes) / (ms * 1e-3) / 1e12;
  }
  DSA_CUDA_CHECK(cudaStreamSynchronize(r.stream), "ceilings");
  return result;
}

}  // namespace dsa::DSA_CUDA_TWIN
