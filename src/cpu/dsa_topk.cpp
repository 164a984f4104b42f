// Causal top-k, CPU twin (ops/topk.h). One row per iteration of an OpenMP loop, each row read
// once by the row selector (cpu/row_topk.h: a candidate buffer behind a threshold that starts at
// the k-th largest of 2k block maxima and rises as candidates are compacted by a radix select;
// candidates stay in index order, so no sort).
// A NaN stops its row; after the loop the first NaN in (b, t, s) order is named, whatever the
// thread count.
#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "cpu/cpu_ops.h"
#include "cpu/dsa_index_lists.h"
#include "cpu/row_topk.h"

namespace dsa::cpu {

namespace {

// Fails naming the first NaN key of `row` among s <= t (the row is known to hold one).
template <class T>
[[noreturn]] void fail_on_nan(const T* scores, const TopKShape& shape, int64_t row) {
  const T* x = scores + row * shape.seq;
  const int64_t s = std::find_if(x, x + shape.seq, [](T v) { return std::isnan(v); }) - x;
  fail("op topk_select: score of batch ", row / shape.seq, ", query ", row % shape.seq, ", key ",
       s, " is NaN (the indexer produced a NaN)");
}

}  // namespace

// Sized for double, so one workspace serves either scalar.
size_t topk_workspace(const TopKShape& shape) {
  return all_threads_bytes(RowTopK<double>::scratch_bytes(shape.k));
}

template <class T>
void topk_select(const Context& ctx, int32_t* indices, const T* scores, const TopKShape& shape) {
  DSA_CHECK(shape.k >= 1, "op topk_select: k = ", shape.k, " must be >= 1");
  DSA_CHECK(ctx.workspace_bytes >= topk_workspace(shape), "op topk_select: workspace of ",
            ctx.workspace_bytes, " bytes is smaller than the ", topk_workspace(shape),
            " it needs for [B=", shape.batch, ", T=", shape.seq, ", k=", shape.k, "]");
  const int64_t rows = shape.batch * shape.seq;
  const size_t per_thread = RowTopK<double>::scratch_bytes(shape.k);
  int64_t first_nan_row = std::numeric_limits<int64_t>::max();
#pragma omp parallel for schedule(dynamic, 16) reduction(min : first_nan_row)
  for (int64_t r = 0; r < rows; ++r) {
    RowTopK<T> selector(thread_scratch<char>(ctx, 0, per_thread), shape.k);
    if (!selector.select(scores + r * shape.seq, r % shape.seq + 1, indices + r * shape.k, nullptr))
      first_nan_row = std::min(first_nan_row, r);
  }
  if (first_nan_row != std::numeric_limits<int64_t>::max()) fail_on_nan(scores, shape, first_nan_row);
}

template void topk_select<float>(const Context&, int32_t*, const float*, const TopKShape&);
template void topk_select<double>(const Context&, int32_t*, const double*, const TopKShape&);

}  // namespace dsa::cpu
