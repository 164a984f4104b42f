// dsatrain bench --attention: the timed rows. The attention kernels alone, forward + backward,
// dense causal against sparse attention over synthetic index lists (uniformly random causal
// lists, no locality, the hard case; and sliding-window lists), through the backend table of the
// chosen twin; then, separately, selection (top-k over a random score buffer) and the lightning
// indexer's score forward; then the DSA-block table (indexer, selection and sparse attention of
// one layer against dense attention, at each T, per indexer and Hkv).
#include <algorithm>
#include <cstdio>
#include <vector>

#include "cli/bench_attention.h"
#include "core/error.h"
#include "core/philox.h"
#include "core/timer.h"

namespace dsa::cli::attention_bench {

namespace {

constexpr int64_t kCpuSingleRepDenseSeq = 8192;  // CPU dense rows from this T: 1 timed rep (minutes each)

// One allocation in the backend's memory (device memory for the CUDA twin), released at scope end.
class Buffer {
 public:
  Buffer(const ops::MemoryOps& memory, size_t bytes, const char* what) : memory_(memory) {
    base_ = memory.allocator.allocate(std::max<size_t>(bytes, 64));
    DSA_CHECK(base_ != nullptr, "bench --attention: cannot allocate ", bytes, " bytes of ", memory.allocator.name,
              " memory for ", what);
  }
  ~Buffer() { memory_.allocator.release(base_); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  template <class T>
  T* as() const { return static_cast<T*>(base_); }

 private:
  const ops::MemoryOps& memory_;
  void* base_ = nullptr;
};

// Seconds of `fn` on the context's stream: everything queued before is waited for first, and the
// clock stops once the stream is idle again (host timer around synchronize: on the GPU this
// includes the launch and one stream synchronisation, ~10-50 us, on top of the kernels).
template <class F>
double time_on(const ops::Backend<float>& backend, const ops::Context& ctx, F&& fn) {
  backend.memory.synchronize(ctx);
  const Timer timer;
  fn();
  backend.memory.synchronize(ctx);
  return timer.seconds();
}

// CPU: the best of the timed reps; GPU: their median.
double summarize(std::vector<double> times, bool median) {
  std::sort(times.begin(), times.end());
  if (!median || times.size() == 1) return times.front();
  const size_t n = times.size();
  return n % 2 ? times[n / 2] : 0.5 * (times[n / 2 - 1] + times[n / 2]);
}

// Milliseconds of `fn`: 1 warm-up, then `reps` timed, summarised as the plan says.
template <class F>
double time_reps(const Plan& plan, const ops::Context& ctx, int64_t reps, F&& fn) {
  std::vector<double> times;
  for (int64_t rep = 0; rep < 1 + reps; ++rep) {
    const double t = time_on(*plan.backend, ctx, fn);
    if (rep > 0) times.push_back(t);
  }
  return 1e3 * summarize(times, plan.gpu);
}

// Fills `buffer` with `count` standard normals of Philox stream (stream, seq).
void upload_normal(const ops::MemoryOps& memory, const ops::Context& ctx, const Buffer& buffer, int64_t count,
                   int stream, int64_t seq) {
  std::vector<float> host(count);
  for (int64_t i = 0; i < count; ++i) host[i] = philox_normal(stream, seq, i);
  memory.to_device(ctx, buffer.as<void>(), host.data(), count * sizeof(float));
}

// Row t holds min(k, t+1) keys s <= t, ascending, then -1 padding. random: distinct keys drawn
// uniformly with Philox (Floyd's algorithm); window: the last min(k, t+1) keys.
std::vector<int32_t> make_lists(int64_t seq, int64_t width, bool random) {
  std::vector<int32_t> lists(seq * width, -1);  // (T, k)
  std::vector<int32_t> chosen;
  std::vector<char> taken(seq, 0);
  for (int64_t t = 0; t < seq; ++t) {
    const int64_t n = std::min(width, t + 1);
    int32_t* row = lists.data() + t * width;
    if (!random || n == t + 1) {
      for (int64_t j = 0; j < n; ++j) row[j] = int32_t(t + 1 - n + j);
      continue;
    }
    chosen.clear();
    uint64_t draw = 0;
    for (int64_t m = t + 1 - n; m <= t; ++m) {  // Floyd: n distinct values from [0, t]
      const auto r = int64_t(philox_below(20240604, uint64_t(seq) * 1000003 + t, draw++, uint64_t(m + 1)));
      const int64_t pick = taken[r] ? m : r;
      taken[pick] = 1;
      chosen.push_back(int32_t(pick));
    }
    std::sort(chosen.begin(), chosen.end());
    for (int64_t j = 0; j < n; ++j) row[j] = chosen[j], taken[chosen[j]] = 0;
  }
  return lists;
}

// B = 1, H = kHeads query heads and `kv_heads` key/value heads of kHeadDim, in separate q, k, v
// buffers.
ops::AttentionShape attention_shape(int64_t seq, int64_t kv_heads) {
  return {1, seq, kHeads, kv_heads, kHeadDim, kHeads * kHeadDim, kv_heads * kHeadDim};
}

// B = 1, in separate qI, kI, w buffers.
ops::IndexerShape indexer_shape(int64_t seq, IndexerSize indexer) {
  return {1, seq, indexer.heads, indexer.dim, indexer.heads * indexer.dim, indexer.dim, indexer.heads};
}

// The attention rows, grouped by T (the inputs of one T are drawn and uploaded once).
std::vector<AttentionRow> plan_attention_rows(const Plan& plan) {
  std::vector<AttentionRow> rows;
  for (int64_t seq : plan.seqs) {
    rows.push_back({seq, 0, "dense"});
    rows.back().pairs = double(seq) * double(seq + 1) / 2;
    for (int64_t k : plan.widths)
      for (const char* kind : {"random", "window"}) {
        AttentionRow row{seq, k, kind};
        for (int64_t t = 0; t < seq; ++t) row.pairs += double(std::min(k, t + 1));
        rows.push_back(row);
      }
  }
  return rows;
}

// The backend's buffers for the attention rows, sized for the largest T and k.
struct AttentionBuffers {
  AttentionBuffers(const ops::MemoryOps& mem, int64_t max_seq, int64_t max_k)
      : q(mem, bytes(max_seq), "q"), k(mem, bytes(max_seq), "k"), v(mem, bytes(max_seq), "v"),
        dout(mem, bytes(max_seq), "dout"), out(mem, bytes(max_seq), "out"),
        lse(mem, kHeads * max_seq * sizeof(float), "lse"), dq(mem, bytes(max_seq), "dq"), dk(mem, bytes(max_seq), "dk"),
        dv(mem, bytes(max_seq), "dv"), lists(mem, max_seq * max_k * sizeof(int32_t), "index lists") {}
  static size_t bytes(int64_t seq) { return seq * kHeads * kHeadDim * sizeof(float); }
  Buffer q, k, v, dout, out;  // (T, H, Dh) each
  Buffer lse;                 // (H, T)
  Buffer dq, dk, dv;          // (T, H, Dh) each
  Buffer lists;               // (T, k) int32
};

// Times one attention row (its inputs already uploaded) and returns its index lists (empty for dense).
std::vector<int32_t> time_attention_row(const Plan& plan, const ops::Context& ctx, const AttentionBuffers& buf,
                                        AttentionRow& row) {
  const ops::Backend<float>& be = *plan.backend;
  const bool dense = row.kind == "dense";
  std::vector<int32_t> lists;
  if (!dense) {
    lists = make_lists(row.seq, row.k, row.kind == "random");
    be.memory.to_device(ctx, buf.lists.as<void>(), lists.data(), lists.size() * sizeof(int32_t));
  }
  const ops::AttentionShape shape = attention_shape(row.seq, kHeads);
  const ops::IndexLists index{buf.lists.as<int32_t>(), row.k};
  float *q = buf.q.as<float>(), *k = buf.k.as<float>(), *v = buf.v.as<float>();
  float *out = buf.out.as<float>(), *lse = buf.lse.as<float>(), *dout = buf.dout.as<float>();
  float *dq = buf.dq.as<float>(), *dk = buf.dk.as<float>(), *dv = buf.dv.as<float>();
  const int64_t timed = !plan.gpu && dense && row.seq >= kCpuSingleRepDenseSeq ? 1 : plan.reps;
  std::vector<double> fwd, bwd;
  for (int64_t rep = 0; rep < 1 + timed; ++rep) {  // forward and backward alternate, as in training
    const double f = time_on(be, ctx, [&] {
      if (dense) be.attention_forward(ctx, out, lse, q, k, v, shape);
      else be.sparse_attention_forward(ctx, out, lse, q, k, v, index, shape);
    });
    const double b = time_on(be, ctx, [&] {
      if (dense) be.attention_backward(ctx, dq, dk, dv, dout, out, lse, q, k, v, shape);
      else be.sparse_attention_backward(ctx, dq, dk, dv, dout, out, lse, q, k, v, index, shape);
    });
    if (rep > 0) fwd.push_back(f), bwd.push_back(b);
  }
  row.fwd_ms = 1e3 * summarize(fwd, plan.gpu), row.bwd_ms = 1e3 * summarize(bwd, plan.gpu);
  std::fprintf(stderr, "bench --attention: T=%ld k=%ld %s fwd %.3f ms bwd %.3f ms\n", long(row.seq), long(row.k),
               row.kind.c_str(), row.fwd_ms, row.bwd_ms);
  return lists;
}

// Times every attention row; returns the sparse rows' lists.
ListsByRow time_attention_rows(const Plan& plan, const ops::Context& ctx, std::vector<AttentionRow>& rows) {
  const ops::MemoryOps& mem = plan.backend->memory;
  const int64_t max_seq = *std::max_element(plan.seqs.begin(), plan.seqs.end());
  const int64_t max_k = *std::max_element(plan.widths.begin(), plan.widths.end());
  const AttentionBuffers buf(mem, max_seq, max_k);
  ListsByRow all_lists;
  for (int64_t seq : plan.seqs) {
    const int64_t n = seq * kHeads * kHeadDim;
    int stream = 11;
    for (const Buffer* input : {&buf.q, &buf.k, &buf.v, &buf.dout}) upload_normal(mem, ctx, *input, n, stream++, seq);
    for (AttentionRow& row : rows) {
      if (row.seq != seq) continue;
      std::vector<int32_t> lists = time_attention_row(plan, ctx, buf, row);
      if (row.kind != "dense") all_lists[{seq, row.k, row.kind}] = std::move(lists);
    }
  }
  return all_lists;
}

// Random scores in (0, 1], 24 bits (Philox, four per block): the top-k rows' input.
void upload_random_scores(const ops::MemoryOps& mem, const ops::Context& ctx, const Buffer& scores, int64_t seq) {
  std::vector<float> host(seq * seq);  // (T, T)
  for (int64_t i = 0; i < seq * seq; i += 4) {
    const Philox4 r = philox4x32(31, uint64_t(seq), uint64_t(i / 4));
    for (int64_t j = 0; j < 4 && i + j < seq * seq; ++j) host[i + j] = philox_uniform(r.v[j]);
  }
  mem.to_device(ctx, scores.as<void>(), host.data(), host.size() * sizeof(float));
}

// Selection and indexer, timed separately: the indexer's score forward (HI, dI, with weights)
// over all causal pairs, and top-k over a random [1, T, T] score buffer.
std::vector<SelectRow> time_selection_rows(const Plan& plan, const ops::Context& ctx) {
  const ops::Backend<float>& be = *plan.backend;
  const ops::MemoryOps& mem = be.memory;
  const int64_t max_seq = *std::max_element(plan.seqs.begin(), plan.seqs.end());
  const int64_t max_k = *std::max_element(plan.widths.begin(), plan.widths.end());
  const size_t fbytes = sizeof(float);
  const Buffer scores(mem, max_seq * max_seq * fbytes, "the [T, T] scores");                 // (T, T)
  const Buffer indices(mem, max_seq * max_k * sizeof(int32_t), "the selected lists");        // (T, k)
  const Buffer qi(mem, max_seq * kIndexerHeads * kIndexerDim * fbytes, "indexer q");          // (T, HI, dI)
  const Buffer ki(mem, max_seq * kIndexerDim * fbytes, "indexer k");                          // (T, dI)
  const Buffer wi(mem, max_seq * kIndexerHeads * fbytes, "indexer w");                        // (T, HI)
  std::vector<SelectRow> rows;
  for (int64_t seq : plan.seqs) {
    const ops::IndexerShape shape = indexer_shape(seq, {kIndexerHeads, kIndexerDim});
    upload_normal(mem, ctx, qi, seq * kIndexerHeads * kIndexerDim, 21, seq);
    upload_normal(mem, ctx, ki, seq * kIndexerDim, 22, seq);
    upload_normal(mem, ctx, wi, seq * kIndexerHeads, 23, seq);
    rows.push_back({seq, 0, "indexer_fwd", time_reps(plan, ctx, plan.reps, [&] {
                      be.indexer_forward(ctx, scores.as<float>(), qi.as<float>(), ki.as<float>(), wi.as<float>(), shape);
                    })});
    std::fprintf(stderr, "bench --attention: T=%ld indexer forward %.3f ms\n", long(seq), rows.back().ms);
    upload_random_scores(mem, ctx, scores, seq);
    for (int64_t width : plan.widths) {
      rows.push_back({seq, width, "topk", time_reps(plan, ctx, plan.reps, [&] {
                        be.topk_select(ctx, indices.as<int32_t>(), scores.as<float>(), {1, seq, width});
                      })});
      std::fprintf(stderr, "bench --attention: T=%ld k=%ld top-k %.3f ms\n", long(seq), long(width), rows.back().ms);
    }
  }
  return rows;
}

// The workspace from the twin's own workspace function, for the attention, the sparse attention
// at the widest lists, top-k and the indexer (the CUDA twin sizes the DSA ops only when the
// indexer shape is set), at every shape of both tables.
size_t workspace_bytes(const Plan& plan) {
  const int64_t max_seq = *std::max_element(plan.seqs.begin(), plan.seqs.end());
  const int64_t max_k = std::max(*std::max_element(plan.widths.begin(), plan.widths.end()), plan.dsa_k);
  std::vector<IndexerSize> indexers = plan.dsa_indexers;
  indexers.push_back({kIndexerHeads, kIndexerDim});
  std::vector<int64_t> kv_heads = plan.dsa_kv_heads;
  kv_heads.push_back(kHeads);
  size_t bytes = 0;
  for (const IndexerSize& indexer : indexers)
    for (int64_t hkv : kv_heads) {
      ops::WorkspaceQuery query{};
      query.attention = attention_shape(max_seq, hkv);
      query.rows = max_seq;
      query.max_dim = kHeads * kHeadDim;
      query.max_elements = max_seq * kHeads * kHeadDim;
      query.indexer = indexer_shape(max_seq, indexer);
      query.list_width = max_k;
      bytes = std::max(bytes, plan.backend->workspace_bytes(query, sizeof(float)));
    }
  return bytes;
}

// ---- the DSA-block table ----

// The indexer's inputs for one T: qI [T, HI*dI], kI [T, dI], w [T, HI], and its [T, T] scores.
struct IndexerBuffers {
  IndexerBuffers(const ops::MemoryOps& mem, int64_t max_seq, IndexerSize largest)
      : q(mem, max_seq * largest.heads * largest.dim * sizeof(float), "indexer q"),
        k(mem, max_seq * largest.dim * sizeof(float), "indexer k"),
        w(mem, max_seq * largest.heads * sizeof(float), "indexer w"),
        scores(mem, max_seq * max_seq * sizeof(float), "the [T, T] scores") {}
  Buffer q, k, w, scores;
};

// Times dense attention at (T, Hkv) into the row's dense columns.
void time_dense(const Plan& plan, const ops::Context& ctx, const AttentionBuffers& buf, DsaBlockRow& row) {
  const ops::Backend<float>& be = *plan.backend;
  const ops::AttentionShape shape = attention_shape(row.seq, row.kv_heads);
  float *q = buf.q.as<float>(), *k = buf.k.as<float>(), *v = buf.v.as<float>();
  float *out = buf.out.as<float>(), *lse = buf.lse.as<float>(), *dout = buf.dout.as<float>();
  float *dq = buf.dq.as<float>(), *dk = buf.dk.as<float>(), *dv = buf.dv.as<float>();
  const int64_t reps = !plan.gpu && row.seq >= kCpuSingleRepDenseSeq ? 1 : plan.reps;
  row.dense_fwd_ms = time_reps(plan, ctx, reps, [&] { be.attention_forward(ctx, out, lse, q, k, v, shape); });
  row.dense_bwd_ms = time_reps(plan, ctx, reps, [&] {
    be.attention_backward(ctx, dq, dk, dv, dout, out, lse, q, k, v, shape);
  });
}

// Times sparse attention at (T, Hkv) over the lists in buf.lists into the row's sparse columns.
void time_sparse(const Plan& plan, const ops::Context& ctx, const AttentionBuffers& buf, DsaBlockRow& row) {
  const ops::Backend<float>& be = *plan.backend;
  const ops::AttentionShape shape = attention_shape(row.seq, row.kv_heads);
  const ops::IndexLists lists{buf.lists.as<int32_t>(), row.k};
  float *q = buf.q.as<float>(), *k = buf.k.as<float>(), *v = buf.v.as<float>();
  float *out = buf.out.as<float>(), *lse = buf.lse.as<float>(), *dout = buf.dout.as<float>();
  float *dq = buf.dq.as<float>(), *dk = buf.dk.as<float>(), *dv = buf.dv.as<float>();
  row.sparse_fwd_ms = time_reps(plan, ctx, plan.reps, [&] {
    be.sparse_attention_forward(ctx, out, lse, q, k, v, lists, shape);
  });
  row.sparse_bwd_ms = time_reps(plan, ctx, plan.reps, [&] {
    be.sparse_attention_backward(ctx, dq, dk, dv, dout, out, lse, q, k, v, lists, shape);
  });
}

// The rows of one T: dense attention per Hkv; per indexer its scores and top-k (the lists), then
// sparse attention over those lists per Hkv.
void time_dsa_blocks_at(const Plan& plan, const ops::Context& ctx, const AttentionBuffers& att,
                        const IndexerBuffers& ix, int64_t seq, std::vector<DsaBlockRow>& rows) {
  const ops::Backend<float>& be = *plan.backend;
  const ops::MemoryOps& mem = be.memory;
  const int64_t k = std::min(plan.dsa_k, seq);
  int stream = 41;
  for (const Buffer* input : {&att.q, &att.k, &att.v, &att.dout})
    upload_normal(mem, ctx, *input, seq * kHeads * kHeadDim, stream++, seq);
  std::vector<DsaBlockRow> dense;
  for (int64_t hkv : plan.dsa_kv_heads) {
    dense.push_back({seq, k, {0, 0}, hkv});
    time_dense(plan, ctx, att, dense.back());
  }
  for (const IndexerSize& indexer : plan.dsa_indexers) {
    const ops::IndexerShape shape = indexer_shape(seq, indexer);
    upload_normal(mem, ctx, ix.q, seq * indexer.heads * indexer.dim, 51, seq);
    upload_normal(mem, ctx, ix.k, seq * indexer.dim, 52, seq);
    upload_normal(mem, ctx, ix.w, seq * indexer.heads, 53, seq);
    float *qi = ix.q.as<float>(), *ki = ix.k.as<float>(), *wi = ix.w.as<float>(), *scores = ix.scores.as<float>();
    const double indexer_ms = time_reps(plan, ctx, plan.reps, [&] { be.indexer_forward(ctx, scores, qi, ki, wi, shape); });
    const double select_ms = time_reps(plan, ctx, plan.reps, [&] {
      be.topk_select(ctx, att.lists.as<int32_t>(), scores, {1, seq, k});
    });
    for (const DsaBlockRow& dense_row : dense) {
      DsaBlockRow row = dense_row;
      row.indexer = indexer, row.indexer_ms = indexer_ms, row.select_ms = select_ms;
      time_sparse(plan, ctx, att, row);
      std::fprintf(stderr, "bench --attention: DSA block T=%ld k=%ld indexer %ldx%ld hkv %ld: %.3f ms, dense %.3f ms\n",
                   long(seq), long(k), long(indexer.heads), long(indexer.dim), long(row.kv_heads), row.dsa_ms(),
                   row.dense_ms());
      rows.push_back(row);
    }
  }
}

std::vector<DsaBlockRow> time_dsa_blocks(const Plan& plan, const ops::Context& ctx) {
  const int64_t max_seq = *std::max_element(plan.seqs.begin(), plan.seqs.end());
  IndexerSize largest{1, 1};
  for (const IndexerSize& indexer : plan.dsa_indexers)
    largest = {std::max(largest.heads, indexer.heads), std::max(largest.dim, indexer.dim)};
  const AttentionBuffers att(plan.backend->memory, max_seq, plan.dsa_k);
  const IndexerBuffers ix(plan.backend->memory, max_seq, largest);
  std::vector<DsaBlockRow> rows;
  for (int64_t seq : plan.seqs) time_dsa_blocks_at(plan, ctx, att, ix, seq, rows);
  return rows;
}

}  // namespace

TimedRows time_rows(const Plan& plan) {
  const ops::Backend<float>& be = *plan.backend;
  const size_t ws_bytes = workspace_bytes(plan);
  const Buffer workspace(be.memory, ws_bytes, "the workspace");
  ops::Context ctx = be.make_context();
  ctx.workspace = workspace.as<void>();
  ctx.workspace_bytes = ws_bytes;
  TimedRows timed;
  timed.attention = plan_attention_rows(plan);
  timed.lists = time_attention_rows(plan, ctx, timed.attention);
  timed.selection = time_selection_rows(plan, ctx);
  const bool emulated = be.device == ops::Device::cuda && !plan.gpu;
  if (!emulated) timed.dsa_blocks = time_dsa_blocks(plan, ctx);
  return timed;
}

}  // namespace dsa::cli::attention_bench
