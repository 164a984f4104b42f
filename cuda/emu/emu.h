// The emulated GPU, as the CUDA twin's sources see it when the host compiler builds them
// (cuda/platform.cuh includes this instead of the toolkit's headers; do not include the toolkit's
// host_defines.h anywhere in this build: it defines __shared__ as nothing). Everything is in
// namespace dsa::emu; platform.cuh brings it into the emulated twin's namespace. docs/gpu.md
// says what the emulator verifies and what only a GPU can.
#pragma once
#if defined(__HOST_DEFINES_H__) || defined(__CUDA_RUNTIME_H__) || defined(__CUDACC__)
#error "the emulated build must not see the CUDA toolkit's headers (host_defines.h makes __shared__ nothing)"
#endif
#include "bf16.h"
#include "cub.h"
#include "cublas.h"
#include "device.h"
#include "engine.h"
#include "launch.h"
#include "runtime.h"
#include "types.h"
