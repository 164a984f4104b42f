// Index-list checks and transposed lists for the CPU twin's sparse ops (cpu/dsa_index_lists.h).
#include "cpu/dsa_index_lists.h"

#include <algorithm>
#include <limits>
#include <string>

#include "core/error.h"
#include "ops/index_list_rules.h"

namespace dsa::cpu {

namespace {

void build_batch(TransposedLists out, const int32_t* lists_b, int64_t seq, int64_t width) {
  std::fill_n(out.offsets, seq + 1, int64_t(0));
  for (int64_t t = 0; t < seq; ++t) {
    const int32_t* row = lists_b + t * width;
    for (int64_t j = 0, n = list_length(row, width); j < n; ++j) ++out.offsets[row[j]];
  }
  for (int64_t s = 1; s < seq; ++s) out.offsets[s] += out.offsets[s - 1];  // offsets[s] = end of s
  const int64_t total = seq > 0 ? out.offsets[seq - 1] : 0;
  // Placing from the last (t, j) backwards leaves each key's slots in increasing t and moves
  // offsets[s] from the end of s to its start.
  for (int64_t t = seq - 1; t >= 0; --t) {
    const int32_t* row = lists_b + t * width;
    for (int64_t j = list_length(row, width) - 1; j >= 0; --j)
      out.slots[--out.offsets[row[j]]] = static_cast<int32_t>(t * width + j);
  }
  out.offsets[seq] = total;
}

}  // namespace

void check_index_lists(const ops::IndexLists& lists, int64_t batch, int64_t seq, const char* op) {
  DSA_CHECK(lists.width >= 1, "op ", op, ": index list width ", lists.width, " must be >= 1");
  DSA_CHECK(seq * lists.width <= std::numeric_limits<int32_t>::max(), "op ", op, ": T x width = ",
            seq, " x ", lists.width, " list slots do not fit the int32 transposed lists");
  const int64_t rows = batch * seq;
  int64_t first_bad_row = std::numeric_limits<int64_t>::max();
#pragma omp parallel for schedule(static) reduction(min : first_bad_row)
  for (int64_t r = 0; r < rows; ++r)
    if (ops::first_bad_slot(lists.indices + r * lists.width, lists.width, r % seq) >= 0)
      first_bad_row = std::min(first_bad_row, r);
  if (first_bad_row == std::numeric_limits<int64_t>::max()) return;
  const int32_t* row = lists.indices + first_bad_row * lists.width;
  const int64_t t = first_bad_row % seq;
  const int64_t j = ops::first_bad_slot(row, lists.width, t);
  fail("op ", op, ": index list of batch ", first_bad_row / seq, ", query ", t, ", slot ", j,
       ": ", ops::why_bad_slot(row, j, t), " (lists hold keys 0 <= s <= t in increasing order, then -1)");
}

size_t transposed_lists_bytes(int64_t batch, int64_t seq, int64_t width) {
  return align_bytes(batch * (seq + 1) * sizeof(int64_t)) +
         align_bytes(batch * seq * width * sizeof(int32_t));
}

TransposedLists transposed_lists_of(void* region, int64_t batch, int64_t seq, int64_t width,
                                    int64_t b) {
  char* base = static_cast<char*>(region);
  auto* offsets = reinterpret_cast<int64_t*>(base);
  auto* slots =
      reinterpret_cast<int32_t*>(base + align_bytes(batch * (seq + 1) * sizeof(int64_t)));
  return {offsets + b * (seq + 1), slots + b * seq * width};
}

void build_transposed_lists(void* region, const ops::IndexLists& lists, int64_t batch,
                            int64_t seq) {
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < batch; ++b)
    build_batch(transposed_lists_of(region, batch, seq, lists.width, b),
                lists.indices + b * seq * lists.width, seq, lists.width);
}

}  // namespace dsa::cpu
