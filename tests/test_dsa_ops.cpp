// DeepSeek Sparse Attention ops, CPU twin (cpu/cpu_ops.h): gradient checks in double by central
// differences, the top-k selection rules, causality, sparse == dense attention when every list
// holds all s <= t, indexer-loss properties against a reference that materialises p, and
// determinism. Buffers a contract says are never read are poisoned with NaN.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <numeric>

#include "core/philox.h"
#include "cpu/cpu_ops.h"
#include "cpu/simd_mask.h"
#include "index_lists_util.h"
#include "test_util.h"

namespace dsa {
namespace {

using test::CpuContext;
using test::dot;
using test::random_vector;
using Vec = std::vector<double>;
using test::Lists;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

template <class V>
bool same_bits(const V& a, const V& b) {
  return a.size() == b.size() &&
         std::memcmp(a.data(), b.data(), a.size() * sizeof(typename V::value_type)) == 0;
}

// ---- index lists -------------------------------------------------------------------------

using test::all_causal_lists;
using test::random_lists;

// ---- indexer -----------------------------------------------------------------------------

struct IndexerCase {
  int64_t batch, seq, heads, dim;
  bool weights;
};

// qI, kI and w inside one fused buffer [B*T, HI*dI + dI + HI], as a fused projection lays them.
struct IndexerLayout {
  ops::IndexerShape shape;
  int64_t k_offset, w_offset;
  size_t elements;
  explicit IndexerLayout(const IndexerCase& c) {
    const int64_t width = c.heads * c.dim + c.dim + c.heads;
    shape = {c.batch, c.seq, c.heads, c.dim, width, width, width};
    k_offset = c.heads * c.dim;
    w_offset = k_offset + c.dim;
    elements = c.batch * c.seq * width;
  }
};

Vec indexer_scores(const IndexerLayout& l, const Vec& buf, bool weights) {
  CpuContext c(cpu::indexer_workspace(l.shape, sizeof(double)));
  Vec scores(l.shape.batch * l.shape.seq * l.shape.seq, kNaN);
  cpu::indexer_forward<double>(c.ctx, scores.data(), buf.data(), buf.data() + l.k_offset,
                               weights ? buf.data() + l.w_offset : nullptr, l.shape);
  return scores;
}

// sum over s <= t of a[b, t, s] * b[b, t, s]  ([B, T, T] each)
double causal_dot(const Vec& a, const Vec& b, int64_t batch, int64_t seq) {
  double sum = 0;
  for (int64_t row = 0; row < batch * seq; ++row)
    for (int64_t s = 0; s <= row % seq; ++s) sum += a[row * seq + s] * b[row * seq + s];
  return sum;
}

// [B, T, T] random, NaN where s > t (entries a consumer must never read).
Vec causal_random(int64_t batch, int64_t seq, uint64_t seed, double scale = 1.0) {
  Vec values = random_vector<double>(batch * seq * seq, seed, scale);
  for (int64_t row = 0; row < batch * seq; ++row)
    std::fill(values.begin() + row * seq + row % seq + 1, values.begin() + (row + 1) * seq, kNaN);
  return values;
}

std::ostream& operator<<(std::ostream& os, const IndexerCase& c) {
  return os << "[B=" << c.batch << ", T=" << c.seq << ", HI=" << c.heads << ", dI=" << c.dim
            << (c.weights ? ", weights]" : ", no weights]");
}

class IndexerGrad : public ::testing::TestWithParam<IndexerCase> {};

TEST_P(IndexerGrad, MatchesFiniteDifferences) {
  const IndexerCase p = GetParam();
  const IndexerLayout l(p);
  const Vec buf = random_vector<double>(l.elements, 31);
  const Vec dscores = causal_random(p.batch, p.seq, 32);  // NaN above the diagonal: never read
  auto loss = [&](const std::vector<Vec>& in) {
    return causal_dot(indexer_scores(l, in[0], p.weights), dscores, p.batch, p.seq);
  };
  Vec dbuf(l.elements, 0.0);
  CpuContext c(cpu::indexer_workspace(l.shape, sizeof(double)));
  cpu::indexer_backward<double>(c.ctx, dbuf.data(), dbuf.data() + l.k_offset,
                                p.weights ? dbuf.data() + l.w_offset : nullptr, dscores.data(),
                                buf.data(), buf.data() + l.k_offset,
                                p.weights ? buf.data() + l.w_offset : nullptr, l.shape);
  test::expect_gradients({buf}, loss, {dbuf}, {"qI|kI|w"});
}

INSTANTIATE_TEST_SUITE_P(Shapes, IndexerGrad,
                         ::testing::Values(IndexerCase{2, 7, 1, 4, true},     // HI = 1
                                           IndexerCase{2, 7, 1, 4, false},    // weights off
                                           IndexerCase{1, 9, 3, 5, true},     // HI = 3
                                           IndexerCase{1, 9, 3, 5, false},
                                           IndexerCase{1, 67, 3, 2, true}));  // two 64-row blocks

TEST(Indexer, ForwardMatchesFormulaAndFillsTheFutureWithMinusInfinity) {
  const IndexerCase p{2, 70, 3, 4, true};
  const IndexerLayout l(p);
  const Vec buf = random_vector<double>(l.elements, 33);
  for (bool weights : {true, false}) {
    const Vec scores = indexer_scores(l, buf, weights);
    const int64_t width = l.shape.q_stride;
    const double scale = 1.0 / std::sqrt(double(p.heads * p.dim));
    double worst = 0;
    for (int64_t row = 0; row < p.batch * p.seq; ++row) {
      const int64_t b = row / p.seq, t = row % p.seq;
      for (int64_t s = 0; s < p.seq; ++s) {
        const double got = scores[row * p.seq + s];
        if (s > t) {
          EXPECT_EQ(got, -kInf) << "row " << row << " key " << s;
          continue;
        }
        double expect = 0;
        for (int64_t j = 0; j < p.heads; ++j) {
          double a = 0;
          for (int64_t d = 0; d < p.dim; ++d)
            a += buf[row * width + j * p.dim + d] * buf[(b * p.seq + s) * width + l.k_offset + d];
          expect += (weights ? buf[row * width + l.w_offset + j] : 1.0) * std::max(a, 0.0);
        }
        worst = std::max(worst, std::abs(got - scale * expect));
      }
    }
    EXPECT_LT(worst, 1e-13) << "weights " << weights;
  }
}

// ---- top-k -------------------------------------------------------------------------------

Lists select(const Vec& scores, int64_t batch, int64_t seq, int64_t k) {
  const ops::TopKShape shape{batch, seq, k};
  CpuContext c(cpu::topk_workspace(shape));
  Lists lists(batch * seq * k, -7);
  cpu::topk_select<double>(c.ctx, lists.data(), scores.data(), shape);
  return lists;
}

// The list of the last query of a one-batch score matrix whose last row is `row` (T = its
// length); other rows are random, entries above the diagonal NaN.
Lists select_last_row(const Vec& row, int64_t k) {
  const int64_t seq = row.size();
  Vec scores = causal_random(1, seq, 34);
  std::copy(row.begin(), row.end(), scores.begin() + (seq - 1) * seq);
  const Lists lists = select(scores, 1, seq, k);
  return Lists(lists.end() - k, lists.end());
}

TEST(TopK, TiesPreferTheSmallerKeyIndex) {
  const Vec row = {1, 3, 3, 2, 3, 0};
  EXPECT_EQ(select_last_row(row, 1), (Lists{1}));
  EXPECT_EQ(select_last_row(row, 2), (Lists{1, 2}));
  EXPECT_EQ(select_last_row(row, 3), (Lists{1, 2, 4}));
  EXPECT_EQ(select_last_row(row, 4), (Lists{1, 2, 3, 4}));
}

TEST(TopK, NegativeZeroEqualsPositiveZero) {
  EXPECT_EQ(select_last_row({-1.0, -0.0, +0.0}, 1), (Lists{1}));  // not 2: +0.0 is no larger
  EXPECT_EQ(select_last_row({+0.0, -0.0, -3.0}, 1), (Lists{0}));
  EXPECT_EQ(select_last_row({-0.0, -0.0, +0.0, -5.0}, 2), (Lists{0, 1}));
}

TEST(TopK, AllEqualRowsTakeTheFirstKeys) {
  EXPECT_EQ(select_last_row(Vec(8, 7.0), 3), (Lists{0, 1, 2}));
  EXPECT_EQ(select_last_row(Vec(8, 0.0), 1), (Lists{0}));
  EXPECT_EQ(select_last_row(Vec(5, -kInf), 2), (Lists{0, 1}));
}

TEST(TopK, KOfAtLeastTPlusOneTakesEveryPastKey) {
  EXPECT_EQ(select_last_row({0.5, -2.0, 9.0, 1.0}, 4), (Lists{0, 1, 2, 3}));
  EXPECT_EQ(select_last_row({0.5, -2.0, 9.0, 1.0}, 6), (Lists{0, 1, 2, 3, -1, -1}));
  // The first rows of a matrix: row t has t + 1 < k keys, padded at the end.
  const Lists lists = select(causal_random(1, 5, 35), 1, 5, 3);
  EXPECT_EQ(Lists(lists.begin(), lists.begin() + 6), (Lists{0, -1, -1, 0, 1, -1}));
}

TEST(TopK, KOfOne) {
  EXPECT_EQ(select_last_row({0.5, 2.0, 1.5, 2.0}, 1), (Lists{1}));
  EXPECT_EQ(select_last_row({-kInf, -kInf, 1.0}, 2), (Lists{0, 2}));
}

TEST(TopK, NanIsAnErrorNamingItsPosition) {
  const int64_t seq = 6;
  Vec scores = causal_random(2, seq, 36);  // NaN above the diagonal: not an error
  select(scores, 2, seq, 2);
  scores[(1 * seq + 3) * seq + 2] = kNaN;
  scores[(1 * seq + 4) * seq + 0] = kNaN;
  const std::string message = test::error_of([&] { select(scores, 2, seq, 2); });
  EXPECT_HAS(message, "batch 1, query 3, key 2");
  EXPECT_HAS(message, "NaN");
}

// Rank of key s in row t under (score desc, index asc), counted directly.
int64_t rank_of(const double* row, int64_t visible, int64_t s) {
  int64_t rank = 0;
  for (int64_t u = 0; u < visible; ++u)
    rank += row[u] > row[s] || (row[u] == row[s] && u < s);
  return rank;
}

TEST(TopK, RandomRowsWithManyTiesMatchTheRankDefinition) {
  const int64_t batch = 2, seq = 37;
  Vec scores = causal_random(batch, seq, 37);
  for (double& x : scores)  // ReLU and half-step rounding: many exact ties, zeros of both signs
    if (!std::isnan(x)) x = x < 0 ? (x < -1 ? -0.0 : 0.0) : std::round(2 * x) / 2;
  for (int64_t k : {int64_t(1), int64_t(4), seq}) {
    const Lists lists = select(scores, batch, seq, k);
    for (int64_t row = 0; row < batch * seq; ++row) {
      const int64_t t = row % seq, kept = std::min(k, t + 1);
      const int32_t* list = lists.data() + row * k;
      Lists expect;
      for (int64_t s = 0; s <= t; ++s)
        if (rank_of(scores.data() + row * seq, t + 1, s) < k) expect.push_back(int32_t(s));
      expect.resize(k, -1);
      EXPECT_EQ(Lists(list, list + k), expect) << "k " << k << " row " << row;
      for (int64_t j = 0; j < k; ++j) {
        EXPECT_LE(list[j], t) << "a future key at k " << k << " row " << row;
        EXPECT_EQ(list[j] == -1, j >= kept) << "padding at k " << k << " row " << row;
        if (j > 0 && j < kept) {
          EXPECT_LT(list[j - 1], list[j]) << "not ascending";
        }
      }
    }
  }
}

// The list of row [visible] by the definition: sort the keys by (score desc, index asc), keep k,
// ascending, -1 padded.
template <class T>
Lists reference_list(const T* row, int64_t visible, int64_t k) {
  Lists order(visible);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [row](int32_t a, int32_t b) {
    return row[a] > row[b] || (row[a] == row[b] && a < b);
  });
  order.resize(std::min<int64_t>(k, visible));
  std::sort(order.begin(), order.end());
  order.resize(k, -1);
  return order;
}

// Rows long enough for the selector's starting threshold and for many compactions of its
// candidates (it holds k + max(k, 64) before compacting), in the patterns that stress them:
// random, ascending (every key passes the threshold), descending (none does), constant, coarse
// steps with signed zeros (ties at the threshold itself), in both scalar types.
template <class T>
void expect_long_rows_match_the_definition() {
  const int64_t seq = 601;
  const Vec noise = random_vector<double>(seq * seq, 38);
  const std::vector<std::pair<const char*, std::function<double(int64_t, int64_t)>>> patterns = {
      {"random", [&](int64_t t, int64_t s) { return noise[t * seq + s]; }},
      {"ascending", [](int64_t, int64_t s) { return double(s); }},
      {"descending", [](int64_t, int64_t s) { return -double(s); }},
      {"constant", [](int64_t, int64_t) { return 2.5; }},
      {"steps", [&](int64_t t, int64_t s) {
         const double x = std::round(3 * noise[t * seq + s]) / 3;
         return x == 0 ? ((s % 2) ? -0.0 : 0.0) : x;
       }},
      {"ascending steps", [](int64_t, int64_t s) { return double(s / 50); }},
      {"minus infinity but one", [](int64_t t, int64_t s) { return s == t / 2 ? 1.0 : -kInf; }}};
  for (const auto& [name, score] : patterns) {
    std::vector<T> scores(seq * seq, T(kNaN));  // NaN above the diagonal: never read
    for (int64_t t = 0; t < seq; ++t)
      for (int64_t s = 0; s <= t; ++s) scores[t * seq + s] = T(score(t, s));
    for (int64_t k : {int64_t(1), int64_t(7), int64_t(64), int64_t(200)}) {
      const ops::TopKShape shape{1, seq, k};
      CpuContext c(cpu::topk_workspace(shape));
      Lists lists(seq * k, -7);
      cpu::topk_select<T>(c.ctx, lists.data(), scores.data(), shape);
      for (int64_t t = 0; t < seq; ++t) {
        const Lists got(lists.begin() + t * k, lists.begin() + (t + 1) * k);
        ASSERT_EQ(got, reference_list(scores.data() + t * seq, t + 1, k))
            << name << " k " << k << " query " << t << " scalar bytes " << sizeof(T);
      }
    }
  }
}

TEST(TopK, LongRowsInEveryOrderMatchTheDefinition) {
  expect_long_rows_match_the_definition<double>();
  expect_long_rows_match_the_definition<float>();
}

// The vectorised comparison masks of the selector against the portable loop, at and around the
// threshold, with signed zeros, infinities and NaNs.
template <class T>
void expect_masks_match_the_portable_loop() {
  const std::vector<T> specials = {T(0), T(-0.0), T(1), T(-1), T(kInf), T(-kInf), T(kNaN)};
  const Vec noise = random_vector<double>(64 * 200, 39);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<T> x(cpu::kMaskRun);
    for (int64_t j = 0; j < cpu::kMaskRun; ++j) {
      const double r = noise[trial * 64 + j];
      x[j] = std::abs(r) > 1.5 ? specials[int64_t(std::abs(r) * 1000) % specials.size()]
                               : T(std::round(4 * r) / 4);
    }
    if (trial % 2 == 0) std::replace_if(x.begin(), x.end(), [](T v) { return v != v; }, T(2));
    for (T threshold : {T(0), T(-0.0), T(0.25), T(-kInf), T(kInf)}) {
      const cpu::RunMask fast = cpu::greater_mask(x.data(), threshold);
      const cpu::RunMask portable = cpu::greater_mask_portable(x.data(), threshold);
      ASSERT_EQ(fast.greater, portable.greater) << "trial " << trial << " threshold " << threshold;
      ASSERT_EQ(fast.nan, portable.nan) << "trial " << trial;
    }
  }
}

TEST(TopK, ComparisonMasksMatchThePortableLoop) {
  expect_masks_match_the_portable_loop<float>();
  expect_masks_match_the_portable_loop<double>();
}

// ---- sparse attention --------------------------------------------------------------------

struct AttentionCase {
  int64_t batch, seq, heads, kv_heads, head_dim;
};

// q, k, v inside one fused buffer, as the model lays them out.
struct QkvLayout {
  ops::AttentionShape shape;
  int64_t k_offset, v_offset;
  size_t qkv_elements, out_elements, lse_elements;
  explicit QkvLayout(const AttentionCase& c) {
    const int64_t width = (c.heads + 2 * c.kv_heads) * c.head_dim;
    shape = {c.batch, c.seq, c.heads, c.kv_heads, c.head_dim, width, width};
    k_offset = c.heads * c.head_dim;
    v_offset = k_offset + c.kv_heads * c.head_dim;
    qkv_elements = c.batch * c.seq * width;
    out_elements = c.batch * c.seq * c.heads * c.head_dim;
    lse_elements = c.batch * c.heads * c.seq;
  }
};

struct AttentionResult {
  Vec out, lse;
};

AttentionResult sparse_forward(const QkvLayout& l, const Vec& qkv, const Lists& lists,
                               int64_t width) {
  CpuContext c(cpu::sparse_attention_workspace(l.shape, width, sizeof(double)));
  AttentionResult r{Vec(l.out_elements, kNaN), Vec(l.lse_elements, kNaN)};
  cpu::sparse_attention_forward<double>(c.ctx, r.out.data(), r.lse.data(), qkv.data(),
                                        qkv.data() + l.k_offset, qkv.data() + l.v_offset,
                                        {lists.data(), width}, l.shape);
  return r;
}

Vec sparse_backward(const QkvLayout& l, const Vec& qkv, const Lists& lists, int64_t width,
                    const AttentionResult& fwd, const Vec& dout) {
  CpuContext c(cpu::sparse_attention_workspace(l.shape, width, sizeof(double)));
  Vec dqkv(l.qkv_elements, kNaN);
  cpu::sparse_attention_backward<double>(
      c.ctx, dqkv.data(), dqkv.data() + l.k_offset, dqkv.data() + l.v_offset, dout.data(),
      fwd.out.data(), fwd.lse.data(), qkv.data(), qkv.data() + l.k_offset,
      qkv.data() + l.v_offset, {lists.data(), width}, l.shape);
  return dqkv;
}

AttentionResult dense_forward(const QkvLayout& l, const Vec& qkv) {
  CpuContext c(cpu::attention_workspace(l.shape, sizeof(double)));
  AttentionResult r{Vec(l.out_elements), Vec(l.lse_elements)};
  cpu::attention_forward<double>(c.ctx, r.out.data(), r.lse.data(), qkv.data(),
                                 qkv.data() + l.k_offset, qkv.data() + l.v_offset, l.shape);
  return r;
}

Vec dense_backward(const QkvLayout& l, const Vec& qkv, const AttentionResult& fwd,
                   const Vec& dout) {
  CpuContext c(cpu::attention_workspace(l.shape, sizeof(double)));
  Vec dqkv(l.qkv_elements, 0.0);
  cpu::attention_backward<double>(c.ctx, dqkv.data(), dqkv.data() + l.k_offset,
                                  dqkv.data() + l.v_offset, dout.data(), fwd.out.data(),
                                  fwd.lse.data(), qkv.data(), qkv.data() + l.k_offset,
                                  qkv.data() + l.v_offset, l.shape);
  return dqkv;
}

double max_abs_diff(const Vec& a, const Vec& b) {
  double worst = a.size() == b.size() ? 0.0 : kInf;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i)
    worst = std::max(worst, std::isnan(a[i] - b[i]) ? kInf : std::abs(a[i] - b[i]));
  return worst;
}

struct SparseCase {
  AttentionCase attention;
  int64_t width;
};

std::ostream& operator<<(std::ostream& os, const AttentionCase& c) {
  return os << "[B=" << c.batch << ", T=" << c.seq << ", H=" << c.heads << ", Hkv=" << c.kv_heads
            << ", Dh=" << c.head_dim << "]";
}
std::ostream& operator<<(std::ostream& os, const SparseCase& c) {
  return os << c.attention << " width " << c.width;
}

class SparseAttentionGrad : public ::testing::TestWithParam<SparseCase> {};

TEST_P(SparseAttentionGrad, MatchesFiniteDifferences) {
  const SparseCase p = GetParam();
  const QkvLayout l(p.attention);
  const Vec qkv = random_vector<double>(l.qkv_elements, 41);
  const Vec dout = random_vector<double>(l.out_elements, 42);
  const Lists lists = random_lists(p.attention.batch, p.attention.seq, p.width, 43);
  auto loss = [&](const std::vector<Vec>& in) {
    return dot(sparse_forward(l, in[0], lists, p.width).out, dout);
  };
  const Vec dqkv = sparse_backward(l, qkv, lists, p.width, sparse_forward(l, qkv, lists, p.width),
                                   dout);
  test::expect_gradients({qkv}, loss, {dqkv}, {"qkv"});
}

INSTANTIATE_TEST_SUITE_P(Shapes, SparseAttentionGrad,
                         ::testing::Values(SparseCase{{2, 9, 2, 2, 4}, 3},     // MHA
                                           SparseCase{{1, 11, 6, 2, 4}, 4},    // GQA, 3 per group
                                           SparseCase{{1, 13, 4, 1, 3}, 5},    // MQA
                                           SparseCase{{1, 6, 2, 1, 4}, 9}));   // width > T

TEST(SparseAttention, EveryListAllPastKeysEqualsDenseAttention) {
  const QkvLayout l(AttentionCase{2, 67, 4, 2, 8});
  const Vec qkv = random_vector<double>(l.qkv_elements, 44);
  const Vec dout = random_vector<double>(l.out_elements, 45);
  const AttentionResult dense = dense_forward(l, qkv);
  const Vec dense_grad = dense_backward(l, qkv, dense, dout);
  const int64_t seq = l.shape.seq;
  for (int64_t width : {seq, seq + 3}) {
    // Lists from top-k with k >= T, as the training pipeline makes them.
    const Lists lists = select(causal_random(2, seq, 46), 2, seq, width);
    ASSERT_EQ(lists, all_causal_lists(2, seq, width));
    const AttentionResult sparse = sparse_forward(l, qkv, lists, width);
    EXPECT_LT(max_abs_diff(sparse.out, dense.out), 1e-12) << "out, width " << width;
    EXPECT_LT(max_abs_diff(sparse.lse, dense.lse), 1e-12) << "lse, width " << width;
    const Vec sparse_grad = sparse_backward(l, qkv, lists, width, sparse, dout);
    EXPECT_LT(max_abs_diff(sparse_grad, dense_grad), 1e-12) << "dq|dk|dv, width " << width;
  }
}

TEST(SparseAttention, NeverReadsUnlistedKeysOrPadding) {
  const AttentionCase a{1, 12, 4, 2, 4};
  const QkvLayout l(a);
  const int64_t width = 4, row_width = l.shape.kv_stride;
  // Lists: the last `width` even keys <= t; row 5 empty (all padding).
  Lists lists(a.seq * width, -1);
  for (int64_t t = 0; t < a.seq; ++t) {
    if (t == 5) continue;
    std::vector<int32_t> evens;
    for (int32_t s = 0; s <= t; s += 2) evens.push_back(s);
    const int64_t n = std::min<int64_t>(width, evens.size());
    std::copy(evens.end() - n, evens.end(), lists.begin() + t * width);
  }
  Vec qkv = random_vector<double>(l.qkv_elements, 47);
  for (int64_t s = 1; s < a.seq; s += 2)  // odd keys' k and v: NaN
    std::fill(qkv.begin() + s * row_width + l.k_offset, qkv.begin() + (s + 1) * row_width, kNaN);
  const AttentionResult fwd = sparse_forward(l, qkv, lists, width);
  for (int64_t i = 0; i < int64_t(fwd.out.size()); ++i)
    ASSERT_TRUE(std::isfinite(fwd.out[i])) << "out element " << i;
  for (int64_t h = 0; h < a.heads; ++h) {
    EXPECT_EQ(fwd.lse[h * a.seq + 5], -kInf) << "an empty list has lse -inf";
    for (int64_t d = 0; d < a.head_dim; ++d)
      EXPECT_EQ(fwd.out[(5 * a.heads + h) * a.head_dim + d], 0.0);
  }
  const Vec dout = random_vector<double>(l.out_elements, 48);
  const Vec dqkv = sparse_backward(l, qkv, lists, width, fwd, dout);
  for (int64_t s = 0; s < a.seq; ++s)
    for (int64_t i = 0; i < row_width; ++i) {
      const double g = dqkv[s * row_width + i];
      ASSERT_TRUE(std::isfinite(g)) << "token " << s << " column " << i;
      if (s % 2 == 1 && i >= l.k_offset) {
        EXPECT_EQ(g, 0.0) << "unlisted key " << s;
      }
      if (s == 5 && i < l.k_offset) {
        EXPECT_EQ(g, 0.0) << "dq of the empty row";
      }
    }
}

TEST(SparseAttention, RejectsListsThatBreakTheRules) {
  const QkvLayout l(AttentionCase{1, 4, 1, 1, 2});
  const Vec qkv = random_vector<double>(l.qkv_elements, 49);
  const int64_t width = 2;
  auto message_for = [&](Lists lists) {
    return test::error_of([&] { sparse_forward(l, qkv, lists, width); });
  };
  const std::string future = message_for({0, -1, 0, 2, 0, 1, 0, 3});
  EXPECT_HAS(future, "sparse_attention_forward");
  EXPECT_HAS(future, "batch 0, query 1, slot 1");
  EXPECT_HAS(future, "future");
  EXPECT_HAS(message_for({0, -1, 1, 0, 0, 1, 0, 3}), "query 1, slot 1");       // not ascending
  EXPECT_HAS(message_for({0, -1, 0, 1, -1, 2, 0, 3}), "follows the -1 padding");
  EXPECT_HAS(message_for({0, -1, 0, 1, 1, 1, 0, 3}), "query 2, slot 1");       // repeated
  EXPECT_HAS(message_for({0, -1, 0, 1, 0, -2, 0, 3}), "neither a key nor the padding");
}

// ---- indexer loss ------------------------------------------------------------------------

struct LossResult {
  double loss;
  Vec row_loss, dscores;
};

// domain_lists empty: the dense domain.
LossResult indexer_loss(const QkvLayout& l, const Vec& scores, const Vec& qkv, const Vec& lse,
                        const Lists& domain_lists, int64_t width) {
  const bool dense = domain_lists.empty();
  CpuContext c(cpu::indexer_loss_workspace(l.shape, dense ? 0 : width, sizeof(double)));
  const int64_t rows = l.shape.batch * l.shape.seq;
  LossResult r{0.0, Vec(rows, kNaN), Vec(rows * l.shape.seq, kNaN)};
  r.loss = cpu::indexer_loss<double>(c.ctx, r.dscores.data(), r.row_loss.data(), scores.data(),
                                     qkv.data(), qkv.data() + l.k_offset, lse.data(),
                                     {dense ? nullptr : domain_lists.data(), width}, l.shape);
  return r;
}

// The domain of row (b, t): the list's keys, or all s <= t.
std::vector<int64_t> domain_of(const Lists& lists, int64_t width, int64_t row, int64_t seq) {
  std::vector<int64_t> keys;
  if (lists.empty()) {
    for (int64_t s = 0; s <= row % seq; ++s) keys.push_back(s);
  } else {
    for (int64_t j = 0; j < width && lists[row * width + j] >= 0; ++j)
      keys.push_back(lists[row * width + j]);
  }
  return keys;
}

// p [B*T, T] (zero off the domain): every head's softmax over the domain, materialised, averaged.
Vec reference_target(const QkvLayout& l, const Vec& qkv, const Lists& lists, int64_t width) {
  const ops::AttentionShape& s = l.shape;
  Vec target(s.batch * s.seq * s.seq, 0.0);
  for (int64_t row = 0; row < s.batch * s.seq; ++row) {
    const int64_t b = row / s.seq;
    const std::vector<int64_t> keys = domain_of(lists, width, row, s.seq);
    for (int64_t h = 0; h < s.heads; ++h) {
      const int64_t g = h / (s.heads / s.kv_heads);
      Vec logits;
      for (int64_t key : keys) {
        double x = 0;
        for (int64_t d = 0; d < s.head_dim; ++d)
          x += qkv[row * s.q_stride + h * s.head_dim + d] *
               qkv[(b * s.seq + key) * s.kv_stride + l.k_offset + g * s.head_dim + d];
        logits.push_back(x / std::sqrt(double(s.head_dim)));
      }
      const double top = *std::max_element(logits.begin(), logits.end());
      double sum = 0;
      for (double x : logits) sum += std::exp(x - top);
      for (size_t j = 0; j < keys.size(); ++j)
        target[row * s.seq + keys[j]] += std::exp(logits[j] - top) / sum / double(s.heads);
    }
  }
  return target;
}

// KL per row and dI, straight from the definition, given the materialised target.
LossResult reference_loss(const Vec& scores, const Vec& target, const Lists& lists, int64_t width,
                          int64_t batch, int64_t seq) {
  const int64_t rows = batch * seq;
  LossResult r{0.0, Vec(rows, 0.0), Vec(rows * seq, 0.0)};
  for (int64_t row = 0; row < rows; ++row) {
    const std::vector<int64_t> keys = domain_of(lists, width, row, seq);
    double sum = 0;
    for (int64_t key : keys) sum += std::exp(scores[row * seq + key]);
    for (int64_t key : keys) {
      const double q = std::exp(scores[row * seq + key]) / sum, p = target[row * seq + key];
      if (p > 0) r.row_loss[row] += p * std::log(p / q);
      r.dscores[row * seq + key] = (q - p) / double(rows);
    }
    r.loss += r.row_loss[row] / double(rows);
  }
  return r;
}

// Scores [B, T, T] that only the domain may read: random there, NaN everywhere else.
Vec domain_scores(const Lists& lists, int64_t width, int64_t batch, int64_t seq, uint64_t seed) {
  const Vec random = random_vector<double>(batch * seq * seq, seed, 2.0);
  Vec scores(batch * seq * seq, kNaN);
  for (int64_t row = 0; row < batch * seq; ++row)
    for (int64_t key : domain_of(lists, width, row, seq))
      scores[row * seq + key] = random[row * seq + key];
  return scores;
}

// The attention lse over the domain: dense attention for the dense domain, sparse otherwise.
Vec domain_lse(const QkvLayout& l, const Vec& qkv, const Lists& lists, int64_t width) {
  return lists.empty() ? dense_forward(l, qkv).lse : sparse_forward(l, qkv, lists, width).lse;
}

struct LossCase {
  AttentionCase attention;
  int64_t width;  // 0: the dense domain
};

std::ostream& operator<<(std::ostream& os, const LossCase& c) {
  if (c.width == 0) return os << c.attention << " dense domain";
  return os << c.attention << " lists of width " << c.width;
}

class IndexerLoss : public ::testing::TestWithParam<LossCase> {
 protected:
  void SetUp() override {
    const LossCase p = GetParam();
    batch = p.attention.batch;
    seq = p.attention.seq;
    width = p.width;
    if (width > 0) lists = random_lists(batch, seq, width, 51);
    qkv = random_vector<double>(layout.qkv_elements, 52);
    lse = domain_lse(layout, qkv, lists, width);
  }
  QkvLayout layout{GetParam().attention};
  int64_t batch = 0, seq = 0, width = 0;
  Lists lists;
  Vec qkv, lse;
};

void expect_reference_loss(const QkvLayout& layout, const Vec& qkv, const Vec& lse,
                           const Lists& lists, int64_t width) {
  const int64_t batch = layout.shape.batch, seq = layout.shape.seq;
  const Vec scores = domain_scores(lists, width, batch, seq, 53);
  const LossResult got = indexer_loss(layout, scores, qkv, lse, lists, width);
  const LossResult expect = reference_loss(scores, reference_target(layout, qkv, lists, width),
                                           lists, width, batch, seq);
  EXPECT_NEAR(got.loss, expect.loss, 1e-12);
  EXPECT_GT(got.loss, 0.0);
  EXPECT_LT(max_abs_diff(got.row_loss, expect.row_loss), 1e-12);
  EXPECT_LT(max_abs_diff(got.dscores, expect.dscores), 1e-14);  // also: zero off the domain
  for (double kl : got.row_loss) EXPECT_GE(kl, -1e-15);
}

TEST_P(IndexerLoss, MatchesTheMaterialisedReference) {
  expect_reference_loss(layout, qkv, lse, lists, width);
}

TEST_P(IndexerLoss, IsZeroWhenTheIndexerMatchesTheTarget) {
  const Vec target = reference_target(layout, qkv, lists, width);
  Vec scores = domain_scores(lists, width, batch, seq, 54);
  for (int64_t row = 0; row < batch * seq; ++row)  // I_t = log p_t + a per-row constant
    for (int64_t key : domain_of(lists, width, row, seq))
      scores[row * seq + key] = std::log(target[row * seq + key]) + 0.25 * double(row);
  const LossResult got = indexer_loss(layout, scores, qkv, lse, lists, width);
  EXPECT_NEAR(got.loss, 0.0, 1e-14);
  EXPECT_LT(max_abs_diff(got.row_loss, Vec(batch * seq, 0.0)), 1e-13);
  EXPECT_LT(max_abs_diff(got.dscores, Vec(batch * seq * seq, 0.0)), 1e-15);
}

TEST_P(IndexerLoss, GradientMatchesFiniteDifferences) {
  const Vec scores = domain_scores(lists, width, batch, seq, 55);
  auto loss = [&](const std::vector<Vec>& in) {
    return indexer_loss(layout, in[0], qkv, lse, lists, width).loss;
  };
  const Vec dscores = indexer_loss(layout, scores, qkv, lse, lists, width).dscores;
  test::expect_gradients({scores}, loss, {dscores}, {"scores"});
}

INSTANTIATE_TEST_SUITE_P(Domains, IndexerLoss,
                         ::testing::Values(LossCase{{2, 7, 2, 2, 4}, 0},     // dense
                                           LossCase{{1, 12, 3, 1, 4}, 0},    // dense, MQA
                                           LossCase{{2, 9, 6, 2, 3}, 3},     // sparse, GQA
                                           LossCase{{1, 8, 2, 1, 4}, 11}));  // sparse, width > T

TEST(IndexerLossBlocks, DenseDomainAcrossTwoQueryBlocksMatchesTheReference) {
  const QkvLayout layout(AttentionCase{2, 67, 3, 1, 4});  // 64-row blocks: 64 + 3
  const Vec qkv = random_vector<double>(layout.qkv_elements, 56);
  expect_reference_loss(layout, qkv, dense_forward(layout, qkv).lse, {}, 0);
}

// ---- causality ---------------------------------------------------------------------------

// The whole DSA forward of one layer: indexer scores, top-k, sparse attention, indexer loss over
// S_t (sparse stage) and over s <= t against the dense attention (warm-up).
struct PipelineOutputs {
  Vec scores;
  Lists lists;
  AttentionResult sparse;
  LossResult sparse_loss, dense_loss;
};

constexpr IndexerCase kPipelineIndexer{2, 13, 2, 4, true};
constexpr AttentionCase kPipelineAttention{2, 13, 4, 2, 4};

PipelineOutputs run_pipeline(const Vec& indexer_buf, const Vec& qkv, int64_t k) {
  const IndexerLayout il(kPipelineIndexer);
  const QkvLayout ql(kPipelineAttention);
  const int64_t batch = kPipelineAttention.batch, seq = kPipelineAttention.seq;
  PipelineOutputs o;
  o.scores = indexer_scores(il, indexer_buf, true);
  o.lists = select(o.scores, batch, seq, k);
  o.sparse = sparse_forward(ql, qkv, o.lists, k);
  o.sparse_loss = indexer_loss(ql, o.scores, qkv, o.sparse.lse, o.lists, k);
  o.dense_loss = indexer_loss(ql, o.scores, qkv, dense_forward(ql, qkv).lse, {}, 0);
  return o;
}

// Rows t <= last of every batch, `per_row` elements each, of a [B, T, per_row] buffer.
template <class V>
V rows_up_to(const V& values, int64_t last, int64_t batch, int64_t seq, int64_t per_row) {
  V kept;
  for (int64_t b = 0; b < batch; ++b)
    kept.insert(kept.end(), values.begin() + b * seq * per_row,
                values.begin() + (b * seq + last + 1) * per_row);
  return kept;
}

// Heads' lse [B, H, T] at positions t <= last.
Vec lse_up_to(const Vec& lse, int64_t last, int64_t batch_heads, int64_t seq) {
  return rows_up_to(lse, last, batch_heads, seq, 1);
}

TEST(Causality, LaterTokensChangeNothingAtOrBeforeT) {
  const int64_t batch = kPipelineAttention.batch, seq = kPipelineAttention.seq;
  const int64_t heads = kPipelineAttention.heads, per_out = heads * kPipelineAttention.head_dim;
  const IndexerLayout il(kPipelineIndexer);
  const QkvLayout ql(kPipelineAttention);
  const Vec indexer_buf = random_vector<double>(il.elements, 61);
  const Vec qkv = random_vector<double>(ql.qkv_elements, 62);
  for (int64_t k : {int64_t(1), int64_t(3), seq, seq + 2}) {
    const PipelineOutputs base = run_pipeline(indexer_buf, qkv, k);
    for (int64_t last : {int64_t(0), int64_t(1), int64_t(2), k - 1, seq / 2, seq - 2}) {
      if (last < 0 || last >= seq - 1) continue;
      // Every input row of a token after `last`, in every batch, replaced.
      Vec indexer_changed = indexer_buf, qkv_changed = qkv;
      const Vec noise_i = random_vector<double>(il.elements, 63 + last, 3.0);
      const Vec noise_q = random_vector<double>(ql.qkv_elements, 64 + last, 3.0);
      for (size_t i = 0; i < indexer_changed.size(); ++i)
        if ((i / il.shape.q_stride) % seq > size_t(last)) indexer_changed[i] = noise_i[i];
      for (size_t i = 0; i < qkv_changed.size(); ++i)
        if ((i / ql.shape.q_stride) % seq > size_t(last)) qkv_changed[i] = noise_q[i];
      const PipelineOutputs got = run_pipeline(indexer_changed, qkv_changed, k);
      const std::string where = cat("k ", k, ", tokens after ", last, " changed: ");
      ASSERT_FALSE(same_bits(got.scores, base.scores)) << where << "the change had no effect";
      EXPECT_TRUE(same_bits(rows_up_to(got.scores, last, batch, seq, seq),
                            rows_up_to(base.scores, last, batch, seq, seq))) << where << "scores";
      EXPECT_TRUE(same_bits(rows_up_to(got.lists, last, batch, seq, k),
                            rows_up_to(base.lists, last, batch, seq, k))) << where << "selection";
      EXPECT_TRUE(same_bits(rows_up_to(got.sparse.out, last, batch, seq, per_out),
                            rows_up_to(base.sparse.out, last, batch, seq, per_out)))
          << where << "sparse attention output";
      EXPECT_TRUE(same_bits(lse_up_to(got.sparse.lse, last, batch * heads, seq),
                            lse_up_to(base.sparse.lse, last, batch * heads, seq)))
          << where << "sparse attention lse";
      for (const auto& [name, got_loss, base_loss] :
           {std::tuple{"sparse-domain", &got.sparse_loss, &base.sparse_loss},
            std::tuple{"dense-domain", &got.dense_loss, &base.dense_loss}}) {
        EXPECT_TRUE(same_bits(rows_up_to(got_loss->row_loss, last, batch, seq, 1),
                              rows_up_to(base_loss->row_loss, last, batch, seq, 1)))
            << where << name << " indexer loss row terms";
        // dI rows differ only by the 1/rows factor, which is the same: compare them too.
        EXPECT_TRUE(same_bits(rows_up_to(got_loss->dscores, last, batch, seq, seq),
                              rows_up_to(base_loss->dscores, last, batch, seq, seq)))
            << where << name << " indexer loss gradient rows";
      }
    }
  }
}

// ---- determinism and the float twin ------------------------------------------------------

struct FullRun {
  PipelineOutputs forward;
  Vec dindexer, dqkv;
};

// The pipeline plus both backwards (sparse attention with dout; indexer from the sparse-stage dI).
FullRun run_full(const Vec& indexer_buf, const Vec& qkv, int64_t k) {
  const IndexerLayout il(kPipelineIndexer);
  const QkvLayout ql(kPipelineAttention);
  FullRun r{run_pipeline(indexer_buf, qkv, k), Vec(il.elements, 0.0), {}};
  r.dqkv = sparse_backward(ql, qkv, r.forward.lists, k, r.forward.sparse,
                           random_vector<double>(ql.out_elements, 65));
  CpuContext c(cpu::indexer_workspace(il.shape, sizeof(double)));
  cpu::indexer_backward<double>(c.ctx, r.dindexer.data(), r.dindexer.data() + il.k_offset,
                                r.dindexer.data() + il.w_offset,
                                r.forward.sparse_loss.dscores.data(),
                                indexer_buf.data(), indexer_buf.data() + il.k_offset,
                                indexer_buf.data() + il.w_offset, il.shape);
  return r;
}

void expect_same_bits(const FullRun& a, const FullRun& b, const std::string& what) {
  EXPECT_TRUE(same_bits(a.forward.scores, b.forward.scores)) << what << "scores";
  EXPECT_TRUE(same_bits(a.forward.lists, b.forward.lists)) << what << "lists";
  EXPECT_TRUE(same_bits(a.forward.sparse.out, b.forward.sparse.out)) << what << "out";
  EXPECT_TRUE(same_bits(a.forward.sparse.lse, b.forward.sparse.lse)) << what << "lse";
  EXPECT_EQ(a.forward.sparse_loss.loss, b.forward.sparse_loss.loss) << what << "L_I";
  EXPECT_TRUE(same_bits(a.forward.sparse_loss.dscores, b.forward.sparse_loss.dscores))
      << what << "dI";
  EXPECT_EQ(a.forward.dense_loss.loss, b.forward.dense_loss.loss) << what << "dense L_I";
  EXPECT_TRUE(same_bits(a.dqkv, b.dqkv)) << what << "dq|dk|dv";
  EXPECT_TRUE(same_bits(a.dindexer, b.dindexer)) << what << "dqI|dkI|dw";
}

TEST(Determinism, TwoRunsAndAnyThreadCountGiveTheSameBits) {
  const IndexerLayout il(kPipelineIndexer);
  const QkvLayout ql(kPipelineAttention);
  const Vec indexer_buf = random_vector<double>(il.elements, 66);
  const Vec qkv = random_vector<double>(ql.qkv_elements, 67);
  const int64_t k = 4;
  const FullRun first = run_full(indexer_buf, qkv, k);
  expect_same_bits(first, run_full(indexer_buf, qkv, k), "second run: ");
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);  // workspace sized for 1 thread: smaller than before, still enough
  const FullRun single = run_full(indexer_buf, qkv, k);
  omp_set_num_threads(threads);
  expect_same_bits(first, single, cat("1 thread vs ", threads, ": "));
}

template <class To, class From>
std::vector<To> cast(const std::vector<From>& values) {
  return std::vector<To>(values.begin(), values.end());
}

double relative_error(const std::vector<float>& got, const Vec& expect) {
  double diff = 0, norm = 0;
  for (size_t i = 0; i < expect.size(); ++i) {
    if (!std::isfinite(expect[i])) continue;
    diff += (double(got[i]) - expect[i]) * (double(got[i]) - expect[i]);
    norm += expect[i] * expect[i];
  }
  return std::sqrt(diff / norm);
}

TEST(FloatTwin, AgreesWithTheDoubleTwin) {
  const IndexerLayout il(kPipelineIndexer);
  const QkvLayout ql(kPipelineAttention);
  const int64_t k = 4, batch = kPipelineAttention.batch, seq = kPipelineAttention.seq;
  // Inputs exactly representable in float, so both twins see the same numbers.
  const Vec indexer_buf = cast<double>(random_vector<float>(il.elements, 68));
  const Vec qkv = cast<double>(random_vector<float>(ql.qkv_elements, 69));
  const FullRun ref = run_full(indexer_buf, qkv, k);
  const std::vector<float> indexer_f = cast<float>(indexer_buf), qkv_f = cast<float>(qkv);

  std::vector<float> scores(batch * seq * seq);
  CpuContext ci(cpu::indexer_workspace(il.shape, sizeof(float)));
  cpu::indexer_forward<float>(ci.ctx, scores.data(), indexer_f.data(),
                              indexer_f.data() + il.k_offset, indexer_f.data() + il.w_offset,
                              il.shape);
  EXPECT_LT(relative_error(scores, ref.forward.scores), 1e-6) << "indexer scores";

  const ops::IndexLists lists{ref.forward.lists.data(), k};  // the double twin's selection
  std::vector<float> out(ql.out_elements), lse(ql.lse_elements);
  CpuContext ca(cpu::sparse_attention_workspace(ql.shape, k, sizeof(float)));
  cpu::sparse_attention_forward<float>(ca.ctx, out.data(), lse.data(), qkv_f.data(),
                                       qkv_f.data() + ql.k_offset, qkv_f.data() + ql.v_offset,
                                       lists, ql.shape);
  EXPECT_LT(relative_error(out, ref.forward.sparse.out), 1e-5) << "sparse attention out";
  EXPECT_LT(relative_error(lse, ref.forward.sparse.lse), 1e-5) << "sparse attention lse";

  const std::vector<float> dout = random_vector<float>(ql.out_elements, 65);
  std::vector<float> dqkv(ql.qkv_elements);
  cpu::sparse_attention_backward<float>(ca.ctx, dqkv.data(), dqkv.data() + ql.k_offset,
                                        dqkv.data() + ql.v_offset, dout.data(), out.data(),
                                        lse.data(), qkv_f.data(), qkv_f.data() + ql.k_offset,
                                        qkv_f.data() + ql.v_offset, lists, ql.shape);
  EXPECT_LT(relative_error(dqkv, ref.dqkv), 1e-5) << "sparse attention backward";

  const std::vector<float> scores_ref = cast<float>(ref.forward.scores);
  std::vector<float> dscores(batch * seq * seq);
  CpuContext cl(cpu::indexer_loss_workspace(ql.shape, k, sizeof(float)));
  const double loss = cpu::indexer_loss<float>(cl.ctx, dscores.data(), nullptr, scores_ref.data(),
                                               qkv_f.data(), qkv_f.data() + ql.k_offset,
                                               lse.data(), lists, ql.shape);
  EXPECT_NEAR(loss, ref.forward.sparse_loss.loss, 1e-4 * ref.forward.sparse_loss.loss);
  EXPECT_LT(relative_error(dscores, ref.forward.sparse_loss.dscores), 1e-4) << "dI";

  const std::vector<float> dscores_ref = cast<float>(ref.forward.sparse_loss.dscores);
  std::vector<float> dindexer(il.elements, 0.0f);
  cpu::indexer_backward<float>(ci.ctx, dindexer.data(), dindexer.data() + il.k_offset,
                               dindexer.data() + il.w_offset, dscores_ref.data(), indexer_f.data(),
                               indexer_f.data() + il.k_offset, indexer_f.data() + il.w_offset,
                               il.shape);
  EXPECT_LT(relative_error(dindexer, ref.dindexer), 1e-5) << "indexer backward";
}

TEST(FloatTwin, TopKSelectsTheSameListsFromTheSameScores) {
  const int64_t batch = 2, seq = 21;
  Vec scores = causal_random(batch, seq, 70);
  for (double& x : scores)  // quarter steps and ReLU zeros: exact in float, many ties
    if (!std::isnan(x)) x = std::max(0.0, std::round(4 * x) / 4);
  const std::vector<float> scores_f = cast<float>(scores);
  for (int64_t k : {int64_t(1), int64_t(5), seq}) {
    const ops::TopKShape shape{batch, seq, k};
    CpuContext c(cpu::topk_workspace(shape));
    Lists lists_f(batch * seq * k);
    cpu::topk_select<float>(c.ctx, lists_f.data(), scores_f.data(), shape);
    EXPECT_EQ(lists_f, select(scores, batch, seq, k)) << "k " << k;
  }
}

}  // namespace
}  // namespace dsa
