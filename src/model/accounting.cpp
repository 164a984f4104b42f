#include "model/accounting.h"

#include <algorithm>
#include <cstdio>

#include "model/param_layout.h"

namespace dsa::model {

namespace {

// sum_t min(k, t + 1) over t < T.
double attended_pairs(int64_t seq, int64_t k) {
  const int64_t full = std::min(k, seq);  // rows t < k attend to t + 1 keys
  return double(full) * double(full + 1) / 2.0 + double(seq - full) * double(k);
}

int64_t sparse_width(const config::Config& cfg) {
  int64_t width = 0;
  for (const config::StageConfig& stage : cfg.stages)
    if (stage.kind == config::StageKind::sparse) width = std::max(width, std::min(cfg.stage_k(stage), cfg.model.seq_len));
  return width;
}

}  // namespace

LayerAccounting account_layer(const config::Config& cfg) {
  const config::ModelConfig& m = cfg.model;
  const double B = double(cfg.train.batch_size), T = double(m.seq_len);
  const double H = double(m.n_heads), Dh = double(m.head_dim());
  LayerAccounting a;
  a.attention_params = (m.n_heads + 2 * m.n_kv_heads) * m.head_dim() * m.d_model +
                       m.n_heads * m.head_dim() * m.d_model;
  a.dense_pairs = attended_pairs(m.seq_len, m.seq_len);
  a.list_width = sparse_width(cfg);
  a.sparse_pairs = a.list_width > 0 ? attended_pairs(m.seq_len, a.list_width) : 0.0;
  a.attention_projection_flops = 6.0 * B * T * double(a.attention_params);
  a.attention_dense_flops = 14.0 * B * a.dense_pairs * Dh * H;
  a.attention_sparse_flops = 14.0 * B * a.sparse_pairs * Dh * H;
  if (!cfg.has_indexer()) return a;
  const config::IndexerConfig& ix = cfg.indexer;
  const double HIdI = double(ix.heads * ix.dim);
  a.indexer_params = indexer_projection_rows(ix) * m.d_model;
  const double projection = 4.0 * B * T * double(a.indexer_params);
  const double scores_forward = 2.0 * B * a.dense_pairs * HIdI;
  a.indexer_warmup_flops = projection + scores_forward + 4.0 * B * a.dense_pairs * HIdI +
                           2.0 * B * a.dense_pairs * Dh * H;
  a.indexer_sparse_flops = projection + scores_forward + 4.0 * B * a.sparse_pairs * HIdI +
                           2.0 * B * a.sparse_pairs * Dh * H;
  a.indexer_scratch_bytes = 3.0 * B * T * T * 4.0;
  a.lists_bytes = B * T * double(cfg.max_list_width()) * 4.0;
  return a;
}

std::string describe(const LayerAccounting& a, const config::Config& cfg) {
  char text[1024];
  const double G = 1e-9, MiB = 1.0 / (1 << 20);
  int n = std::snprintf(
      text, sizeof text,
      "per layer, per step (B=%ld x T=%ld, forward+backward):\n"
      "  attention   %9ld params | projections %8.3f GFLOP | core dense %8.3f GFLOP (%.0f pairs/seq)\n",
      long(cfg.train.batch_size), long(cfg.model.seq_len), long(a.attention_params),
      a.attention_projection_flops * G, a.attention_dense_flops * G, a.dense_pairs);
  if (a.list_width > 0)
    n += std::snprintf(text + n, sizeof text - n,
                       "  sparse k=%-4ld core %8.3f GFLOP (%.0f pairs/seq, %.1f%% of dense)\n",
                       long(a.list_width), a.attention_sparse_flops * G, a.sparse_pairs,
                       100.0 * a.sparse_pairs / a.dense_pairs);
  if (a.indexer_params > 0)
    n += std::snprintf(text + n, sizeof text - n,
                       "  indexer %ldx%ld %9ld params (%.1f%% of attention) | warm-up %8.3f GFLOP | "
                       "sparse %8.3f GFLOP | scratch %.1f MiB shared | lists %.1f MiB/layer\n",
                       long(cfg.indexer.heads), long(cfg.indexer.dim), long(a.indexer_params),
                       100.0 * double(a.indexer_params) / double(a.attention_params),
                       a.indexer_warmup_flops * G, a.indexer_sparse_flops * G,
                       a.indexer_scratch_bytes * MiB, a.lists_bytes * MiB);
  return std::string(text, std::min<size_t>(n, sizeof text - 1));
}

}  // namespace dsa::model
