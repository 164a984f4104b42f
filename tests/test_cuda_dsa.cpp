// The CUDA twin of the DeepSeek Sparse Attention ops (cuda/dsa_indexer.cu, cuda/dsa_topk.cu,
// cuda/dsa_sparse_attention.cu with cuda/dsa_index_lists.cu, cuda/dsa_indexer_loss.cu) against the
// CPU twin (cpu/dsa_*.cpp), docs/kernels.md §K1: fresh random inputs per shape (odd T, T across 64-row tile
// edges, k = 1, small k, k >= T, HI = 1 and 4, dI 8 ... 128, weights on and off, GQA groups),
// outputs poisoned with NaN, ||gpu - cpu|| / ||cpu|| <= 1e-5, identical top-k lists from the same
// scores (with many exact ties: zeros, -0.0, repeated values), bit-identical results across two
// runs, causality, and the error cases (a NaN score, lists that break the rules). Every test skips,
// saying why, without the CUDA twin or a GPU.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/philox.h"
#include "cpu/cpu_ops.h"
#include "cuda_test_util.h"
#include "index_lists_util.h"
#include "test_util.h"
#include "cuda_ops.h"

namespace dsa {
namespace {

struct IndexerCase {
  int64_t batch, seq, heads, dim;
  bool weights;
};
std::ostream& operator<<(std::ostream& os, const IndexerCase& c) {
  return os << "B" << c.batch << "_T" << c.seq << "_HI" << c.heads << "_dI" << c.dim
            << (c.weights ? "_w" : "_now");
}

struct SparseCase {
  int64_t batch, seq, heads, kv_heads, head_dim, width;
  bool all_causal;  // every list = {0..t} (width >= T): sparse == dense
  bool empty_rows;  // some rows hold no key
};
std::ostream& operator<<(std::ostream& os, const SparseCase& c) {
  return os << "B" << c.batch << "_T" << c.seq << "_H" << c.heads << "_Hkv" << c.kv_heads << "_Dh"
            << c.head_dim << "_k" << c.width << (c.all_causal ? "_all" : "")
            << (c.empty_rows ? "_empty" : "");
}

template <class P>
std::string case_name(const ::testing::TestParamInfo<P>& info) {
  std::ostringstream stream;
  stream << info.param;
  return stream.str();
}

using test::DeviceArray;
using test::random_vector;
using test::relative_error;
using Floats = std::vector<float>;
using test::Lists;

constexpr double kTolerance = 1e-5;  // fp32 vs fp32 (docs/kernels.md §K1)
// Below this RMS a reference is zero in exact arithmetic and rounding noise in both twins (dq,
// dk of rows with one key: dS = P (dP - delta) = 0); then the GPU's RMS must be small too.
constexpr double kZeroRms = 1e-6;
constexpr double kZeroRmsAttentionGrad = 1e-4;  // attention gradients are O(1) where nonzero
constexpr double kLossFloor = 1e-6;  // |L_I| near 0 (T = 1: one key, KL = 0 up to rounding)
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

void expect_close(const Floats& gpu, const Floats& cpu, const std::string& what,
                  double zero_rms = kZeroRms) {
  ASSERT_EQ(gpu.size(), cpu.size()) << what;
  double cpu_squares = 0, gpu_squares = 0;
  for (size_t i = 0; i < cpu.size(); ++i)
    cpu_squares += double(cpu[i]) * cpu[i], gpu_squares += double(gpu[i]) * gpu[i];
  const double n = double(std::max<size_t>(cpu.size(), 1));
  const double error = relative_error(gpu, cpu);
  if (std::sqrt(cpu_squares / n) < zero_rms && std::isfinite(error)) {
    EXPECT_LT(std::sqrt(gpu_squares / n), zero_rms) << what << " should be zero up to rounding";
    return;
  }
  EXPECT_LE(error, kTolerance) << what;
  std::printf("  %-52s relative error %.2e\n", what.c_str(), error);
}

// As expect_close, but -inf entries (empty rows' lse) must sit at the same places in both.
void expect_close_with_infinities(const Floats& gpu, const Floats& cpu, const std::string& what) {
  Floats gpu_finite, cpu_finite;
  for (size_t i = 0; i < cpu.size(); ++i) {
    if (std::isinf(cpu[i])) {
      EXPECT_EQ(gpu[i], cpu[i]) << what << " entry " << i;
    } else {
      gpu_finite.push_back(gpu[i]);
      cpu_finite.push_back(cpu[i]);
    }
  }
  expect_close(gpu_finite, cpu_finite, what);
}

template <class V>
bool bit_identical(const V& a, const V& b) {
  return a.size() == b.size() &&
         std::memcmp(a.data(), b.data(), a.size() * sizeof(typename V::value_type)) == 0;
}

void expect_error(const std::function<void()>& call, const std::vector<std::string>& needles) {
  try {
    call();
    ADD_FAILURE() << "expected an error mentioning " << needles.front();
  } catch (const Error& e) {
    for (const std::string& needle : needles)
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

// [B, T, T] random scores, NaN where s > t (entries no consumer may read).
Floats causal_random(int64_t batch, int64_t seq, uint64_t seed) {
  Floats values = random_vector<float>(batch * seq * seq, seed);
  for (int64_t row = 0; row < batch * seq; ++row)
    std::fill(values.begin() + row * seq + row % seq + 1, values.begin() + (row + 1) * seq, kNaN);
  return values;
}

// The [B*T, width] elements at `offset` of a buffer with `stride` floats per token.
Floats gather(const Floats& buffer, int64_t offset, int64_t stride, int64_t width, int64_t tokens) {
  Floats part(tokens * width);
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t i = 0; i < width; ++i) part[t * width + i] = buffer[offset + t * stride + i];
  return part;
}

// Entries s <= t of [B, T, T] rows (the causal part).
Floats causal_part(const Floats& square, int64_t batch, int64_t seq) {
  Floats part;
  for (int64_t row = 0; row < batch * seq; ++row)
    part.insert(part.end(), square.begin() + row * seq, square.begin() + row * seq + row % seq + 1);
  return part;
}

// ---- index lists -------------------------------------------------------------------------------

// Random lists: random row lengths; with empty_rows every seventh row holds no key.
Lists random_lists(int64_t batch, int64_t seq, int64_t width, uint64_t seed, bool empty_rows) {
  return test::random_lists(batch, seq, width, seed, test::ListFill::random_count, empty_rows);
}
using test::all_causal_lists;

// ---- indexer -----------------------------------------------------------------------------------

// qI, kI and w inside one fused buffer [B*T, HI*dI + dI + HI], as the model lays them out.
struct IndexerLayout {
  ops::IndexerShape shape;
  int64_t k_offset, w_offset, size;
  explicit IndexerLayout(const IndexerCase& c) {
    const int64_t width = c.heads * c.dim + c.dim + c.heads;
    shape = {c.batch, c.seq, c.heads, c.dim, width, width, width};
    k_offset = c.heads * c.dim;
    w_offset = k_offset + c.dim;
    size = c.batch * c.seq * width;
  }
};

struct IndexerRun {
  Floats scores, grads;  // grads: dq, dk, dw in a buffer laid out like the input
};

IndexerRun cpu_indexer(const IndexerLayout& l, const Floats& buf, const Floats& dscores,
                       bool weights) {
  test::CpuContext c(cpu::indexer_workspace(l.shape, sizeof(float)));
  const int64_t seq = l.shape.seq;
  IndexerRun r{Floats(l.shape.batch * seq * seq, kNaN), Floats(l.size, 0.0f)};
  const float* w = weights ? buf.data() + l.w_offset : nullptr;
  cpu::indexer_forward<float>(c.ctx, r.scores.data(), buf.data(), buf.data() + l.k_offset, w,
                              l.shape);
  cpu::indexer_backward<float>(c.ctx, r.grads.data(), r.grads.data() + l.k_offset,
                               weights ? r.grads.data() + l.w_offset : nullptr, dscores.data(),
                               buf.data(), buf.data() + l.k_offset, w, l.shape);
  return r;
}

IndexerRun gpu_indexer(const IndexerLayout& l, const DeviceArray<float>& buf,
                       const DeviceArray<float>& dscores, bool weights) {
  test::GpuContext gpu;
  const int64_t seq = l.shape.seq;
  DeviceArray<float> scores(l.shape.batch * seq * seq), grads(l.size);  // NaN-poisoned
  const float* w = weights ? buf.get() + l.w_offset : nullptr;
  cuda::backend().indexer_forward(gpu.ctx, scores.get(), buf.get(), buf.get() + l.k_offset, w, l.shape);
  cuda::backend().indexer_backward(gpu.ctx, grads.get(), grads.get() + l.k_offset,
                         weights ? grads.get() + l.w_offset : nullptr, dscores.get(), buf.get(),
                         buf.get() + l.k_offset, w, l.shape);
  return {scores.download(), grads.download()};
}

// ---- attention shapes --------------------------------------------------------------------------

// q, k, v inside one fused buffer [B*T, (H + 2 Hkv) Dh].
struct QkvLayout {
  ops::AttentionShape shape;
  int64_t k_offset, v_offset, size, out_size, lse_size;
  QkvLayout(int64_t batch, int64_t seq, int64_t heads, int64_t kv_heads, int64_t head_dim) {
    const int64_t width = (heads + 2 * kv_heads) * head_dim;
    shape = {batch, seq, heads, kv_heads, head_dim, width, width};
    k_offset = heads * head_dim;
    v_offset = k_offset + kv_heads * head_dim;
    size = batch * seq * width;
    out_size = batch * seq * heads * head_dim;
    lse_size = batch * heads * seq;
  }
  explicit QkvLayout(const SparseCase& c)
      : QkvLayout(c.batch, c.seq, c.heads, c.kv_heads, c.head_dim) {}
};

struct SparseRun {
  Floats out, lse, grads;  // grads: dq, dk, dv in a buffer laid out like qkv
};

SparseRun cpu_sparse(const QkvLayout& l, const Floats& qkv, const Lists& lists, int64_t width,
                     const Floats& dout) {
  test::CpuContext c(cpu::sparse_attention_workspace(l.shape, width, sizeof(float)));
  SparseRun r{Floats(l.out_size), Floats(l.lse_size), Floats(l.size)};
  const ops::IndexLists list_view{lists.data(), width};
  cpu::sparse_attention_forward<float>(c.ctx, r.out.data(), r.lse.data(), qkv.data(),
                                       qkv.data() + l.k_offset, qkv.data() + l.v_offset,
                                       list_view, l.shape);
  cpu::sparse_attention_backward<float>(
      c.ctx, r.grads.data(), r.grads.data() + l.k_offset, r.grads.data() + l.v_offset,
      dout.data(), r.out.data(), r.lse.data(), qkv.data(), qkv.data() + l.k_offset,
      qkv.data() + l.v_offset, list_view, l.shape);
  return r;
}

// Forward on the GPU; the backward gets the CPU twin's out and lse (so it is compared alone).
SparseRun gpu_sparse(const QkvLayout& l, const DeviceArray<float>& qkv,
                     const DeviceArray<int32_t>& lists, int64_t width,
                     const DeviceArray<float>& dout, const SparseRun& reference) {
  test::GpuContext gpu(cuda::workspaces().sparse_attention(l.shape, width));
  DeviceArray<float> out(l.out_size), lse(l.lse_size), grads(l.size);  // NaN-poisoned
  const ops::IndexLists list_view{lists.get(), width};
  cuda::backend().sparse_attention_forward(gpu.ctx, out.get(), lse.get(), qkv.get(),
                                 qkv.get() + l.k_offset, qkv.get() + l.v_offset, list_view,
                                 l.shape);
  const DeviceArray<float> out_ref(reference.out), lse_ref(reference.lse);
  cuda::backend().sparse_attention_backward(gpu.ctx, grads.get(), grads.get() + l.k_offset,
                                  grads.get() + l.v_offset, dout.get(), out_ref.get(),
                                  lse_ref.get(), qkv.get(), qkv.get() + l.k_offset,
                                  qkv.get() + l.v_offset, list_view, l.shape);
  return {out.download(), lse.download(), grads.download()};
}

void compare_qkv_grads(const Floats& gpu, const Floats& cpu, const QkvLayout& l,
                       const std::string& name) {
  const ops::AttentionShape& s = l.shape;
  const int64_t tokens = s.batch * s.seq;
  const int64_t q_width = s.heads * s.head_dim, kv_width = s.kv_heads * s.head_dim;
  expect_close(gather(gpu, 0, s.q_stride, q_width, tokens),
               gather(cpu, 0, s.q_stride, q_width, tokens), "dq " + name, kZeroRmsAttentionGrad);
  expect_close(gather(gpu, l.k_offset, s.kv_stride, kv_width, tokens),
               gather(cpu, l.k_offset, s.kv_stride, kv_width, tokens), "dk " + name,
               kZeroRmsAttentionGrad);
  expect_close(gather(gpu, l.v_offset, s.kv_stride, kv_width, tokens),
               gather(cpu, l.v_offset, s.kv_stride, kv_width, tokens), "dv " + name,
               kZeroRmsAttentionGrad);
}

// The dense attention's lse (CPU twin, float): the target's normaliser in the dense domain.
Floats dense_lse(const QkvLayout& l, const Floats& qkv) {
  test::CpuContext c(cpu::attention_workspace(l.shape, sizeof(float)));
  Floats out(l.out_size), lse(l.lse_size);
  cpu::attention_forward<float>(c.ctx, out.data(), lse.data(), qkv.data(),
                                qkv.data() + l.k_offset, qkv.data() + l.v_offset, l.shape);
  return lse;
}

Floats sparse_lse(const QkvLayout& l, const Floats& qkv, const Lists& lists, int64_t width) {
  test::CpuContext c(cpu::sparse_attention_workspace(l.shape, width, sizeof(float)));
  Floats out(l.out_size), lse(l.lse_size);
  cpu::sparse_attention_forward<float>(c.ctx, out.data(), lse.data(), qkv.data(),
                                       qkv.data() + l.k_offset, qkv.data() + l.v_offset,
                                       {lists.data(), width}, l.shape);
  return lse;
}

// ---- indexer -----------------------------------------------------------------------------------

class CudaIndexer : public ::testing::TestWithParam<IndexerCase> {};

TEST_P(CudaIndexer, MatchesCpuTwinAndIsDeterministic) {
  const IndexerCase c = GetParam();
  const IndexerLayout l(c);
  const int64_t seq = c.seq, tokens = c.batch * c.seq;
  const uint64_t seed = 11 * uint64_t(c.seq) + 7 * uint64_t(c.dim) + uint64_t(c.heads);
  const Floats buf = random_vector<float>(l.size, seed);
  const Floats dscores = causal_random(c.batch, seq, seed + 1);
  const IndexerRun cpu = cpu_indexer(l, buf, dscores, c.weights);
  const DeviceArray<float> buf_gpu(buf), dscores_gpu(dscores);
  const IndexerRun first = gpu_indexer(l, buf_gpu, dscores_gpu, c.weights);
  const IndexerRun second = gpu_indexer(l, buf_gpu, dscores_gpu, c.weights);

  std::ostringstream name;
  name << c;
  expect_close(causal_part(first.scores, c.batch, seq), causal_part(cpu.scores, c.batch, seq),
               "scores " + name.str());
  for (int64_t row = 0; row < tokens; ++row)
    for (int64_t s = row % seq + 1; s < seq; ++s)
      ASSERT_EQ(first.scores[row * seq + s], -kInf) << "score s > t at row " << row << ", s " << s;
  const int64_t stride = l.shape.q_stride;
  expect_close(gather(first.grads, 0, stride, c.heads * c.dim, tokens),
               gather(cpu.grads, 0, stride, c.heads * c.dim, tokens), "dq " + name.str());
  expect_close(gather(first.grads, l.k_offset, stride, c.dim, tokens),
               gather(cpu.grads, l.k_offset, stride, c.dim, tokens), "dk " + name.str());
  if (c.weights)
    expect_close(gather(first.grads, l.w_offset, stride, c.heads, tokens),
                 gather(cpu.grads, l.w_offset, stride, c.heads, tokens), "dw " + name.str());
  EXPECT_TRUE(bit_identical(first.scores, second.scores)) << "scores changed between runs";
  EXPECT_TRUE(bit_identical(first.grads, second.grads)) << "gradients changed between runs";
}

INSTANTIATE_TEST_SUITE_P(Shapes, CudaIndexer,
                         ::testing::Values(IndexerCase{1, 1, 1, 8, true},     // T = 1
                                           IndexerCase{2, 7, 4, 16, false},   // T < one tile
                                           IndexerCase{1, 63, 1, 64, true},   // one short of a tile
                                           IndexerCase{2, 64, 4, 32, true},   // one tile exactly
                                           IndexerCase{1, 65, 4, 64, false},  // into the next tile
                                           IndexerCase{2, 130, 4, 64, true},
                                           IndexerCase{1, 200, 2, 8, true},
                                           IndexerCase{1, 129, 1, 128, true},  // widest dI
                                           IndexerCase{3, 97, 4, 24, true}),   // dI not a power of 2
                         case_name<IndexerCase>);

// Changing kI after `cut` changes no score row t <= cut, bit for bit.
TEST(CudaIndexerCausality, LaterKeysChangeNoEarlierScore) {
  const IndexerCase c{2, 150, 4, 32, true};
  const IndexerLayout l(c);
  const Floats buf = random_vector<float>(l.size, 901), fresh = random_vector<float>(l.size, 902);
  const DeviceArray<float> dscores(causal_random(c.batch, c.seq, 903));
  const DeviceArray<float> base_gpu(buf);
  const Floats base = gpu_indexer(l, base_gpu, dscores, true).scores;
  for (const int64_t cut : {int64_t(0), int64_t(63), int64_t(64), int64_t(100)}) {
    Floats changed = buf;
    for (int64_t b = 0; b < c.batch; ++b)
      for (int64_t t = cut + 1; t < c.seq; ++t)
        for (int64_t d = 0; d < c.dim; ++d) {
          const int64_t at = (b * c.seq + t) * l.shape.k_stride + l.k_offset + d;
          changed[at] = fresh[at];
        }
    const DeviceArray<float> changed_gpu(changed);
    const Floats after = gpu_indexer(l, changed_gpu, dscores, true).scores;
    for (int64_t b = 0; b < c.batch; ++b)
      for (int64_t t = 0; t <= cut; ++t) {
        const int64_t at = (b * c.seq + t) * c.seq;
        EXPECT_EQ(std::memcmp(&base[at], &after[at], c.seq * sizeof(float)), 0)
            << "score row b=" << b << " t=" << t << " changed; cut " << cut;
      }
  }
}

// ---- top-k -------------------------------------------------------------------------------------

// Scores with many exact ties: zeros of both signs, a few repeated values, and random ones.
Floats tied_scores(int64_t batch, int64_t seq, uint64_t seed) {
  const float palette[] = {0.0f, -0.0f, 0.5f, -0.5f, 1.0f, 2.0f, -kInf};
  Floats scores = causal_random(batch, seq, seed);
  for (size_t i = 0; i < scores.size(); ++i) {
    if (std::isnan(scores[i])) continue;
    const uint64_t pick = philox_below(seed, 3, i, 10);
    if (pick < 7) scores[i] = palette[pick];
  }
  return scores;
}

Lists cpu_topk(const Floats& scores, const ops::TopKShape& shape) {
  test::CpuContext c(cpu::topk_workspace(shape));
  Lists lists(shape.batch * shape.seq * shape.k);
  cpu::topk_select<float>(c.ctx, lists.data(), scores.data(), shape);
  return lists;
}

Lists gpu_topk(const DeviceArray<float>& scores, const ops::TopKShape& shape) {
  test::GpuContext gpu(cuda::workspaces().topk(shape));
  DeviceArray<int32_t> lists(shape.batch * shape.seq * shape.k);  // poisoned with -12345
  cuda::backend().topk_select(gpu.ctx, lists.get(), scores.get(), shape);
  return lists.download();
}

TEST(CudaTopK, SelectsTheCpuTwinsListsFromTheSameScores) {
  struct Case {
    int64_t batch, seq;
  };
  for (const Case c : {Case{1, 1}, Case{2, 5}, Case{1, 64}, Case{2, 257}, Case{1, 300}}) {
    for (const bool ties : {false, true}) {
      const uint64_t seed = 31 * uint64_t(c.seq) + (ties ? 1 : 0);
      const Floats scores = ties ? tied_scores(c.batch, c.seq, seed)
                                 : causal_random(c.batch, c.seq, seed);
      const DeviceArray<float> scores_gpu(scores);
      for (const int64_t k : {int64_t(1), int64_t(3), int64_t(17), c.seq, c.seq + 5}) {
        const ops::TopKShape shape{c.batch, c.seq, k};
        const Lists expected = cpu_topk(scores, shape);
        const Lists first = gpu_topk(scores_gpu, shape), second = gpu_topk(scores_gpu, shape);
        EXPECT_EQ(first, expected) << "B=" << c.batch << " T=" << c.seq << " k=" << k
                                   << (ties ? " with ties" : "");
        EXPECT_EQ(first, second) << "lists changed between runs";
      }
    }
  }
}

TEST(CudaTopK, AllEqualRowsTakeTheFirstKeys) {
  const int64_t seq = 100, k = 10;
  Floats scores = causal_random(1, seq, 5);
  for (float& x : scores)
    if (!std::isnan(x)) x = (&x - scores.data()) % 2 ? 0.0f : -0.0f;  // +0 and -0 alternate
  const DeviceArray<float> scores_gpu(scores);
  const Lists lists = gpu_topk(scores_gpu, {1, seq, k});
  for (int64_t t = 0; t < seq; ++t)
    for (int64_t j = 0; j < k; ++j)
      ASSERT_EQ(lists[t * k + j], j <= t ? j : -1) << "row " << t << " slot " << j;
}

TEST(CudaTopK, NanIsAnErrorNamingItsPosition) {
  const int64_t batch = 2, seq = 40;
  Floats scores = causal_random(batch, seq, 77);
  scores[(1 * seq + 30) * seq + 12] = kNaN;  // batch 1, query 30, key 12
  scores[(1 * seq + 30) * seq + 20] = kNaN;  // a later one in the same row
  scores[(1 * seq + 35) * seq + 3] = kNaN;   // a later row
  const DeviceArray<float> scores_gpu(scores);
  expect_error([&] { gpu_topk(scores_gpu, {batch, seq, 4}); },
               {"topk_select", "batch 1, query 30, key 12", "NaN"});
}

// ---- sparse attention --------------------------------------------------------------------------

class CudaSparseAttention : public ::testing::TestWithParam<SparseCase> {};

TEST_P(CudaSparseAttention, MatchesCpuTwinAndIsDeterministic) {
  const SparseCase c = GetParam();
  const QkvLayout l(c);
  const uint64_t seed = 13 * uint64_t(c.seq) + 5 * uint64_t(c.width) + uint64_t(c.head_dim);
  const Floats qkv = random_vector<float>(l.size, seed);
  const Floats dout = random_vector<float>(l.out_size, seed + 1);
  const Lists lists = c.all_causal ? all_causal_lists(c.batch, c.seq, c.width)
                                   : random_lists(c.batch, c.seq, c.width, seed + 2, c.empty_rows);
  const SparseRun cpu = cpu_sparse(l, qkv, lists, c.width, dout);
  const DeviceArray<float> qkv_gpu(qkv), dout_gpu(dout);
  const DeviceArray<int32_t> lists_gpu(lists);
  const SparseRun first = gpu_sparse(l, qkv_gpu, lists_gpu, c.width, dout_gpu, cpu);
  const SparseRun second = gpu_sparse(l, qkv_gpu, lists_gpu, c.width, dout_gpu, cpu);

  std::ostringstream name;
  name << c;
  expect_close(first.out, cpu.out, "out " + name.str());
  expect_close_with_infinities(first.lse, cpu.lse, "lse " + name.str());
  compare_qkv_grads(first.grads, cpu.grads, l, name.str());
  EXPECT_TRUE(bit_identical(first.out, second.out)) << "out changed between runs";
  EXPECT_TRUE(bit_identical(first.lse, second.lse)) << "lse changed between runs";
  EXPECT_TRUE(bit_identical(first.grads, second.grads)) << "dq/dk/dv changed between runs";
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, CudaSparseAttention,
    ::testing::Values(SparseCase{1, 1, 4, 4, 32, 1, false, false},     // T = 1, k = 1
                      SparseCase{2, 9, 6, 2, 16, 1, false, false},     // k = 1
                      SparseCase{2, 33, 6, 3, 64, 4, false, true},     // small k, empty rows
                      SparseCase{1, 65, 4, 1, 32, 16, false, false},   // MQA
                      SparseCase{2, 100, 8, 8, 64, 40, false, true},   // more than one chunk
                      SparseCase{1, 70, 6, 2, 128, 80, true, false},   // k >= T: every key
                      SparseCase{1, 130, 4, 2, 48, 130, false, false}, // Dh not a power of 2
                      SparseCase{3, 50, 2, 1, 8, 7, false, false}),
    case_name<SparseCase>);

// Changing k and v after `cut` changes no out or lse row at or before it, bit for bit.
TEST(CudaSparseAttentionCausality, LaterKeysChangeNoEarlierRow) {
  const SparseCase c{2, 120, 4, 2, 32, 24, false, false};
  const QkvLayout l(c);
  const ops::AttentionShape& s = l.shape;
  const Floats qkv = random_vector<float>(l.size, 601), fresh = random_vector<float>(l.size, 602);
  const Lists lists = random_lists(c.batch, c.seq, c.width, 603, false);
  const DeviceArray<int32_t> lists_gpu(lists);
  test::GpuContext gpu(cuda::workspaces().sparse_attention(s, c.width));
  auto forward = [&](const Floats& input) {
    const DeviceArray<float> qkv_gpu(input);
    DeviceArray<float> out(l.out_size), lse(l.lse_size);
    cuda::backend().sparse_attention_forward(gpu.ctx, out.get(), lse.get(), qkv_gpu.get(),
                                   qkv_gpu.get() + l.k_offset, qkv_gpu.get() + l.v_offset,
                                   {lists_gpu.get(), c.width}, s);
    return std::make_pair(out.download(), lse.download());
  };
  const auto base = forward(qkv);
  const int64_t kv_width = 2 * s.kv_heads * s.head_dim, row = s.heads * s.head_dim;
  for (const int64_t cut : {int64_t(0), int64_t(50), int64_t(100)}) {
    Floats changed = qkv;
    for (int64_t b = 0; b < s.batch; ++b)
      for (int64_t t = cut + 1; t < s.seq; ++t)
        for (int64_t i = 0; i < kv_width; ++i) {
          const int64_t at = (b * s.seq + t) * s.kv_stride + l.k_offset + i;
          changed[at] = fresh[at];
        }
    const auto after = forward(changed);
    for (int64_t b = 0; b < s.batch; ++b)
      for (int64_t t = 0; t <= cut; ++t) {
        const int64_t at = (b * s.seq + t) * row;
        EXPECT_EQ(std::memcmp(&base.first[at], &after.first[at], row * sizeof(float)), 0)
            << "out row b=" << b << " t=" << t << " changed; cut " << cut;
        for (int64_t h = 0; h < s.heads; ++h) {
          const int64_t at_lse = (b * s.heads + h) * s.seq + t;
          EXPECT_EQ(base.second[at_lse], after.second[at_lse]) << "lse b=" << b << " t=" << t;
        }
      }
  }
}

TEST(CudaSparseAttentionErrors, RejectsListsThatBreakTheRules) {
  const int64_t width = 4;
  const QkvLayout l(2, 12, 2, 1, 16);
  const DeviceArray<float> qkv(random_vector<float>(l.size, 41));
  const DeviceArray<float> dout(random_vector<float>(l.out_size, 42));
  DeviceArray<float> out(l.out_size), lse(l.lse_size), grads(l.size);
  test::GpuContext gpu(cuda::workspaces().sparse_attention(l.shape, width));
  const Lists good = random_lists(2, 12, width, 43, false);
  struct Bad {
    int32_t a, b, c, d;
    const char* why;
  };
  // Row (batch 1, query 7), the first bad slot named.
  for (const Bad bad : {Bad{0, 8, -1, -1, "slot 1: key 8 is in the future of query 7"},
                        Bad{3, 2, -1, -1, "slot 1: key 2 does not follow key 3"},
                        Bad{2, 2, -1, -1, "slot 1: key 2 does not follow key 2"},
                        Bad{1, -1, 4, -1, "slot 2: key 4 follows the -1 padding"},
                        Bad{1, -5, -1, -1, "slot 1: value -5 is neither a key"}}) {
    Lists lists = good;
    const int64_t at = (1 * 12 + 7) * width;
    lists[at] = bad.a, lists[at + 1] = bad.b, lists[at + 2] = bad.c, lists[at + 3] = bad.d;
    const DeviceArray<int32_t> lists_gpu(lists);
    const ops::IndexLists view{lists_gpu.get(), width};
    expect_error([&] {
      cuda::backend().sparse_attention_forward(gpu.ctx, out.get(), lse.get(), qkv.get(),
                                     qkv.get() + l.k_offset, qkv.get() + l.v_offset, view,
                                     l.shape);
    }, {"sparse_attention_forward", "batch 1, query 7", bad.why});
    expect_error([&] {
      cuda::backend().sparse_attention_backward(gpu.ctx, grads.get(), grads.get() + l.k_offset,
                                      grads.get() + l.v_offset, dout.get(), dout.get(),
                                      lse.get(), qkv.get(), qkv.get() + l.k_offset,
                                      qkv.get() + l.v_offset, view, l.shape);
    }, {"sparse_attention_backward", "batch 1, query 7", bad.why});
  }
}

// ---- indexer loss and attention target ---------------------------------------------------------

struct LossCase {
  int64_t batch, seq, heads, kv_heads, head_dim, width;  // width 0: the dense domain
};
std::ostream& operator<<(std::ostream& os, const LossCase& c) {
  return os << "B" << c.batch << "_T" << c.seq << "_H" << c.heads << "_Hkv" << c.kv_heads << "_Dh"
            << c.head_dim << (c.width == 0 ? "_dense" : "_k" + std::to_string(c.width));
}

class CudaIndexerLoss : public ::testing::TestWithParam<LossCase> {};

TEST_P(CudaIndexerLoss, MatchesCpuTwinAndIsDeterministic) {
  const LossCase c = GetParam();
  const QkvLayout l(c.batch, c.seq, c.heads, c.kv_heads, c.head_dim);
  const ops::AttentionShape& s = l.shape;
  const int64_t square = c.batch * c.seq * c.seq, rows = c.batch * c.seq;
  const uint64_t seed = 17 * uint64_t(c.seq) + uint64_t(c.width);
  const Floats qkv = random_vector<float>(l.size, seed);
  const Floats scores = causal_random(c.batch, c.seq, seed + 1);
  const Lists lists = c.width == 0 ? Lists{} : random_lists(c.batch, c.seq, c.width, seed + 2, true);
  const Floats lse = c.width == 0 ? dense_lse(l, qkv) : sparse_lse(l, qkv, lists, c.width);

  test::CpuContext cpu_ctx(cpu::indexer_loss_workspace(s, c.width, sizeof(float)));
  Floats dscores_cpu(square, kNaN), row_loss_cpu(rows, kNaN);
  const double loss_cpu = cpu::indexer_loss<float>(
      cpu_ctx.ctx, dscores_cpu.data(), row_loss_cpu.data(), scores.data(), qkv.data(),
      qkv.data() + l.k_offset, lse.data(), {c.width == 0 ? nullptr : lists.data(), c.width}, s);

  const DeviceArray<float> qkv_gpu(qkv), scores_gpu(scores), lse_gpu(lse);
  const DeviceArray<int32_t> lists_gpu(c.width == 0 ? Lists{0} : lists);
  test::GpuContext gpu(cuda::workspaces().indexer_loss(s, c.width));
  auto run = [&](Floats& dscores, Floats& row_loss) {
    DeviceArray<float> dscores_gpu(square), row_loss_gpu(rows);  // NaN-poisoned
    const double loss = cuda::backend().indexer_loss(
        gpu.ctx, dscores_gpu.get(), row_loss_gpu.get(), scores_gpu.get(), qkv_gpu.get(),
        qkv_gpu.get() + l.k_offset, lse_gpu.get(),
        {c.width == 0 ? nullptr : lists_gpu.get(), c.width}, s);
    dscores = dscores_gpu.download();
    row_loss = row_loss_gpu.download();
    return loss;
  };
  Floats dscores_first, row_loss_first, dscores_second, row_loss_second;
  const double loss_first = run(dscores_first, row_loss_first);
  const double loss_second = run(dscores_second, row_loss_second);

  std::ostringstream name;
  name << c;
  EXPECT_LE(std::abs(loss_first - loss_cpu), std::max(kTolerance * std::abs(loss_cpu), kLossFloor))
      << "L_I " << name.str() << ": gpu " << loss_first << ", cpu " << loss_cpu;
  expect_close(dscores_first, dscores_cpu, "dscores " + name.str());
  expect_close(row_loss_first, row_loss_cpu, "row_loss " + name.str());
  EXPECT_EQ(std::memcmp(&loss_first, &loss_second, sizeof(double)), 0) << "L_I changed";
  EXPECT_TRUE(bit_identical(dscores_first, dscores_second)) << "dscores changed between runs";
  EXPECT_TRUE(bit_identical(row_loss_first, row_loss_second)) << "row_loss changed between runs";

  if (c.width == 0) {  // the attention target over the same dense lse
    Floats target_cpu(square, kNaN);
    cpu::attention_target<float>(cpu_ctx.ctx, target_cpu.data(), qkv.data(),
                                 qkv.data() + l.k_offset, lse.data(), s);
    DeviceArray<float> target_gpu(square);
    cuda::backend().attention_target(gpu.ctx, target_gpu.get(), qkv_gpu.get(), qkv_gpu.get() + l.k_offset,
                           lse_gpu.get(), s);
    expect_close(target_gpu.download(), target_cpu, "attention_target " + name.str());
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, CudaIndexerLoss,
                         ::testing::Values(LossCase{1, 1, 2, 1, 16, 0},
                                           LossCase{2, 37, 4, 2, 32, 0},
                                           LossCase{1, 65, 6, 3, 64, 0},
                                           LossCase{2, 130, 4, 4, 16, 0},
                                           LossCase{1, 1, 2, 1, 16, 1},
                                           LossCase{2, 37, 4, 2, 32, 5},
                                           LossCase{1, 65, 6, 3, 64, 70},
                                           LossCase{2, 130, 4, 1, 16, 33}),
                         case_name<LossCase>);

TEST(CudaIndexerLossErrors, RejectsBadDomainLists) {
  const int64_t width = 3, seq = 10;
  const QkvLayout l(1, seq, 2, 1, 16);
  Lists lists(seq * width, -1);  // row t holds 0 .. min(t, 2)
  for (int64_t t = 0; t < seq; ++t)
    for (int64_t j = 0; j <= std::min<int64_t>(t, width - 1); ++j) lists[t * width + j] = int32_t(j);
  lists[5 * width + 2] = 6;  // query 5, slot 2: key 6 > t
  const DeviceArray<int32_t> lists_gpu(lists);
  const DeviceArray<float> qkv(random_vector<float>(l.size, 51)), scores(causal_random(1, seq, 52));
  const DeviceArray<float> lse(l.lse_size, 0.0f);
  DeviceArray<float> dscores(seq * seq);
  test::GpuContext gpu(cuda::workspaces().indexer_loss(l.shape, width));
  expect_error([&] {
    cuda::backend().indexer_loss(gpu.ctx, dscores.get(), nullptr, scores.get(), qkv.get(),
                       qkv.get() + l.k_offset, lse.get(), {lists_gpu.get(), width}, l.shape);
  }, {"indexer_loss", "batch 0, query 5, slot 2", "future"});
}

// The backend table carries every DSA op, and its workspace covers the DSA calls.
TEST(CudaDsaTable, FillsEveryDsaOpAndSizesTheirWorkspace) {
  const ops::Backend<float>& table = cuda::backend();
  EXPECT_NE(table.indexer_forward, nullptr);
  EXPECT_NE(table.indexer_backward, nullptr);
  EXPECT_NE(table.topk_select, nullptr);
  EXPECT_NE(table.sparse_attention_forward, nullptr);
  EXPECT_NE(table.sparse_attention_backward, nullptr);
  EXPECT_NE(table.indexer_loss, nullptr);
  EXPECT_NE(table.attention_target, nullptr);
  const QkvLayout l(4, 256, 8, 8, 32);
  ops::WorkspaceQuery query{l.shape, 4 * 256, 256, 0};
  query.indexer = {4, 256, 4, 64, 4 * 64 + 64 + 4, 4 * 64 + 64 + 4, 4 * 64 + 64 + 4};
  query.list_width = 64;
  const size_t bytes = table.workspace_bytes(query, sizeof(float));
  EXPECT_GE(bytes, cuda::workspaces().sparse_attention(l.shape, 64));
  EXPECT_GE(bytes, cuda::workspaces().indexer_loss(l.shape, 0));
  EXPECT_GE(bytes, cuda::workspaces().topk({4, 256, 64}));
}

}  // namespace
}  // namespace dsa
