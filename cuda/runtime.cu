// The CUDA twin's runtime: device detection, the device allocator behind the arenas, host<->device
// copies, the streams and cuBLAS handle of the context, and the backend table.
// CUDA runtime only (statically linked cudart): no libcuda, so binaries start on GPU-less machines.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <mutex>


#include "check.cuh"
#include "cuda_backend.h"
#include "cuda_ops.h"
#include "ops/timed_op.h"

namespace dsa::DSA_CUDA_TWIN {

using cuda::DeviceStatus;

const char* cublas_status_name(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    default: return "unknown cuBLAS status";
  }
}

namespace {

__global__ void probe_kernel(int* flag) { *flag = 1; }

// One compute stream for every op, one transfer stream for host->device copies of batches, and the
// cuBLAS handle bound to the compute stream with a fixed 32 MiB workspace (docs/kernels.md §K7).
struct Runtime {
  cudaStream_t compute = nullptr, transfer = nullptr;
  cublasHandle_t blas = nullptr;
  void* blas_workspace = nullptr;
};

constexpr size_t kBlasWorkspaceBytes = 32u << 20;
size_t g_allocated_bytes = 0;

Runtime& runtime() {
  static Runtime rt = [] {
    Runtime r;
    DSA_CUDA_CHECK(cudaStreamCreateWithFlags(&r.compute, cudaStreamNonBlocking), "compute stream");
    DSA_CUDA_CHECK(cudaStreamCreateWithFlags(&r.transfer, cudaStreamNonBlocking), "transfer stream");
    DSA_CUBLAS_CHECK(cublasCreate(&r.blas), "cuBLAS handle");
    DSA_CUBLAS_CHECK(cublasSetStream(r.blas, r.compute), "cuBLAS stream");
    DSA_CUDA_CHECK(cudaMalloc(&r.blas_workspace, kBlasWorkspaceBytes), "cuBLAS workspace");
    DSA_CUBLAS_CHECK(cublasSetWorkspace(r.blas, r.blas_workspace, kBlasWorkspaceBytes), "cuBLAS workspace");
    DSA_CUBLAS_CHECK(cublasSetMathMode(r.blas, CUBLAS_PEDANTIC_MATH), "fp32 math (TF32 off)");
    return r;
  }();
  return rt;
}

cudaStream_t stream_of(const Context& ctx) { return static_cast<cudaStream_t>(ctx.stream); }

void* device_allocate(size_t bytes) {
  void* base = nullptr;
  if (cudaMalloc(&base, bytes) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error so the caller's message is the one seen
    return nullptr;
  }
  g_allocated_bytes += bytes;
  return base;
}

void device_release(void* base) { cudaFree(base); }

void zero(const Context& ctx, void* dst, size_t bytes) {
  DSA_CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes, stream_of(ctx)), "zero fill of ", bytes, " bytes");
}

// The host buffer may be pageable and reused right after the call (ops/memory.h): the copy goes on
// the transfer stream after the compute stream's queued work, and completes before returning.
void to_device(const Context& ctx, void* dst, const void* host_src, size_t bytes) {
  const Runtime& rt = runtime();
  DSA_CUDA_CHECK(cudaStreamSynchronize(stream_of(ctx)), "wait before upload");
  DSA_CUDA_CHECK(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, rt.transfer),
                 "upload of ", bytes, " bytes");
  DSA_CUDA_CHECK(cudaStreamSynchronize(rt.transfer), "upload of ", bytes, " bytes");
}

void to_host(const Context& ctx, void* host_dst, const void* src, size_t bytes) {
  DSA_CUDA_CHECK(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, stream_of(ctx)),
                 "download of ", bytes, " bytes");
  DSA_CUDA_CHECK(cudaStreamSynchronize(stream_of(ctx)), "download of ", bytes, " bytes");
}

void synchronize(const Context& ctx) {
  DSA_CUDA_CHECK(cudaStreamSynchronize(stream_of(ctx)), "stream synchronize");
}

Context cuda_context() {
  Runtime& rt = runtime();
  Context ctx;
  ctx.device = ops::Device::cuda;
  ctx.stream = rt.compute;
  ctx.blas = rt.blas;
  return ctx;
}

void sync_compute() { DSA_CUDA_CHECK(cudaStreamSynchronize(runtime().compute), "profile sync"); }

}  // namespace

// The DSA ops' largest call (docs/design.md §4): the widest lists for the sparse attention and the
// sparse-domain loss, and the dense-domain loss (list width 0). The indexer needs none.
size_t dsa_workspace(const ops::WorkspaceQuery& query) {
  if (query.indexer.heads == 0) return 0;
  const AttentionShape& a = query.attention;
  const int64_t width = query.list_width;
  return std::max({topk_workspace({a.batch, a.seq, std::max<int64_t>(width, 1)}),
                   sparse_attention_workspace(a, width), indexer_loss_workspace(a, width),
                   indexer_loss_workspace(a, 0)});
}

namespace {

size_t workspace_bytes(const ops::WorkspaceQuery& query, size_t scalar_bytes) {
  (void)scalar_bytes;  // the CUDA twin is fp32 only
  return std::max({embedding_workspace(query), rmsnorm_workspace(query), attention_workspace(query),
                   sum_squares_workspace(query), dsa_workspace(query)});
}

template <bool Profiled>
ops::Backend<float> make_table() {
  ops::Backend<float> table;
  table.name = kEmulatedDevice ? "cuda-emulated" : "cuda";
  table.device = ops::Device::cuda;
  table.memory = {Allocator{"device", &device_allocate, &device_release}, &zero, &to_device, &to_host, &synchronize};
  table.make_context = &cuda_context;
  table.workspace_bytes = &workspace_bytes;
#define DSA_CUDA_OP(member, Type) table.member = DSA_TABLE_OP(member, &member, &sync_compute);
  DSA_ALL_OPS(DSA_CUDA_OP)
#undef DSA_CUDA_OP
  return table;
}

// NVTX ranges and the cudaProfilerStart/Stop capture window for Nsight (docs/profiling.md).
void nvtx_push(const char* name) { nvtxRangePushA(name); }
void nvtx_pop() { nvtxRangePop(); }
void capture_start() { DSA_CUDA_CHECK(cudaProfilerStart(), "profiler start"); }
void capture_stop() {
  DSA_CUDA_CHECK(cudaDeviceSynchronize(), "profiler stop");
  DSA_CUDA_CHECK(cudaProfilerStop(), "profiler stop");
}

void require_device() {
  const DeviceStatus status = device_status();
  DSA_CHECK(status.available, "the CUDA twin: ", status.description);
}

}  // namespace

DeviceStatus device_status() {
  static const DeviceStatus status = [] {
    int count = 0;
    const cudaError_t error = cudaGetDeviceCount(&count);
    if (error != cudaSuccess) {
      cudaGetLastError();
      return DeviceStatus{false, cat("no GPU: cudaGetDeviceCount failed (", cudaGetErrorString(error), ")")};
    }
    if (count == 0) return DeviceStatus{false, "no GPU: no CUDA device found"};
    cudaDeviceProp prop{};
    DSA_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0), "device 0 properties");
    cudaFuncAttributes attributes{};
    if (cudaFuncGetAttributes(&attributes, probe_kernel) != cudaSuccess) {
      cudaGetLastError();
      return DeviceStatus{false, cat("GPU ", prop.name, " (sm_", prop.major, prop.minor,
                                     ") has no kernel image in this build (DSA_CUDA_ARCHS)")};
    }
    return DeviceStatus{true, cat(prop.name, " (sm_", prop.major, prop.minor, ", ", prop.multiProcessorCount,
                                  " SMs, ", prop.totalGlobalMem >> 20, " MiB)")};
  }();
  return status;
}

const ops::Backend<float>& backend() {
  require_device();
  static const bool hooked = [] {
    profile::set_hooks({&nvtx_push, &nvtx_pop, &capture_start, &capture_stop});
    return true;
  }();
  (void)hooked;
  static const ops::Backend<float> table = make_table<false>();
  return table;
}

const ops::Backend<float>& profiled_backend() {
  backend();  // installs the profiler hooks
  static const ops::Backend<float> table = make_table<true>();
  return table;
}

void set_tf32(bool enabled) {
  require_device();
  DSA_CUBLAS_CHECK(cublasSetMathMode(runtime().blas, enabled ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_PEDANTIC_MATH),
                   enabled ? "TF32 on" : "TF32 off");
}

size_t allocated_bytes() { return g_allocated_bytes; }

const cuda::TwinApi& twin_api() {
  static const cuda::TwinApi api{
      .device_status = &device_status,
      .backend = &backend,
      .profiled_backend = &profiled_backend,
      .set_tf32 = &set_tf32,
      .allocated_bytes = &allocated_bytes,
      .measure_ceilings = &measure_ceilings,
      .workspaces = {.embedding = &embedding_workspace,
                     .rmsnorm = &rmsnorm_workspace,
                     .attention = &attention_workspace,
                     .sum_squares = &sum_squares_workspace,
                     .dsa = &dsa_workspace,
                     .topk = &topk_workspace,
                     .sparse_attention = &sparse_attention_workspace,
                     .indexer_loss = &indexer_loss_workspace},
  };
  return api;
}

}  // namespace dsa::DSA_CUDA_TWIN
