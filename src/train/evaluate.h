// Evaluation on a token split (docs/design.md §6 metrics): val_loss (mean nats per predicted token),
// val_bpb (summed nats / (ln 2 * bytes those target tokens decode to)), val_ppl = exp(val_loss),
// val_acc (share of targets equal to the argmax prediction); for a model in warmup or sparse
// mode also attn_mass_recall and topk_overlap (model/selection_metrics.h, averaged over layers and
// rows), measured with a dense pass on the first `metric_windows` windows only.
#pragma once
#include <cstdint>
#include <optional>
#include <vector>

#include "data/loader.h"
#include "model/model.h"

namespace dsa::train {

struct EvalResult {
  double loss = 0, bpb = 0, ppl = 0, acc = 0;
  int64_t tokens = 0;
  double bytes = 0;  // 0 when token byte lengths are unknown (no tokenizer): bpb is then absent
  std::optional<double> mass_recall, topk_overlap;  // DSA modes only
};

// max_windows == 0 evaluates every window of the split (the final evaluation); otherwise the first
// max_windows windows. token_bytes[id] is the byte length of token id (empty: unknown).
template <class T>
EvalResult evaluate(model::Model<T>& model, const data::TokenLoader& split,
                    const std::vector<int32_t>& token_bytes, int64_t batch, int64_t max_windows,
                    int64_t metric_windows = 0);

}  // namespace dsa::train
