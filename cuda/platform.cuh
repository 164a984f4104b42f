// Where the CUDA twin's sources meet their platform. Every .cu builds twice (docs/gpu.md):
//   - by nvcc for the GPU (sm_90), against the toolkit's headers, into namespace dsa::cuda_hw;
//   - by the host compiler with DSA_CUDA_EMULATED, against the emulated device of cuda/emu/, into
//     namespace dsa::cuda_emu, where the emulator's CUDA names are visible.
// Kernels use only what both builds have. Where CUDA syntax is not C++ they use these helpers,
// which both builds share (nvcc compiles them to exactly the CUDA they replace):
//   launch<kernel>({grid, block, shared_bytes, stream}, args...);   kernel<<<grid, block, shared_bytes, stream>>>(args...);
//   DSA_SHARED(float[32], warp_sums);                               __shared__ float warp_sums[32];
//   DSA_DYNAMIC_SHARED(float4, tile);                               extern __shared__ float4 tile[];
// Inline PTX, when a kernel needs it, goes in a function here with an emulated twin of its own.
// CUB's radix sort is in platform_sort.cuh (its toolkit header costs seconds per nvcc compile).
#pragma once
#include <cstddef>
#include <type_traits>
#include <utility>

#include "twin_namespace.h"

#ifdef DSA_CUDA_EMULATED
#include "emu/emu.h"
namespace dsa::DSA_CUDA_TWIN {
using namespace ::dsa::emu;
}  // namespace dsa::DSA_CUDA_TWIN
#else
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_profiler_api.h>
#include <cuda_runtime.h>
#include <nvtx3/nvToolsExt.h>
#endif

namespace dsa::DSA_CUDA_TWIN {

#ifdef DSA_CUDA_EMULATED
inline constexpr bool kEmulatedDevice = true;
#else
inline constexpr bool kEmulatedDevice = false;
#endif

// What goes between <<< and >>>.
struct LaunchShape {
  dim3 grid;
  dim3 block;
  size_t shared_bytes = 0;  // dynamic shared memory
  cudaStream_t stream = nullptr;
};

// Launches Kernel over shape.grid x shape.block threads; the arguments convert to the kernel's
// parameter types. A launch error is the runtime's last error, which DSA_LAUNCH_CHECK reads.
template <auto Kernel, class... Args>
void launch(const LaunchShape& shape, Args&&... args) {
#ifdef DSA_CUDA_EMULATED
  ::dsa::emu::launch_kernel<Kernel>(shape.grid, shape.block, shape.shared_bytes, shape.stream,
                                    std::forward<Args>(args)...);
#else
  Kernel<<<shape.grid, shape.block, shape.shared_bytes, shape.stream>>>(std::forward<Args>(args)...);
#endif
}

}  // namespace dsa::DSA_CUDA_TWIN

// Shared memory of a block. `type` may be an array type: DSA_SHARED(float[4][32], sums).
#ifdef DSA_CUDA_EMULATED
#define DSA_SHARED(type, name)                                                                  \
  static char name##_site; /* the declaration's identity: its storage is per block */           \
  ::std::type_identity_t<type>& name = *reinterpret_cast<::std::type_identity_t<type>*>(          \
      ::dsa::emu::shared_static(&name##_site, #name, sizeof(type), alignof(type)))
#define DSA_DYNAMIC_SHARED(type, name) type* const name = reinterpret_cast<type*>(::dsa::emu::shared_dynamic())
#else
#define DSA_SHARED(type, name) __shared__ ::std::type_identity_t<type> name
#define DSA_DYNAMIC_SHARED(type, name) extern __shared__ type name[]
#endif
