#include "train/sample.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "core/philox.h"

namespace dsa::train {

int32_t pick_token(const float* logits, int64_t vocab, double temperature, double top_p,
                   double uniform) {
  if (temperature <= 0.0) return static_cast<int32_t>(std::max_element(logits, logits + vocab) - logits);
  const double max_logit = *std::max_element(logits, logits + vocab);
  std::vector<double> probs(vocab);
  double total = 0;
  for (int64_t v = 0; v < vocab; ++v) total += probs[v] = std::exp((logits[v] - max_logit) / temperature);
  std::vector<int32_t> order(vocab);
  std::iota(order.begin(), order.end(), 0);
  // Most probable first; equal probabilities keep the smaller id first (deterministic).
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return probs[a] > probs[b]; });
  int64_t kept = 0;
  double kept_mass = 0;
  while (kept < vocab && (kept == 0 || kept_mass < top_p * total)) kept_mass += probs[order[kept++]];
  double target = uniform * kept_mass;
  for (int64_t i = 0; i < kept; ++i) {
    target -= probs[order[i]];
    if (target < 0) return order[i];
  }
  return order[kept - 1];
}

std::vector<int32_t> sample(model::Model<float>& model, std::vector<int32_t> tokens,
                            const SampleOptions& options) {
  DSA_CHECK(!tokens.empty(), "sample: the prompt encodes to no tokens");
  const int64_t seq_len = model.config().seq_len, vocab = model.config().vocab_size;
  std::vector<float> logits;
  for (int64_t i = 0; i < options.max_new_tokens; ++i) {
    const int64_t context = std::min<int64_t>(seq_len, static_cast<int64_t>(tokens.size()));
    const int32_t* window = tokens.data() + tokens.size() - context;
    model.forward(window, window, 1, context, 0.0);  // targets unused; the inputs are valid ids
    model.read_logits(logits);
    const double uniform = philox_uniform(philox4x32(options.seed, 0x5a3b1e, i).v[0]) - 1e-9;
    tokens.push_back(pick_token(logits.data() + (context - 1) * vocab, vocab, options.temperature,
                                options.top_p, std::max(0.0, uniform)));
  }
  return tokens;
}

}  // namespace dsa::train
