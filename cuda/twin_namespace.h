// The namespace of the CUDA twin build being compiled. The same sources build twice: nvcc makes
// dsa::cuda_hw (the GPU), the host compiler with DSA_CUDA_EMULATED makes dsa::cuda_emu (the
// emulated device of cuda/emu/). Host code names neither: it goes through dsa::cuda
// (cuda_backend.h), which picks one.
#pragma once

#ifdef DSA_CUDA_EMULATED
#define DSA_CUDA_TWIN cuda_emu
#else
#define DSA_CUDA_TWIN cuda_hw
#endif
