// Causal top-k, CPU twin (ops/topk.h). One row per iteration of an OpenMP loop: a partial
// selection (std::nth_element) of the k best keys among s <= t under (score desc, index asc),
// then a sort of the kept indices. A serial-order NaN check runs first, so the error names the
// first NaN in (b, t, s) order whatever the thread count.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/error.h"
#include "cpu/dsa_index_lists.h"
#include "cpu/cpu_ops.h"

namespace dsa::cpu {

namespace {

template <class T>
bool row_has_nan(const T* row, int64_t visible) {
  bool found = false;
#pragma omp simd reduction(|| : found)
  for (int64_t s = 0; s < visible; ++s) found = found || std::isnan(row[s]);
  return found;
}

// Fails naming the first (b, t, s), in that order, whose score is NaN among s <= t.
template <class T>
void check_no_nan(const T* scores, const TopKShape& shape) {
  const int64_t rows = shape.batch * shape.seq;
  int64_t first_bad_row = std::numeric_limits<int64_t>::max();
#pragma omp parallel for schedule(static) reduction(min : first_bad_row)
  for (int64_t r = 0; r < rows; ++r)
    if (row_has_nan(scores + r * shape.seq, r % shape.seq + 1))
      first_bad_row = std::min(first_bad_row, r);
  if (first_bad_row == std::numeric_limits<int64_t>::max()) return;
  const T* row = scores + first_bad_row * shape.seq;
  const int64_t s = std::find_if(row, row + shape.seq, [](T x) { return std::isnan(x); }) - row;
  fail("op topk_select: score of batch ", first_bad_row / shape.seq, ", query ",
       first_bad_row % shape.seq, ", key ", s, " is NaN (the indexer produced a NaN)");
}

// keys [k] = the min(k, visible) best of row [visible] in ascending index order, then -1.
// candidates [visible] is scratch.
template <class T>
void select_row(int32_t* keys, const T* row, int64_t visible, int64_t k, int32_t* candidates) {
  const int64_t kept = std::min(k, visible);
  if (kept == visible) {
    std::iota(keys, keys + kept, 0);
  } else {
    std::iota(candidates, candidates + visible, 0);
    // -0.0 == +0.0 under these comparisons, so such ties fall to the index, as the contract says.
    const auto ranks_before = [row](int32_t a, int32_t b) {
      return row[a] > row[b] || (row[a] == row[b] && a < b);
    };
    std::nth_element(candidates, candidates + kept - 1, candidates + visible, ranks_before);
    std::sort(candidates, candidates + kept);
    std::copy_n(candidates, kept, keys);
  }
  std::fill(keys + kept, keys + k, -1);
}

}  // namespace

size_t topk_workspace(const TopKShape& shape) {
  return all_threads_bytes(shape.seq * sizeof(int32_t));
}

template <class T>
void topk_select(const Context& ctx, int32_t* indices, const T* scores, const TopKShape& shape) {
  DSA_CHECK(shape.k >= 1, "op topk_select: k = ", shape.k, " must be >= 1");
  DSA_CHECK(ctx.workspace_bytes >= topk_workspace(shape), "op topk_select: workspace of ",
            ctx.workspace_bytes, " bytes is smaller than the ", topk_workspace(shape),
            " it needs for [B=", shape.batch, ", T=", shape.seq, "]");
  check_no_nan(scores, shape);
  const int64_t rows = shape.batch * shape.seq;
#pragma omp parallel for schedule(dynamic, 16)
  for (int64_t r = 0; r < rows; ++r) {
    int32_t* candidates = thread_scratch<int32_t>(ctx, 0, shape.seq * sizeof(int32_t));
    select_row(indices + r * shape.k, scores + r * shape.seq, r % shape.seq + 1, shape.k,
               candidates);
  }
}

template void topk_select<float>(const Context&, int32_t*, const float*, const TopKShape&);
template void topk_select<double>(const Context&, int32_t*, const double*, const TopKShape&);

}  // namespace dsa::cpu
