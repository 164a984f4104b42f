#include "train/evaluate.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace dsa::train {

namespace {

struct EvalTotals {
  double nats = 0, bytes = 0;
  int64_t tokens = 0, correct = 0;
  double mass_recall = 0, overlap = 0;  // sums over layers and rows
  int64_t metric_rows = 0;
};

template <class T>
void add_batch(model::Model<T>& model, const std::vector<int32_t>& inputs,
               const std::vector<int32_t>& targets, int64_t rows, int64_t seq,
               const std::vector<int32_t>& token_bytes, bool measure, EvalTotals& totals) {
  model::ForwardOptions options;
  options.predictions = true;
  options.selection_metrics = measure && model.mode() != model::AttentionMode::dense;
  totals.nats += model.forward(inputs.data(), targets.data(), rows, seq, options);
  const model::DsaStats& stats = model.dsa_stats();
  totals.mass_recall += stats.mass_recall_sum;
  totals.overlap += stats.overlap_sum;
  totals.metric_rows += stats.metric_rows;
  std::vector<T> losses;
  std::vector<int32_t> predictions;
  model.read_token_losses(losses, predictions);
  for (int64_t i = 0; i < rows * seq; ++i) {
    totals.correct += predictions[i] == targets[i];
    if (!token_bytes.empty()) totals.bytes += token_bytes[targets[i]];
  }
  totals.tokens += rows * seq;
}

}  // namespace

template <class T>
EvalResult evaluate(model::Model<T>& model, const data::TokenLoader& split,
                    const std::vector<int32_t>& token_bytes, int64_t batch, int64_t max_windows,
                    int64_t metric_windows) {
  const int64_t seq = model.config().seq_len;
  const int64_t available = split.eval_windows(seq);
  const int64_t windows = max_windows > 0 ? std::min(max_windows, available) : available;
  EvalTotals totals;
  std::vector<int32_t> inputs(batch * seq), targets(batch * seq);
  int64_t rows = 0;
  for (int64_t w = 0; w < windows; ++w) {
    const int64_t length = split.eval_window(w, seq, inputs.data() + rows * seq, targets.data() + rows * seq);
    if (length < seq) {  // the split's short last window runs on its own at its own length
      std::vector<int32_t> tail_in(inputs.begin() + rows * seq, inputs.begin() + rows * seq + length);
      std::vector<int32_t> tail_tg(targets.begin() + rows * seq, targets.begin() + rows * seq + length);
      add_batch(model, tail_in, tail_tg, 1, length, token_bytes, w < metric_windows, totals);
      continue;
    }
    if (++rows == batch) {  // measured when the batch's first window is among the first ones
      add_batch(model, inputs, targets, rows, seq, token_bytes, w + 1 - rows < metric_windows,
                totals);
      rows = 0;
    }
  }
  if (rows > 0)
    add_batch(model, inputs, targets, rows, seq, token_bytes, windows - rows < metric_windows,
              totals);
  EvalResult result;
  result.tokens = totals.tokens;
  result.bytes = totals.bytes;
  result.loss = totals.nats / std::max<int64_t>(1, totals.tokens);
  result.ppl = std::exp(result.loss);
  result.acc = static_cast<double>(totals.correct) / std::max<int64_t>(1, totals.tokens);
  result.bpb = totals.bytes > 0 ? totals.nats / (std::numbers::ln2 * totals.bytes) : 0.0;
  if (totals.metric_rows > 0) {
    result.mass_recall = totals.mass_recall / double(totals.metric_rows);
    result.topk_overlap = totals.overlap / double(totals.metric_rows);
  }
  return result;
}

template EvalResult evaluate<float>(model::Model<float>&, const data::TokenLoader&,
                                    const std::vector<int32_t>&, int64_t, int64_t, int64_t);
template EvalResult evaluate<double>(model::Model<double>&, const data::TokenLoader&,
                                     const std::vector<int32_t>&, int64_t, int64_t, int64_t);

}  // namespace dsa::train
