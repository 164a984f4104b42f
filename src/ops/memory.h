// Memory of a twin's device: where arenas come from, zero fill, and copies between host memory
// and the twin's memory (plain memcpy on the CPU twin; cudaMemcpyAsync on the stream in CUDA).
// to_host waits for the copy to finish, so the host may read the bytes right after.
#pragma once
#include <cstddef>

#include "core/arena.h"
#include "ops/context.h"

namespace dsa::ops {

struct MemoryOps {
  Allocator allocator;
  void (*zero)(const Context& ctx, void* dst, size_t bytes);
  void (*to_device)(const Context& ctx, void* dst, const void* host_src, size_t bytes);
  void (*to_host)(const Context& ctx, void* host_dst, const void* src, size_t bytes);
  void (*synchronize)(const Context& ctx);
};

}  // namespace dsa::ops
