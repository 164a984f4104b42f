// Autoregressive sampling: temperature, nucleus (top-p) filtering, Philox-seeded draws so the same
// seed gives the same text. The context is the last seq_len tokens (no KV cache: the model's
// forward is recomputed per token, fine for the model sizes sampled on the CPU).
#pragma once
#include <cstdint>
#include <vector>

#include "model/model.h"

namespace dsa::train {

struct SampleOptions {
  int64_t max_new_tokens = 200;
  double temperature = 0.8;  // 0: greedy
  double top_p = 0.95;       // 1: no nucleus filtering
  uint64_t seed = 1;
};

// Returns prompt followed by the generated tokens. The prompt must hold at least one token.
std::vector<int32_t> sample(model::Model<float>& model, std::vector<int32_t> tokens,
                            const SampleOptions& options);

// Picks one token from logits (exposed for tests): temperature, top-p, then a draw in [0, 1).
int32_t pick_token(const float* logits, int64_t vocab, double temperature, double top_p,
                   double uniform);

}  // namespace dsa::train
