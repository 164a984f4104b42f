// Memory of a twin's device: where arenas come from, zero fill, and copies between host memory
// and the twin's memory (plain memcpy on the CPU twin; cudaMemcpyAsync on the stream in CUDA).
// All calls are ordered with the ops on ctx's stream. Sizes are in bytes.
//   allocator   the arenas' memory (Arena never includes CUDA headers). It need not be zeroed:
//               the model and optimizer zero or fill every buffer they read (zero_grads, AdamW's
//               moments, init_weights); the host allocator zero-fills anyway.
//   zero        dst[0, bytes) = 0 in the twin's memory.
//   to_device   host -> twin. Returns once host_src has been consumed: callers pass temporaries
//               and reuse their host buffers right after (Model's RoPE tables, each batch's
//               tokens), so a CUDA twin must stage pageable memory or synchronise before returning.
//   to_host     twin -> host; waits for the copy to finish, so the host may read the bytes right
//               after.
//   synchronize waits for everything queued on ctx's stream (a no-op on the CPU twin).
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
