// Gradient checks (double, central differences) of every CPU op's backward, on odd shapes.
// Each check contracts the op's output with a fixed random tensor R, so L = sum(out * R) and the
// backward is run with dout = R.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "cpu/cpu_ops.h"
#include "cpu/vec_math.h"
#include "ops/rope_table.h"
#include "test_util.h"

namespace dsa {
namespace {

using test::CpuContext;
using test::dot;
using test::random_vector;
using Vec = std::vector<double>;

TEST(GradCheck, Embedding) {
  const int64_t rows = 7, dim = 5, vocab = 4;
  const std::vector<int32_t> tokens = {0, 3, 3, 1, 0, 2, 3};
  const Vec table = random_vector<double>(vocab * dim, 1), weight_r = random_vector<double>(rows * dim, 2);
  CpuContext c;
  auto loss = [&](const std::vector<Vec>& in) {
    Vec out(rows * dim);
    cpu::embedding_forward<double>(c.ctx, out.data(), tokens.data(), in[0].data(), rows, dim, vocab);
    return dot(out, weight_r);
  };
  Vec dtable(vocab * dim, 0.0);
  cpu::embedding_backward<double>(c.ctx, dtable.data(), weight_r.data(), tokens.data(), rows, dim, vocab);
  test::expect_gradients({table}, loss, {dtable}, {"table"});
}

TEST(GradCheck, EmbeddingRejectsOutOfRangeToken) {
  CpuContext c;
  std::vector<int32_t> tokens = {1, 9};
  Vec table(4 * 2), out(2 * 2);
  try {
    cpu::embedding_forward<double>(c.ctx, out.data(), tokens.data(), table.data(), 2, 2, 4);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("token 9 at row 1"), std::string::npos) << e.what();
  }
}

TEST(GradCheck, RmsNorm) {
  const int64_t rows = 5, dim = 7;
  const Vec x = random_vector<double>(rows * dim, 3), w = random_vector<double>(dim, 4, 0.5);
  const Vec r = random_vector<double>(rows * dim, 5);
  CpuContext c;
  auto forward = [&](const Vec& in, const Vec& weight, Vec& rstd) {
    Vec out(rows * dim);
    cpu::rmsnorm_forward<double>(c.ctx, out.data(), rstd.data(), in.data(), weight.data(), rows, dim, 1e-5);
    return out;
  };
  auto loss = [&](const std::vector<Vec>& in) {
    Vec rstd(rows);
    return dot(forward(in[0], in[1], rstd), r);
  };
  Vec rstd(rows), dx(rows * dim, 0.0), dw(dim, 0.0);
  forward(x, w, rstd);
  cpu::rmsnorm_backward<double>(c.ctx, dx.data(), dw.data(), r.data(), x.data(), w.data(), rstd.data(), rows, dim);
  test::expect_gradients({x, w}, loss, {dx, dw}, {"in", "weight"});
}

TEST(GradCheck, Matmul) {
  const int64_t rows = 6, in_dim = 5, out_dim = 3;
  const Vec x = random_vector<double>(rows * in_dim, 6), w = random_vector<double>(out_dim * in_dim, 7);
  const Vec r = random_vector<double>(rows * out_dim, 8);
  CpuContext c;
  auto loss = [&](const std::vector<Vec>& in) {
    Vec out(rows * out_dim);
    cpu::matmul_forward<double>(c.ctx, out.data(), in[0].data(), in[1].data(), rows, in_dim, out_dim, false);
    return dot(out, r);
  };
  Vec dx(rows * in_dim, 0.0), dw(out_dim * in_dim, 0.0);
  cpu::matmul_backward<double>(c.ctx, dx.data(), dw.data(), r.data(), x.data(), w.data(), rows, in_dim, out_dim, false);
  test::expect_gradients({x, w}, loss, {dx, dw}, {"in", "weight"});
}

TEST(GradCheck, RopeFullAndPartialRotation) {
  const int64_t batch = 2, seq = 5, heads = 3, head_dim = 6, stride = 22;  // strided rows
  for (int64_t rot_dims : {int64_t(6), int64_t(4)}) {
    const ops::RopeTable table = ops::make_rope_table(seq, rot_dims, 10000.0);
    const Vec x = random_vector<double>(batch * seq * stride, 9), r = random_vector<double>(batch * seq * stride, 10);
    CpuContext c;
    auto apply = [&](Vec v) {
      cpu::rope_forward<double>(c.ctx, v.data(), table.cos.data(), table.sin.data(), batch, seq, heads, head_dim, rot_dims, stride);
      return v;
    };
    auto loss = [&](const std::vector<Vec>& in) { return dot(apply(in[0]), r); };
    Vec dx = r;
    cpu::rope_backward<double>(c.ctx, dx.data(), table.cos.data(), table.sin.data(), batch, seq, heads, head_dim, rot_dims, stride);
    test::expect_gradients({x}, loss, {dx}, {"x"});
  }
}

TEST(GradCheck, RopeMatchesClosedForm) {
  // Position 3, head_dim 4 (pairs (0,2), (1,3)), theta 100: angle_i = 3 * 100^(-2i/4).
  const ops::RopeTable table = ops::make_rope_table(4, 4, 100.0);
  Vec x(4 * 4, 0.0);
  x[12] = 1.0;  // t = 3, d = 0
  x[13] = 2.0;  // t = 3, d = 1
  CpuContext c;
  cpu::rope_forward<double>(c.ctx, x.data(), table.cos.data(), table.sin.data(), 1, 4, 1, 4, 4, 4);
  const double a0 = 3.0, a1 = 3.0 / 10.0;
  EXPECT_NEAR(x[12], std::cos(a0), 1e-14);
  EXPECT_NEAR(x[14], std::sin(a0), 1e-14);
  EXPECT_NEAR(x[13], 2.0 * std::cos(a1), 1e-14);
  EXPECT_NEAR(x[15], 2.0 * std::sin(a1), 1e-14);
}

struct AttentionCase {
  int64_t batch, seq, heads, kv_heads, head_dim;
};

class AttentionGrad : public ::testing::TestWithParam<AttentionCase> {};

TEST_P(AttentionGrad, MatchesFiniteDifferences) {
  const AttentionCase p = GetParam();
  ops::AttentionShape s{p.batch, p.seq, p.heads, p.kv_heads, p.head_dim, 0, 0};
  // q, k, v inside one fused buffer, as the model lays them out.
  const int64_t qkv_width = (p.heads + 2 * p.kv_heads) * p.head_dim;
  s.q_stride = s.kv_stride = qkv_width;
  const int64_t tokens = p.batch * p.seq;
  const Vec qkv = random_vector<double>(tokens * qkv_width, 11);
  const Vec r = random_vector<double>(tokens * p.heads * p.head_dim, 12);
  CpuContext c(cpu::attention_workspace(s, sizeof(double)));
  const int64_t k_off = p.heads * p.head_dim, v_off = k_off + p.kv_heads * p.head_dim;
  auto forward = [&](const Vec& buf, Vec& out, Vec& lse) {
    cpu::attention_forward<double>(c.ctx, out.data(), lse.data(), buf.data(), buf.data() + k_off, buf.data() + v_off, s);
  };
  auto loss = [&](const std::vector<Vec>& in) {
    Vec out(tokens * p.heads * p.head_dim), lse(p.batch * p.heads * p.seq);
    forward(in[0], out, lse);
    return dot(out, r);
  };
  Vec out(tokens * p.heads * p.head_dim), lse(p.batch * p.heads * p.seq);
  forward(qkv, out, lse);
  Vec dqkv(qkv.size(), 0.0);
  cpu::attention_backward<double>(c.ctx, dqkv.data(), dqkv.data() + k_off, dqkv.data() + v_off, r.data(), out.data(), lse.data(), qkv.data(), qkv.data() + k_off, qkv.data() + v_off, s);
  test::expect_gradients({qkv}, loss, {dqkv}, {"qkv"});
}

INSTANTIATE_TEST_SUITE_P(Shapes, AttentionGrad,
                         ::testing::Values(AttentionCase{2, 5, 2, 2, 4},    // MHA
                                           AttentionCase{1, 7, 6, 2, 4},    // GQA, 3 heads per group
                                           AttentionCase{1, 67, 2, 1, 2})); // crosses a 64-row block

// The dense backward's results do not depend on the thread count: with grouped heads each query
// head's dK/dV share goes to its own partial, summed in head order afterwards.
TEST(AttentionDeterminism, AnyThreadCountGivesTheSameBits) {
  for (const AttentionCase p : {AttentionCase{2, 70, 4, 4, 8}, AttentionCase{2, 70, 4, 1, 8},
                                AttentionCase{1, 70, 6, 2, 8}}) {
    const int64_t width = (p.heads + 2 * p.kv_heads) * p.head_dim, tokens = p.batch * p.seq;
    const ops::AttentionShape s{p.batch, p.seq, p.heads, p.kv_heads, p.head_dim, width, width};
    const std::vector<float> qkv = test::random_vector<float>(tokens * width, 18);
    const std::vector<float> dout = test::random_vector<float>(tokens * p.heads * p.head_dim, 19);
    const int64_t k_off = p.heads * p.head_dim, v_off = k_off + p.kv_heads * p.head_dim;
    auto gradients = [&] {
      CpuContext c(cpu::attention_workspace(s, sizeof(float)));
      std::vector<float> out(dout.size()), lse(p.batch * p.heads * p.seq), dqkv(qkv.size(), 0.0f);
      const float* q = qkv.data();
      cpu::attention_forward<float>(c.ctx, out.data(), lse.data(), q, q + k_off, q + v_off, s);
      cpu::attention_backward<float>(c.ctx, dqkv.data(), dqkv.data() + k_off, dqkv.data() + v_off,
                                     dout.data(), out.data(), lse.data(), q, q + k_off, q + v_off, s);
      return dqkv;
    };
    const std::vector<float> first = gradients();
    const int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    const std::vector<float> single = gradients();
    omp_set_num_threads(std::max(threads, 3));
    const std::vector<float> more = gradients();
    omp_set_num_threads(threads);
    EXPECT_EQ(0, std::memcmp(first.data(), single.data(), first.size() * sizeof(float)))
        << "H=" << p.heads << " Hkv=" << p.kv_heads << ": 1 thread differs";
    EXPECT_EQ(0, std::memcmp(first.data(), more.data(), first.size() * sizeof(float)))
        << "H=" << p.heads << " Hkv=" << p.kv_heads << ": more threads differ";
  }
}

TEST(GradCheck, AttentionLseAndCausalRow0) {
  // Row 0 sees only key 0: out_0 = v_0 and lse_0 = q_0.k_0 / sqrt(Dh).
  ops::AttentionShape s{1, 3, 1, 1, 2, 2, 2};
  const Vec q = random_vector<double>(6, 13), k = random_vector<double>(6, 14), v = random_vector<double>(6, 15);
  CpuContext c(cpu::attention_workspace(s, sizeof(double)));
  Vec out(6), lse(3);
  cpu::attention_forward<double>(c.ctx, out.data(), lse.data(), q.data(), k.data(), v.data(), s);
  EXPECT_NEAR(out[0], v[0], 1e-14);
  EXPECT_NEAR(out[1], v[1], 1e-14);
  EXPECT_NEAR(lse[0], (q[0] * k[0] + q[1] * k[1]) / std::sqrt(2.0), 1e-14);
}

TEST(GradCheck, SwiGlu) {
  const int64_t rows = 4, hidden = 5;
  const Vec gu = random_vector<double>(rows * 2 * hidden, 16, 2.0), r = random_vector<double>(rows * hidden, 17);
  CpuContext c;
  auto loss = [&](const std::vector<Vec>& in) {
    Vec out(rows * hidden);
    cpu::swiglu_forward<double>(c.ctx, out.data(), in[0].data(), rows, hidden);
    return dot(out, r);
  };
  Vec dgu(gu.size());
  cpu::swiglu_backward<double>(c.ctx, dgu.data(), r.data(), gu.data(), rows, hidden);
  test::expect_gradients({gu}, loss, {dgu}, {"gate_up"});
}

TEST(GradCheck, Residual) {
  const int64_t n = 9;
  const Vec a = random_vector<double>(n, 18), b = random_vector<double>(n, 19), r = random_vector<double>(n, 20);
  CpuContext c;
  auto loss = [&](const std::vector<Vec>& in) {
    Vec out(n);
    cpu::residual_forward<double>(c.ctx, out.data(), in[0].data(), in[1].data(), n);
    return dot(out, r);
  };
  Vec da(n, 0.0), db(n, 0.0);
  cpu::residual_backward<double>(c.ctx, da.data(), db.data(), r.data(), n);
  test::expect_gradients({a, b}, loss, {da, db}, {"a", "b"});
}

TEST(GradCheck, CrossEntropy) {
  const int64_t rows = 5, vocab = 11;
  const Vec logits = random_vector<double>(rows * vocab, 21, 3.0);
  const std::vector<int32_t> targets = {0, 10, 3, 3, 7};
  const Vec row_weight = {0.3, -1.2, 0.7, 2.0, 1.0};  // L = sum_n w_n loss_n exercises grad_scale
  CpuContext c;
  auto loss = [&](const std::vector<Vec>& in) {
    Vec work = in[0], losses(rows);
    cpu::cross_entropy<double>(c.ctx, work.data(), losses.data(), nullptr, targets.data(), rows, vocab, 0.0);
    return dot(losses, row_weight);
  };
  // The op scales every row by one grad_scale; run it per row to weight rows differently.
  Vec dlogits = logits, losses(rows);
  for (int64_t n = 0; n < rows; ++n)
    cpu::cross_entropy<double>(c.ctx, dlogits.data() + n * vocab, losses.data() + n, nullptr, targets.data() + n, 1, vocab, row_weight[n]);
  test::expect_gradients({logits}, loss, {dlogits}, {"logits"});
}

TEST(GradCheck, CrossEntropyValuesAndArgmax) {
  Vec logits = {1.0, 3.0, 3.0, -2.0};  // tie between 1 and 2: argmax takes the smaller index
  Vec losses(1);
  int32_t prediction = -1;
  const int32_t target = 0;
  CpuContext c;
  cpu::cross_entropy<double>(c.ctx, logits.data(), losses.data(), &prediction, &target, 1, 4, 0.0);
  const double lse = std::log(std::exp(1.0) + 2 * std::exp(3.0) + std::exp(-2.0));
  EXPECT_NEAR(losses[0], lse - 1.0, 1e-14);
  EXPECT_EQ(prediction, 1);
}

TEST(AdamW, MatchesReferenceFormula) {
  const int64_t n = 5;
  Vec param = random_vector<double>(n, 22), grad = random_vector<double>(n, 23);
  Vec m = random_vector<double>(n, 24, 0.1), v(n, 0.02);
  const ops::AdamWHyper hp{0.01, 0.9, 0.95, 1e-8, 0.1, 0.5, 1 - std::pow(0.9, 3), 1 - std::pow(0.95, 3)};
  Vec expect = param;
  for (int64_t i = 0; i < n; ++i) {
    const double g = grad[i] * 0.5, mi = 0.9 * m[i] + 0.1 * g, vi = 0.95 * v[i] + 0.05 * g * g;
    expect[i] -= 0.01 * ((mi / hp.bias1) / (std::sqrt(vi / hp.bias2) + 1e-8) + 0.1 * param[i]);
  }
  CpuContext c;
  cpu::adamw_update<double>(c.ctx, param.data(), grad.data(), m.data(), v.data(), n, hp);
  for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(param[i], expect[i], 1e-15);
}

TEST(SumSquares, DeterministicAndExact) {
  const int64_t n = 100003;
  const std::vector<float> x = random_vector<float>(n, 25);
  CpuContext c;
  double expect = 0;
  for (float value : x) expect += double(value) * value;
  const double got = cpu::sum_squares<float>(c.ctx, x.data(), n);
  EXPECT_NEAR(got, expect, 1e-9 * expect);
  EXPECT_EQ(got, cpu::sum_squares<float>(c.ctx, x.data(), n));
}

TEST(FastExp, FloatTwinAccuracy) {
  double worst = 0;
  for (float x = -80.0f; x < 80.0f; x += 0.01337f) {
    const double exact = std::exp(double(x));
    worst = std::max(worst, std::abs(cpu::exp_fast(x) - exact) / exact);
  }
  EXPECT_LT(worst, 4e-7);
}

}  // namespace
}  // namespace dsa
