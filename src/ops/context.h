// What every op receives besides its tensors: where to run and with which handles. One signature
// fits both twins; the CPU twin ignores stream and blas.
#pragma once
#include <cstddef>
#include <cstdint>

namespace dsa::ops {

enum class Device { cpu, cuda };

struct Context {
  Device device = Device::cpu;
  void* stream = nullptr;     // cudaStream_t of the CUDA twin
  void* blas = nullptr;       // cublasHandle_t of the CUDA twin (CBLAS on the CPU is stateless)
  void* workspace = nullptr;  // scratch owned by the arena's scratch group, reused by every op
  size_t workspace_bytes = 0;
};

}  // namespace dsa::ops
