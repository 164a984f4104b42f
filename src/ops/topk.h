// Causal top-k selection per query row (docs/design.md §4): the default selection strategy.
//   For batch b and query t, S_t = the min(k, t + 1) keys s <= t with the largest scores[b, t, s],
//   under the total order "higher score first, then smaller key index first": equal scores prefer
//   the smaller key index; -0.0 equals +0.0 (the index decides); a NaN score among s <= t is an
//   error (the CPU twin throws naming batch, query and key). Keys s > t are never read and never
//   selected, so the entries s > t of scores may hold anything (the indexer writes -inf there).
//   k >= t + 1 selects every s <= t.
// Output: index lists (ops/index_lists.h) [B, T, k] int32, each row sorted ascending, -1 padding
// at the end (row t has min(k, t + 1) keys). Scores are [B, T, T], row (b, t) at (b*T + t) * T.
// Two twins that select from the same score buffer produce identical lists (docs/kernels.md §K5).
// CPU twin: per row, one pass behind a rising threshold (cpu/row_topk.h), OpenMP over rows;
// per-thread candidate buffers of k + max(k, 64) entries in ctx.workspace.
#pragma once
#include "ops/context.h"

namespace dsa::ops {

struct TopKShape {
  int64_t batch, seq, k;  // B, T, list width k >= 1 (may exceed T: the rest is padding)
};

template <class T>
using TopKSelect = void(const Context& ctx, int32_t* indices, const T* scores,
                        const TopKShape& shape);

}  // namespace dsa::ops
