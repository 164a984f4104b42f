// dsatrain bench --attention, in three files: bench_attention.cpp reads the options and prints the
// header and the tables, bench_attention_timing.cpp times the rows through the backend table,
// bench_attention_peer.cpp runs the PyTorch peer (tools/attention_ref.py) on the same lists.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "cli/options.h"
#include "ops/backend.h"

namespace dsa::cli {

int bench_attention(const ParsedOptions& options);  // the command: bench_attention.cpp

namespace attention_bench {

constexpr int64_t kHeads = 8, kHeadDim = 64;            // the attention rows: H = Hkv, Dh (B = 1)
constexpr int64_t kIndexerHeads = 4, kIndexerDim = 64;  // the separately timed indexer: HI, dI

// A lightning indexer of the DSA-block table: HI heads of width dI.
struct IndexerSize {
  int64_t heads, dim;
};

// What one run times, and on which twin.
struct Plan {
  std::vector<int64_t> seqs;    // --attention-t: the T of the rows (and of the DSA-block table)
  std::vector<int64_t> widths;  // --attention-k: the k of the sparse rows
  int64_t dsa_k = 256;                    // --attention-dsa-k
  std::vector<IndexerSize> dsa_indexers;  // --attention-dsa-indexers
  std::vector<int64_t> dsa_kv_heads;      // --attention-dsa-hkv
  int64_t reps = 1;             // timed reps per row after 1 warm-up
  const ops::Backend<float>* backend = nullptr;
  bool gpu = false;  // a real GPU: median timing, device ceilings, the PyTorch peer on CUDA
  std::string device_description;
};

// One row of the attention table: dense (k = 0) or sparse over random or window lists.
struct AttentionRow {
  int64_t seq, k;  // k = 0 for dense
  std::string kind;  // "dense", "random" or "window"
  double fwd_ms = 0, bwd_ms = 0;
  double pairs = 0;  // attended (query, key) pairs: sum_t min(k, t+1), dense T(T+1)/2
  double peer_fwd_ms = -1, peer_bwd_ms = -1;  // -1: the peer gave no time
  std::string peer_note = "-";                // the peer's reason for skipping the row
};

// One row of the separate selection/indexer table.
struct SelectRow {
  int64_t seq, k;  // k = 0 for the indexer
  std::string op;  // "indexer_fwd" or "topk"
  double ms = 0;
};

// One row of the DSA-block table: the whole sparse path of one layer's attention (lightning
// indexer scores, top-k selection, sparse attention forward and backward over the selected lists)
// against dense causal attention forward and backward, at the same T, H and Hkv.
struct DsaBlockRow {
  int64_t seq, k;
  IndexerSize indexer;
  int64_t kv_heads;
  double indexer_ms = 0, select_ms = 0;          // the indexer's scores; top-k over them
  double sparse_fwd_ms = 0, sparse_bwd_ms = 0;   // sparse attention over the selected lists
  double dense_fwd_ms = 0, dense_bwd_ms = 0;     // dense causal attention, same H, Hkv
  double dsa_ms() const { return indexer_ms + select_ms + sparse_fwd_ms + sparse_bwd_ms; }
  double dense_ms() const { return dense_fwd_ms + dense_bwd_ms; }
};

using ListKey = std::tuple<int64_t, int64_t, std::string>;    // (T, k, kind) of a sparse row
using ListsByRow = std::map<ListKey, std::vector<int32_t>>;  // (T, k) int32, -1 padded

// Everything bench_attention_timing.cpp measured, and the lists it timed (kept for the peer).
struct TimedRows {
  std::vector<AttentionRow> attention;
  std::vector<SelectRow> selection;
  std::vector<DsaBlockRow> dsa_blocks;  // empty on the emulated device (its times are not a GPU's)
  ListsByRow lists;
};

TimedRows time_rows(const Plan& plan);

// Runs the peer (--attention-peer auto|on|off, --attention-python) on the timed lists and fills
// the rows' peer columns; returns the table's "peer: ..." line. Fails only for `on`.
std::string run_peer(const Plan& plan, const std::string& mode, const std::string& python, const ListsByRow& lists,
                     std::vector<AttentionRow>& rows);

}  // namespace attention_bench
}  // namespace dsa::cli
