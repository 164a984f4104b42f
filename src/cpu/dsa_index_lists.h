// Helpers of the CPU twin shared by the ops that read index lists (ops/index_lists.h) and carve
// per-thread scratch out of ctx.workspace. Internal to src/cpu/.
#pragma once
#include <omp.h>

#include <cstddef>
#include <cstdint>

#include "ops/context.h"
#include "ops/index_lists.h"

namespace dsa::cpu {

constexpr size_t kScratchAlign = 256;  // bytes; every workspace region starts on this boundary

inline size_t align_bytes(size_t bytes) {
  return (bytes + kScratchAlign - 1) / kScratchAlign * kScratchAlign;
}

// `per_thread` aligned bytes for every OpenMP thread the op may run with.
inline size_t all_threads_bytes(size_t per_thread) {
  return align_bytes(per_thread) * static_cast<size_t>(omp_get_max_threads());
}

// The calling thread's slice of a per-thread region that starts `offset` bytes into ctx.workspace.
template <class T>
T* thread_scratch(const ops::Context& ctx, size_t offset, size_t per_thread) {
  char* base = static_cast<char*>(ctx.workspace) + offset;
  return reinterpret_cast<T*>(base + align_bytes(per_thread) * omp_get_thread_num());
}

// Keys in a list row [width]: the entries before the first -1.
inline int64_t list_length(const int32_t* row, int64_t width) {
  int64_t n = 0;
  while (n < width && row[n] >= 0) ++n;
  return n;
}

// Fails (naming op, batch, query, slot and value) unless every row of lists [B, T, width] is a
// strictly increasing run of keys in [0, t] followed by -1 padding.
void check_index_lists(const ops::IndexLists& lists, int64_t batch, int64_t seq, const char* op);

// For each key s of one batch, the list slots that hold s, in increasing query t: entries
// slots[offsets[s] .. offsets[s+1]), each slot = t * width + j (row t, position j of its list).
// offsets [T+1], slots [T * width].
struct TransposedLists {
  int64_t* offsets;
  int32_t* slots;
};

// Bytes of the transposed lists of all B batches (offsets, then slots), aligned.
size_t transposed_lists_bytes(int64_t batch, int64_t seq, int64_t width);
// The transposed lists of batch b inside a region of transposed_lists_bytes.
TransposedLists transposed_lists_of(void* region, int64_t batch, int64_t seq, int64_t width,
                                    int64_t b);
// Builds all B batches' transposed lists (a stable counting sort per batch, OpenMP over batches).
void build_transposed_lists(void* region, const ops::IndexLists& lists, int64_t batch,
                            int64_t seq);

}  // namespace dsa::cpu
