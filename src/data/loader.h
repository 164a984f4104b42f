// Deterministic, rank-sharded batches. A training batch for (seed, step) is a set of random
// windows of T+1 tokens: row r of rank `rank` starts at philox_below(seed, step, rank*B + r,
// n - T), so the stream depends only on (seed, step, rank) and resuming needs just the step.
// Evaluation walks the split in order in windows of T+1 tokens that overlap by one token, so every
// token after the first is predicted exactly once; the last window may be shorter.
#pragma once
#include <cstdint>
#include <vector>

namespace dsa::data {

class TokenLoader {
 public:
  explicit TokenLoader(std::vector<int32_t> tokens);

  int64_t size() const { return static_cast<int64_t>(tokens_.size()); }
  const std::vector<int32_t>& tokens() const { return tokens_; }

  // inputs, targets: [batch, seq] row-major.
  void train_batch(uint64_t seed, int64_t step, int64_t rank, int64_t batch, int64_t seq,
                   int32_t* inputs, int32_t* targets) const;
  // Number of evaluation windows of length seq covering the split.
  int64_t eval_windows(int64_t seq) const;
  // Window w: inputs/targets of length returned (<= seq).
  int64_t eval_window(int64_t w, int64_t seq, int32_t* inputs, int32_t* targets) const;

 private:
  std::vector<int32_t> tokens_;
};

}  // namespace dsa::data
