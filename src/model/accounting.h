// Parameter, FLOP and memory accounting per layer for the attention and the lightning indexer
// (docs/design.md §4; FLOP conventions of docs/kernels.md §K2). Printed by `dsatrain train` at start, written to
// summary.json, and printed by `dsatrain bench`, so that every indexer variant and k states what
// it costs next to what it buys.
//
// FLOPs are per layer and per training step (batch B of sequences of T = seq_len tokens, forward
// plus backward), with pairs = T(T+1)/2 causal pairs per sequence (dense) or sum_t min(k, t+1)
// (sparse, k of the sparse stage):
//   attention projections   6 T P_attn                         (P_attn = (H + 2Hkv) Dh D + H Dh D)
//   attention core          14 pairs Dh H                      (forward 4, backward 10)
//   indexer projection      4 T P_ix                           (forward 2, weight gradient 2: the
//                                                               input is detached)
//   indexer scores          2 pairs_all HI dI forward + 4 pairs_trained HI dI backward
//                           (pairs_all: the indexer scores every causal pair; pairs_trained: s <= t in
//                           warm-up, S_t in the sparse stage — the CPU twin's backward still walks
//                           every causal pair, the count is of useful work)
//   indexer loss target     2 pairs_domain Dh H                (q.k recomputed for p)
// each multiplied by B. Memory: the indexer's scratch (scores, their gradient, the metrics' target,
// [B, T, T] each, shared by all layers) and the index lists saved per layer ([B, T, k] int32).
#pragma once
#include <cstdint>
#include <string>

#include "config/config.h"

namespace dsa::model {

struct LayerAccounting {
  int64_t attention_params = 0, indexer_params = 0;
  int64_t list_width = 0;                      // k of the sparse stage (0: no sparse stage)
  double dense_pairs = 0, sparse_pairs = 0;    // per sequence
  double attention_projection_flops = 0;       // per step, forward + backward
  double attention_dense_flops = 0, attention_sparse_flops = 0;
  double indexer_warmup_flops = 0, indexer_sparse_flops = 0;  // projection + scores + loss
  double indexer_scratch_bytes = 0;            // shared by all layers
  double lists_bytes = 0;                      // saved per layer
};

LayerAccounting account_layer(const config::Config& config);

// A few lines: the table above with its numbers (GFLOP per step, MiB), for terminals and logs.
std::string describe(const LayerAccounting& a, const config::Config& config);

}  // namespace dsa::model
