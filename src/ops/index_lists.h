// Index lists: the keys each query attends to in sparse attention (docs/design.md §4). Every selection
// strategy writes this format (ops/topk.h is the default one) and every consumer reads only it
// (ops/sparse_attention.h, the sparse domain of ops/indexer_loss.h).
//   indices [B, T, W] int32, W = the list width (k of the top-k, >= 1). Row (b, t) holds n_t keys
//   s_0 < s_1 < ... < s_{n_t - 1} <= t, strictly increasing, followed by W - n_t entries of -1.
//   n_t = 0 (an all-padding row) is allowed; top-k always gives n_t = min(k, t + 1).
// Causality is a hard invariant: a key s > t is an error, never a silent skip. The CPU consumers
// check every list before using it and fail naming the op, batch b, query t, slot j and the value
// when an entry is < -1 or > t, out of order, repeated, or a key follows a -1. Padding is never
// read as a key, and keys absent from every list are never read at all.
#pragma once
#include <cstdint>

namespace dsa::ops {

struct IndexLists {
  const int32_t* indices;  // [B, T, width]; null only where a contract says what null means
  int64_t width;           // W, entries per query row
};

}  // namespace dsa::ops
