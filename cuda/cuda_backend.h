// The CUDA twin seen from the host code (model, trainer, CLI, tests): plain C++, no CUDA headers.
// The twin's sources build twice — by nvcc for the GPU (the hardware twin, in builds that found
// nvcc) and by the host compiler against the emulated device of cuda/emu/ (every build) — and
// this chooses between them (cuda/cuda_backend.cpp; docs/gpu.md).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "ops/backend.h"

namespace dsa::cuda {

struct DeviceStatus {
  bool available = false;
  std::string description;  // which device, or why none
};

// The GPU: whether this build has the hardware twin, a CUDA device is present ("no GPU" is any
// failure of cudaGetDeviceCount, or a count of 0) and the build has a kernel image for it.
// train.device=auto takes the CUDA twin only when this is available: auto never picks the
// emulated device.
DeviceStatus device_status();

// Where the CUDA twin runs when asked for (train.device=cuda, --device cuda, the CUDA tests): on
// the GPU when device_status() has one, otherwise on the emulated device — the same kernels as
// C++ on the CPU, thousands of times slower, checking barriers, warp collectives, bounds and
// schedule races. The environment variable DSA_CUDA_DEVICE=emulated picks the emulated device
// even where a GPU is present; DSA_CUDA_DEVICE=gpu makes "no GPU" an error instead.
bool runs_emulated();
// One line: the device the twin runs on, and why ("emulated device ...: no GPU (...)").
std::string description();

// The table of CUDA ops (fp32) on that device.
const ops::Backend<float>& backend();
// The same ops each wrapped in a profile::Scope that synchronises the stream (bench --profile).
const ops::Backend<float>& profiled_backend();

// TF32 tensor-core math for the cuBLAS GEMMs (off by default: fp32 correctness first; the
// emulated device computes TF32 requests in fp32).
void set_tf32(bool enabled);

// Peak bytes cudaMalloc'ed through the twin's allocator so far (bench checks it against the plan).
size_t allocated_bytes();

// The GPU's measured limits (`dsatrain bench --ceilings`, cuda/ceilings.cu): cuBLAS GEMM at
// M = N = K = 8192 on random data in fp32 with TF32 off, in TF32, and in bf16 with fp32
// accumulation (TFLOP/s), and a 2 GiB device-to-device cudaMemcpy counting bytes read plus written
// (TB/s); each the median of 10 CUDA-event-timed runs after 3 warm-ups. `device` names the GPU.
// Throws on the emulated device (speed is not emulated) and without a GPU.
struct Ceilings {
  double fp32_gemm_tflops = 0, tf32_gemm_tflops = 0, bf16_gemm_tflops = 0, copy_tb_per_s = 0;
  std::string device;
};
Ceilings measure_ceilings();

// Bytes of ctx.workspace each op family of the twin needs for a call (the backend's
// workspace_bytes is their maximum over the model's calls; tests size workspaces exactly).
struct Workspaces {
  size_t (*embedding)(const ops::WorkspaceQuery& query);  // the backward's sort of query.rows
  size_t (*rmsnorm)(const ops::WorkspaceQuery& query);
  size_t (*attention)(const ops::WorkspaceQuery& query);
  size_t (*sum_squares)(const ops::WorkspaceQuery& query);
  size_t (*dsa)(const ops::WorkspaceQuery& query);        // 0 when query.indexer.heads == 0
  size_t (*topk)(const ops::TopKShape& shape);
  size_t (*sparse_attention)(const ops::AttentionShape& shape, int64_t list_width);
  size_t (*indexer_loss)(const ops::AttentionShape& shape, int64_t list_width);  // 0: dense domain
};
const Workspaces& workspaces();

// What each build of the twin exports to the chooser (cuda/runtime.cu fills it).
struct TwinApi {
  DeviceStatus (*device_status)();
  const ops::Backend<float>& (*backend)();
  const ops::Backend<float>& (*profiled_backend)();
  void (*set_tf32)(bool enabled);
  size_t (*allocated_bytes)();
  Ceilings (*measure_ceilings)();
  Workspaces workspaces;
};

}  // namespace dsa::cuda

namespace dsa::cuda_hw {
const cuda::TwinApi& twin_api();  // the GPU build (nvcc); only in builds that found nvcc
}  // namespace dsa::cuda_hw
namespace dsa::cuda_emu {
const cuda::TwinApi& twin_api();  // the emulated build (host compiler + cuda/emu/)
}  // namespace dsa::cuda_emu
