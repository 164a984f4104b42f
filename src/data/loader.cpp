#include "data/loader.h"

#include <algorithm>

#include "core/error.h"
#include "core/philox.h"

namespace dsa::data {

TokenLoader::TokenLoader(std::vector<int32_t> tokens) : tokens_(std::move(tokens)) {}

void TokenLoader::train_batch(uint64_t seed, int64_t step, int64_t rank, int64_t batch, int64_t seq,
                              int32_t* inputs, int32_t* targets) const {
  DSA_CHECK(batch > 0 && seq > 0 && rank >= 0 && step >= 0, "loader: batch ", batch, ", seq ", seq, ", rank ",
            rank, " and step ", step, " must be positive (rank, step: >= 0)");
  DSA_CHECK(size() > seq, "loader: the split holds ", size(),
            " tokens, a training window needs seq + 1 = ", seq + 1);
  const auto starts = static_cast<uint64_t>(size() - seq);  // window [start, start + seq] fits
  for (int64_t r = 0; r < batch; ++r) {
    const auto start = static_cast<int64_t>(
        philox_below(seed, static_cast<uint64_t>(step), static_cast<uint64_t>(rank * batch + r), starts));
    const int32_t* window = tokens_.data() + start;
    std::copy(window, window + seq, inputs + r * seq);
    std::copy(window + 1, window + seq + 1, targets + r * seq);
  }
}

int64_t TokenLoader::eval_windows(int64_t seq) const {
  DSA_CHECK(seq > 0, "loader: seq ", seq, " must be positive");
  const int64_t predicted = std::max<int64_t>(size() - 1, 0);  // every token but the first
  return (predicted + seq - 1) / seq;
}

int64_t TokenLoader::eval_window(int64_t w, int64_t seq, int32_t* inputs, int32_t* targets) const {
  const int64_t windows = eval_windows(seq);
  DSA_CHECK(w >= 0 && w < windows, "loader: evaluation window ", w, " out of range [0, ", windows, ")");
  const int64_t start = w * seq;
  const int64_t length = std::min(seq, size() - 1 - start);
  const int32_t* window = tokens_.data() + start;
  std::copy(window, window + length, inputs);
  std::copy(window + 1, window + length + 1, targets);
  return length;
}

}  // namespace dsa::data
