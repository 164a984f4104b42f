// The CUDA twin seen from the host code (model, trainer, tests): plain C++, no CUDA headers, so
// src/ can include it without nvcc. Only compiled into builds with DSA_WITH_CUDA.
#pragma once
#include <string>

#include "ops/backend.h"

namespace dsa::cuda {

// Whether a usable GPU is present. "No GPU" is any failure of cudaGetDeviceCount (without a
// driver it reports "driver version is insufficient", not "no device") or a count of 0
// (DESIGN §1); `description` says which device, or why none.
struct DeviceStatus {
  bool available = false;
  std::string description;
};
DeviceStatus device_status();

// The table of CUDA ops (fp32). Throws naming the reason when no GPU is available.
const ops::Backend<float>& backend();
// The same ops each wrapped in a profile::Scope that synchronises the stream (bench --profile).
const ops::Backend<float>& profiled_backend();

// TF32 tensor-core math for the cuBLAS GEMMs (off by default: fp32 correctness first).
void set_tf32(bool enabled);

// Peak bytes cudaMalloc'ed through the twin's allocator so far (bench checks it against the plan).
size_t allocated_bytes();

// The machine's measured limits (`dsatrain bench --ceilings`, cuda/ceilings.cu): cuBLAS GEMM at
// M = N = K = 8192 on random data in fp32 with TF32 off, in TF32, and in bf16 with fp32
// accumulation (TFLOP/s), and a 2 GiB device-to-device cudaMemcpy counting bytes read plus written
// (TB/s); each the median of 10 CUDA-event-timed runs after 3 warm-ups. `device` names the GPU.
// Throws naming the reason when no GPU is available.
struct Ceilings {
  double fp32_gemm_tflops = 0, tf32_gemm_tflops = 0, bf16_gemm_tflops = 0, copy_tb_per_s = 0;
  std::string device;
};
Ceilings measure_ceilings();

}  // namespace dsa::cuda
