// DSA_HOST_DEVICE marks a function both twins run: host code and the CPU twin call it, and CUDA
// kernels too — nvcc builds it for the device as well; the emulated device and the host compiler
// see a plain function.
#pragma once

#if defined(__CUDACC__)
#define DSA_HOST_DEVICE __host__ __device__
#else
#define DSA_HOST_DEVICE
#endif
