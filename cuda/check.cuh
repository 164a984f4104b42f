// Every CUDA runtime and cuBLAS call is checked, and every launch is followed by a check of the
// launch error, with a message naming the kernel and the shapes it was launched for.
#pragma once
#include "core/error.h"
#include "platform.cuh"

namespace dsa::DSA_CUDA_TWIN {

const char* cublas_status_name(cublasStatus_t status);

}  // namespace dsa::DSA_CUDA_TWIN

// DSA_CUDA_CHECK(cudaMemcpyAsync(...), "copy of tokens [", n, "]")
#define DSA_CUDA_CHECK(call, ...)                                                            \
  do {                                                                                       \
    const cudaError_t dsa_status = (call);                                                   \
    if (dsa_status != cudaSuccess)                                                           \
      ::dsa::fail("CUDA error in ", #call, " (", ::dsa::cat(__VA_ARGS__), "): ",             \
                  cudaGetErrorName(dsa_status), ": ", cudaGetErrorString(dsa_status));       \
  } while (0)

#define DSA_CUBLAS_CHECK(call, ...)                                                          \
  do {                                                                                       \
    const cublasStatus_t dsa_status = (call);                                                \
    if (dsa_status != CUBLAS_STATUS_SUCCESS)                                                 \
      ::dsa::fail("cuBLAS error in ", #call, " (", ::dsa::cat(__VA_ARGS__), "): ",           \
                  ::dsa::DSA_CUDA_TWIN::cublas_status_name(dsa_status));                              \
  } while (0)

// After a launch<kernel>(...): DSA_LAUNCH_CHECK("rmsnorm_forward", "rows ", N, " dim ", D)
#define DSA_LAUNCH_CHECK(kernel, ...)                                                        \
  do {                                                                                       \
    const cudaError_t dsa_status = cudaGetLastError();                                       \
    if (dsa_status != cudaSuccess)                                                           \
      ::dsa::fail("CUDA kernel ", kernel, " (", ::dsa::cat(__VA_ARGS__), ") failed to launch: ", \
                  cudaGetErrorName(dsa_status), ": ", cudaGetErrorString(dsa_status));       \
  } while (0)
