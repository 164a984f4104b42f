// Index lists for tests (ops/index_lists.h layout: [B, T, width] int32, each row ascending keys
// s <= t, then -1 padding), shared by the CPU, CUDA and training tests of the DSA ops.
#pragma once
#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

#include "core/philox.h"

namespace dsa::test {

using Lists = std::vector<int32_t>;

// How many keys row t of a random list gets.
enum class ListFill {
  random_count,  // uniform in [1, min(width, t + 1)]
  full,          // min(width, t + 1): what top-k selects
};

// Row t: a uniformly random subset of {0..t} (Philox, seed), ascending, then -1; with
// empty_rows every seventh row holds no key.
inline Lists random_lists(int64_t batch, int64_t seq, int64_t width, uint64_t seed,
                          ListFill fill = ListFill::random_count, bool empty_rows = false) {
  Lists lists(batch * seq * width, -1);
  std::vector<int32_t> pool;
  for (int64_t row = 0; row < batch * seq; ++row) {
    if (empty_rows && row % 7 == 3) continue;
    const int64_t t = row % seq, cap = std::min(width, t + 1);
    const int64_t n = fill == ListFill::full ? cap : 1 + int64_t(philox_below(seed, 1, row, cap));
    pool.resize(t + 1);
    std::iota(pool.begin(), pool.end(), 0);
    for (int64_t j = 0; j < n; ++j)  // partial Fisher-Yates
      std::swap(pool[j], pool[j + philox_below(seed, 2, row * seq + j, t + 1 - j)]);
    std::sort(pool.begin(), pool.begin() + n);
    std::copy_n(pool.begin(), n, lists.begin() + row * width);
  }
  return lists;
}

// Every row t = {0..t}, then -1.  [B, T, width >= T]
inline Lists all_causal_lists(int64_t batch, int64_t seq, int64_t width) {
  Lists lists(batch * seq * width, -1);
  for (int64_t row = 0; row < batch * seq; ++row)
    std::iota(lists.begin() + row * width, lists.begin() + row * width + row % seq + 1, 0);
  return lists;
}

}  // namespace dsa::test
