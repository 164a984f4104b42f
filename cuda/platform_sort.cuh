// CUB's DeviceRadixSort for the CUDA twin: the toolkit's on the GPU, the emulator's stable host
// sort (cuda/emu/cub.h) on the emulated device. Separate from platform.cuh because the toolkit's
// CUB header adds seconds to every nvcc compile that includes it.
#pragma once
#include "platform.cuh"

#ifndef DSA_CUDA_EMULATED
#include <cub/device/device_radix_sort.cuh>
#endif
