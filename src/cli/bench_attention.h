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

// What one run times, and on which twin.
struct Plan {
  std::vector<int64_t> seqs;    // --attention-t: the T of the rows
  std::vector<int64_t> widths;  // --attention-k: the k of the sparse rows
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

using ListKey = std::tuple<int64_t, int64_t, std::string>;    // (T, k, kind) of a sparse row
using ListsByRow = std::map<ListKey, std::vector<int32_t>>;  // (T, k) int32, -1 padded

// Everything bench_attention_timing.cpp measured, and the lists it timed (kept for the peer).
struct TimedRows {
  std::vector<AttentionRow> attention;
  std::vector<SelectRow> selection;
  ListsByRow lists;
};

TimedRows time_rows(const Plan& plan);

// Runs the peer (--attention-peer auto|on|off, --attention-python) on the timed lists and fills
// the rows' peer columns; returns the table's "peer: ..." line. Fails only for `on`.
std::string run_peer(const Plan& plan, const std::string& mode, const std::string& python, const ListsByRow& lists,
                     std::vector<AttentionRow>& rows);

}  // namespace attention_bench
}  // namespace dsa::cli
