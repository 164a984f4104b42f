// The CUDA twins of the memory-bound ops (cuda/{embedding,rmsnorm,rope,swiglu,residual,
// cross_entropy,adamw}.cu) and of the GEMMs (cuda/matmul.cu: cuBLAS) against the CPU twins (cpu::<op><float>), docs/kernels.md §K1: fresh random
// inputs per shape (odd rows and dims, 1-element cases, vocab 50257, misaligned views that force
// the scalar paths), outputs poisoned with NaN except where the contract accumulates (then both
// twins start from the same random values), ‖gpu − cpu‖ / ‖cpu‖ checked, argmax predictions
// identical, and every CUDA op run twice on the same input with bit-identical results (a result
// that changes is a race). Every test skips, saying why, without the CUDA twin or a GPU.
//
// Tolerances. kTolerance = 1e-5 for single fp32 ops (docs/kernels.md §K1; the differences are summation
// order and fma contraction, ~1e-7 per element; the longest sum here, rmsnorm's dweight over 4099
// rows, differs by ~2e-6 because the CPU twin adds the rows one by one). The exp-heavy ops
// (swiglu, cross_entropy) use the same 1e-5: the CPU float twin's polynomial exp_fast is within
// 2e-7 of e^x (cpu/vec_math.h; 8.5e-8 measured) and CUDA's expf within 2 ulp (~2.4e-7), so the
// two agree to ~5e-7 per element, 20x inside the bound. Gathers, copies and single additions
// (embedding, residual) and the embedding backward (same fp32 additions in the same order as the
// CPU twin) must match bit for bit. sum_squares: 1e-6 against the CPU twin's double.
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "cpu/cpu_ops.h"
#include "cuda_test_util.h"
#include "ops/rope_table.h"
#include "test_util.h"
#include "cuda_ops.h"

namespace dsa {
namespace {

using test::DeviceArray;
using test::GpuContext;
using test::random_tokens;
using test::random_vector;
using test::relative_error;
using Floats = std::vector<float>;

constexpr double kTolerance = 1e-5;
constexpr double kSumSquaresTolerance = 1e-6;

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

template <class... Args>
std::string name(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

// Elements [offset, offset + count) of a device download.
template <class T>
std::vector<T> slice(const std::vector<T>& all, size_t offset, size_t count) {
  return std::vector<T>(all.begin() + offset, all.begin() + offset + count);
}

// `values` preceded by `offset` filler elements: passing get() + offset gives a view that is not
// 16-byte aligned when offset % 4 != 0 (the kernels' scalar paths).
Floats padded(const Floats& values, size_t offset) {
  Floats out(offset, 0.0f);
  out.insert(out.end(), values.begin(), values.end());
  return out;
}

ops::WorkspaceQuery query_of(int64_t rows, int64_t max_dim, int64_t max_elements = 0) {
  ops::WorkspaceQuery query{};
  query.rows = rows;
  query.max_dim = max_dim;
  query.max_elements = max_elements;
  return query;
}

uint64_t fresh_seed() {
  static uint64_t counter = 1000;
  return counter += 17;
}

// ---- embedding ------------------------------------------------------------------------------------

void check_embedding(int64_t rows, int64_t dim, int64_t vocab, const std::vector<int32_t>& tokens,
                     size_t offset = 0) {
  SCOPED_TRACE(name("embedding rows ", rows, " dim ", dim, " vocab ", vocab, " offset ", offset));
  const uint64_t seed = fresh_seed();
  const Floats table = random_vector<float>(vocab * dim, seed);
  const Floats dout = random_vector<float>(rows * dim, seed + 1);
  const Floats dtable_start = random_vector<float>(vocab * dim, seed + 2);
  test::CpuContext cpu;
  Floats out_cpu(rows * dim), dtable_cpu = dtable_start;
  cpu::embedding_forward<float>(cpu.ctx, out_cpu.data(), tokens.data(), table.data(), rows, dim, vocab);
  cpu::embedding_backward<float>(cpu.ctx, dtable_cpu.data(), dout.data(), tokens.data(), rows, dim, vocab);

  GpuContext gpu(cuda::workspaces().embedding(query_of(rows, dim)));
  DeviceArray<int32_t> d_tokens(tokens);
  DeviceArray<float> d_table(padded(table, offset)), d_dout(padded(dout, offset));
  Floats out_gpu[2], dtable_gpu[2];
  for (int run = 0; run < 2; ++run) {
    DeviceArray<float> d_out(size_t(rows * dim) + offset);  // NaN
    cuda::backend().embedding_forward(gpu.ctx, d_out.get() + offset, d_tokens.get(), d_table.get() + offset, rows, dim, vocab);
    DeviceArray<float> d_dtable(padded(dtable_start, offset));
    cuda::backend().embedding_backward(gpu.ctx, d_dtable.get() + offset, d_dout.get() + offset, d_tokens.get(), rows, dim, vocab);
    out_gpu[run] = slice(d_out.download(), offset, rows * dim);
    dtable_gpu[run] = slice(d_dtable.download(), offset, vocab * dim);
  }
  EXPECT_EQ(relative_error(out_gpu[0], out_cpu), 0.0) << "a gather copies exactly";
  EXPECT_TRUE(out_gpu[0] == out_cpu) << "forward differs from the CPU twin";
  EXPECT_LE(relative_error(dtable_gpu[0], dtable_cpu), kTolerance);
  EXPECT_TRUE(dtable_gpu[0] == dtable_cpu) << "backward: same additions in the same order as the CPU twin, "
                                              "so the same bits; relative error "
                                           << relative_error(dtable_gpu[0], dtable_cpu);
  EXPECT_TRUE(same_bits(out_gpu[0], out_gpu[1])) << "forward not deterministic";
  EXPECT_TRUE(same_bits(dtable_gpu[0], dtable_gpu[1])) << "backward not deterministic";
}

void check_embedding_random(int64_t rows, int64_t dim, int64_t vocab, size_t offset = 0) {
  check_embedding(rows, dim, vocab, random_tokens(rows, int32_t(vocab), fresh_seed()), offset);
}

// ---- rmsnorm ------------------------------------------------------------------------------------

void check_rmsnorm(int64_t rows, int64_t dim, size_t offset = 0) {
  SCOPED_TRACE(name("rmsnorm rows ", rows, " dim ", dim, " offset ", offset));
  const uint64_t seed = fresh_seed();
  const double eps = 1e-5;
  const Floats x = random_vector<float>(rows * dim, seed);
  Floats weight = random_vector<float>(dim, seed + 1, 0.3);
  for (float& w : weight) w += 1.0f;  // gains near 1, as trained
  const Floats dout = random_vector<float>(rows * dim, seed + 2);
  const Floats din_start = random_vector<float>(rows * dim, seed + 3);
  const Floats dweight_start = random_vector<float>(dim, seed + 4);
  test::CpuContext cpu;
  Floats out_cpu(rows * dim), rstd_cpu(rows), din_cpu = din_start, dweight_cpu = dweight_start;
  cpu::rmsnorm_forward<float>(cpu.ctx, out_cpu.data(), rstd_cpu.data(), x.data(), weight.data(), rows, dim, eps);
  cpu::rmsnorm_backward<float>(cpu.ctx, din_cpu.data(), dweight_cpu.data(), dout.data(), x.data(), weight.data(),
                               rstd_cpu.data(), rows, dim);

  GpuContext gpu(cuda::workspaces().rmsnorm(query_of(rows, dim)));
  DeviceArray<float> d_x(padded(x, offset)), d_weight(padded(weight, offset)), d_dout(padded(dout, offset));
  DeviceArray<float> d_rstd_cpu(rstd_cpu);  // the backward gets the CPU's rstd: the same inputs as its twin
  Floats out_gpu[2], rstd_gpu[2], din_gpu[2], dweight_gpu[2];
  for (int run = 0; run < 2; ++run) {
    DeviceArray<float> d_out(size_t(rows * dim) + offset), d_rstd(rows);  // NaN
    cuda::backend().rmsnorm_forward(gpu.ctx, d_out.get() + offset, d_rstd.get(), d_x.get() + offset, d_weight.get() + offset,
                          rows, dim, eps);
    DeviceArray<float> d_din(padded(din_start, offset)), d_dweight(padded(dweight_start, offset));
    cuda::backend().rmsnorm_backward(gpu.ctx, d_din.get() + offset, d_dweight.get() + offset, d_dout.get() + offset,
                           d_x.get() + offset, d_weight.get() + offset, d_rstd_cpu.get(), rows, dim);
    out_gpu[run] = slice(d_out.download(), offset, rows * dim);
    rstd_gpu[run] = d_rstd.download();
    din_gpu[run] = slice(d_din.download(), offset, rows * dim);
    dweight_gpu[run] = slice(d_dweight.download(), offset, dim);
  }
  EXPECT_LE(relative_error(out_gpu[0], out_cpu), kTolerance) << "out";
  EXPECT_LE(relative_error(rstd_gpu[0], rstd_cpu), kTolerance) << "rstd";
  EXPECT_LE(relative_error(din_gpu[0], din_cpu), kTolerance) << "din";
  EXPECT_LE(relative_error(dweight_gpu[0], dweight_cpu), kTolerance) << "dweight";
  EXPECT_TRUE(same_bits(out_gpu[0], out_gpu[1]) && same_bits(rstd_gpu[0], rstd_gpu[1])) << "forward not deterministic";
  EXPECT_TRUE(same_bits(din_gpu[0], din_gpu[1])) << "din not deterministic";
  EXPECT_TRUE(same_bits(dweight_gpu[0], dweight_gpu[1])) << "dweight not deterministic";
}

// ---- rope ---------------------------------------------------------------------------------------

struct RopeCase {
  int64_t batch, seq, heads, head_dim, rot_dims, row_stride;
  size_t offset;  // elements before the first row in the buffer (16-byte alignment when % 4 == 0)
};

void check_rope(const RopeCase& c) {
  SCOPED_TRACE(name("rope B", c.batch, " T", c.seq, " H", c.heads, " Dh", c.head_dim, " R", c.rot_dims, " stride ",
                    c.row_stride, " offset ", c.offset));
  const uint64_t seed = fresh_seed();
  const size_t total = c.offset + size_t(c.batch * c.seq * c.row_stride);
  const ops::RopeTable table = ops::make_rope_table(c.seq, c.rot_dims, 10000.0);
  const Floats cos(table.cos.begin(), table.cos.end()), sin(table.sin.begin(), table.sin.end());
  test::CpuContext cpu;
  DeviceArray<float> d_cos(cos), d_sin(sin);
  GpuContext gpu;
  for (const bool backward : {false, true}) {
    SCOPED_TRACE(backward ? "backward" : "forward");
    const Floats start = random_vector<float>(total, seed + backward);
    Floats x_cpu = start;
    auto cpu_op = backward ? &cpu::rope_backward<float> : &cpu::rope_forward<float>;
    cpu_op(cpu.ctx, x_cpu.data() + c.offset, cos.data(), sin.data(), c.batch, c.seq, c.heads, c.head_dim, c.rot_dims,
           c.row_stride);
    auto cuda_op = backward ? cuda::backend().rope_backward : cuda::backend().rope_forward;
    Floats x_gpu[2];
    for (int run = 0; run < 2; ++run) {
      DeviceArray<float> d_x(start);
      cuda_op(gpu.ctx, d_x.get() + c.offset, d_cos.get(), d_sin.get(), c.batch, c.seq, c.heads, c.head_dim,
              c.rot_dims, c.row_stride);
      x_gpu[run] = d_x.download();
    }
    // The whole buffer: elements outside the rotated dims must come back untouched.
    EXPECT_LE(relative_error(x_gpu[0], x_cpu), kTolerance);
    EXPECT_TRUE(same_bits(x_gpu[0], x_gpu[1])) << "not deterministic";
  }
}

// ---- gemm and matmul ----------------------------------------------------------------------------

// gemm with every transpose combination on a strided sub-matrix (lda, ldb, ldc wider than the
// operands), alpha and beta both off their defaults; C starts from the same random values.
void check_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k) {
  SCOPED_TRACE(name("gemm ", trans_a ? "A^T " : "A ", trans_b ? "B^T " : "B ", m, "x", n, "x", k));
  const uint64_t seed = fresh_seed();
  const int64_t a_rows = trans_a ? k : m, a_cols = trans_a ? m : k, b_rows = trans_b ? n : k, b_cols = trans_b ? k : n;
  const int64_t lda = a_cols + 3, ldb = b_cols + 1, ldc = n + 2;  // strided views
  const Floats a = random_vector<float>(a_rows * lda, seed), b = random_vector<float>(b_rows * ldb, seed + 1);
  const Floats c = random_vector<float>(m * ldc, seed + 2);
  test::CpuContext cpu;
  Floats c_cpu = c;
  cpu::gemm<float>(cpu.ctx, trans_a, trans_b, m, n, k, 0.75f, a.data(), lda, b.data(), ldb, 0.5f, c_cpu.data(), ldc);
  GpuContext gpu;
  DeviceArray<float> d_a(a), d_b(b), d_c(c);
  cuda::backend().gemm(gpu.ctx, trans_a, trans_b, m, n, k, 0.75f, d_a.get(), lda, d_b.get(), ldb, 0.5f, d_c.get(), ldc);
  EXPECT_LE(relative_error(d_c.download(), c_cpu), kTolerance);
}

// The linear layer: forward (overwrite and accumulate), backward with and without din.
void check_matmul(int64_t rows, int64_t in_dim, int64_t out_dim) {
  SCOPED_TRACE(name("matmul rows ", rows, " in ", in_dim, " out ", out_dim));
  const uint64_t seed = fresh_seed();
  const Floats in = random_vector<float>(rows * in_dim, seed), weight = random_vector<float>(out_dim * in_dim, seed + 1);
  const Floats dout = random_vector<float>(rows * out_dim, seed + 2);
  const Floats out0 = random_vector<float>(rows * out_dim, seed + 3), dweight0 = random_vector<float>(out_dim * in_dim, seed + 4);
  const Floats din0 = random_vector<float>(rows * in_dim, seed + 5);
  for (const bool accumulate : {false, true}) {
    SCOPED_TRACE(accumulate ? "accumulate" : "overwrite");
    test::CpuContext cpu;
    Floats out_cpu = out0, din_cpu = din0, dweight_cpu = dweight0;
    cpu::matmul_forward<float>(cpu.ctx, out_cpu.data(), in.data(), weight.data(), rows, in_dim, out_dim, accumulate);
    cpu::matmul_backward<float>(cpu.ctx, din_cpu.data(), dweight_cpu.data(), dout.data(), in.data(), weight.data(), rows,
                                in_dim, out_dim, accumulate);
    GpuContext gpu;
    DeviceArray<float> d_in(in), d_weight(weight), d_dout(dout), d_out(out0), d_din(din0), d_dweight(dweight0);
    cuda::backend().matmul_forward(gpu.ctx, d_out.get(), d_in.get(), d_weight.get(), rows, in_dim, out_dim, accumulate);
    cuda::backend().matmul_backward(gpu.ctx, d_din.get(), d_dweight.get(), d_dout.get(), d_in.get(), d_weight.get(),
                                    rows, in_dim, out_dim, accumulate);
    EXPECT_LE(relative_error(d_out.download(), out_cpu), kTolerance) << "out";
    EXPECT_LE(relative_error(d_din.download(), din_cpu), kTolerance) << "din";
    EXPECT_LE(relative_error(d_dweight.download(), dweight_cpu), kTolerance) << "dweight (accumulates)";
  }
  // din null: only dweight.
  test::CpuContext cpu;
  Floats dweight_cpu = dweight0;
  cpu::matmul_backward<float>(cpu.ctx, nullptr, dweight_cpu.data(), dout.data(), in.data(), weight.data(), rows, in_dim,
                              out_dim, false);
  GpuContext gpu;
  DeviceArray<float> d_in(in), d_weight(weight), d_dout(dout), d_dweight(dweight0);
  cuda::backend().matmul_backward(gpu.ctx, nullptr, d_dweight.get(), d_dout.get(), d_in.get(), d_weight.get(), rows,
                                  in_dim, out_dim, false);
  EXPECT_LE(relative_error(d_dweight.download(), dweight_cpu), kTolerance) << "dweight, din null";
}

// ---- swiglu -------------------------------------------------------------------------------------

void check_swiglu(int64_t rows, int64_t hidden, size_t offset = 0) {
  SCOPED_TRACE(name("swiglu rows ", rows, " hidden ", hidden, " offset ", offset));
  const uint64_t seed = fresh_seed();
  const Floats gate_up = random_vector<float>(rows * 2 * hidden, seed, 2.0);
  const Floats dout = random_vector<float>(rows * hidden, seed + 1);
  test::CpuContext cpu;
  Floats out_cpu(rows * hidden), dgate_up_cpu(rows * 2 * hidden);
  cpu::swiglu_forward<float>(cpu.ctx, out_cpu.data(), gate_up.data(), rows, hidden);
  cpu::swiglu_backward<float>(cpu.ctx, dgate_up_cpu.data(), dout.data(), gate_up.data(), rows, hidden);

  GpuContext gpu;
  DeviceArray<float> d_gate_up(padded(gate_up, offset)), d_dout(padded(dout, offset));
  Floats out_gpu[2], dgate_up_gpu[2];
  for (int run = 0; run < 2; ++run) {
    DeviceArray<float> d_out(size_t(rows * hidden) + offset), d_dgate_up(size_t(rows * 2 * hidden) + offset);  // NaN
    cuda::backend().swiglu_forward(gpu.ctx, d_out.get() + offset, d_gate_up.get() + offset, rows, hidden);
    cuda::backend().swiglu_backward(gpu.ctx, d_dgate_up.get() + offset, d_dout.get() + offset, d_gate_up.get() + offset, rows,
                          hidden);
    out_gpu[run] = slice(d_out.download(), offset, rows * hidden);
    dgate_up_gpu[run] = slice(d_dgate_up.download(), offset, rows * 2 * hidden);
  }
  EXPECT_LE(relative_error(out_gpu[0], out_cpu), kTolerance) << "out";
  EXPECT_LE(relative_error(dgate_up_gpu[0], dgate_up_cpu), kTolerance) << "dgate_up";
  EXPECT_TRUE(same_bits(out_gpu[0], out_gpu[1])) << "forward not deterministic";
  EXPECT_TRUE(same_bits(dgate_up_gpu[0], dgate_up_gpu[1])) << "backward not deterministic";
}

// ---- residual -----------------------------------------------------------------------------------

void check_residual(int64_t n, size_t offset = 0) {
  SCOPED_TRACE(name("residual n ", n, " offset ", offset));
  const uint64_t seed = fresh_seed();
  const Floats a = random_vector<float>(n, seed), b = random_vector<float>(n, seed + 1);
  const Floats dout = random_vector<float>(n, seed + 2);
  const Floats da_start = random_vector<float>(n, seed + 3), db_start = random_vector<float>(n, seed + 4);
  test::CpuContext cpu;
  Floats out_cpu(n), da_cpu = da_start, db_cpu = db_start;
  cpu::residual_forward<float>(cpu.ctx, out_cpu.data(), a.data(), b.data(), n);
  cpu::residual_backward<float>(cpu.ctx, da_cpu.data(), db_cpu.data(), dout.data(), n);

  GpuContext gpu;
  DeviceArray<float> d_a(padded(a, offset)), d_b(padded(b, offset)), d_dout(padded(dout, offset));
  Floats out_gpu[2], in_place_gpu[2], da_gpu[2], db_gpu[2], da_only[2], db_only[2];
  for (int run = 0; run < 2; ++run) {
    DeviceArray<float> d_out(size_t(n) + offset);  // NaN
    cuda::backend().residual_forward(gpu.ctx, d_out.get() + offset, d_a.get() + offset, d_b.get() + offset, n);
    out_gpu[run] = slice(d_out.download(), offset, n);
    DeviceArray<float> d_stream(padded(a, offset));  // out aliases a: the residual stream in place
    cuda::backend().residual_forward(gpu.ctx, d_stream.get() + offset, d_stream.get() + offset, d_b.get() + offset, n);
    in_place_gpu[run] = slice(d_stream.download(), offset, n);

    DeviceArray<float> d_da(padded(da_start, offset)), d_db(padded(db_start, offset));
    cuda::backend().residual_backward(gpu.ctx, d_da.get() + offset, d_db.get() + offset, d_dout.get() + offset, n);
    da_gpu[run] = slice(d_da.download(), offset, n);
    db_gpu[run] = slice(d_db.download(), offset, n);
    DeviceArray<float> d_da_only(padded(da_start, offset)), d_db_only(padded(db_start, offset));
    cuda::backend().residual_backward(gpu.ctx, d_da_only.get() + offset, nullptr, d_dout.get() + offset, n);
    cuda::backend().residual_backward(gpu.ctx, nullptr, d_db_only.get() + offset, d_dout.get() + offset, n);
    da_only[run] = slice(d_da_only.download(), offset, n);
    db_only[run] = slice(d_db_only.download(), offset, n);
  }
  // One fp32 addition per element on both twins: the same bits.
  EXPECT_TRUE(out_gpu[0] == out_cpu) << "forward, relative error " << relative_error(out_gpu[0], out_cpu);
  EXPECT_TRUE(in_place_gpu[0] == out_cpu) << "in-place forward, relative error " << relative_error(in_place_gpu[0], out_cpu);
  EXPECT_TRUE(da_gpu[0] == da_cpu && db_gpu[0] == db_cpu) << "backward";
  EXPECT_TRUE(da_only[0] == da_cpu && db_only[0] == db_cpu) << "backward with one null gradient";
  for (const Floats* results : {out_gpu, in_place_gpu, da_gpu, db_gpu})
    EXPECT_TRUE(same_bits(results[0], results[1])) << "not deterministic";
}

// ---- cross_entropy ------------------------------------------------------------------------------

// train: gradient and predictions; eval: grad_scale 0, no predictions; ties: integer logits, the
// row max repeats; masked: a third of the logits -inf (row 0 all but its target), as masked vocab
// entries: threads whose whole slice is -inf must not turn the row's sum into NaN.
enum class CeMode { train, eval, ties, masked };

void check_cross_entropy(int64_t rows, int64_t vocab, CeMode mode, double logit_scale = 3.0, size_t offset = 0) {
  SCOPED_TRACE(name("cross_entropy rows ", rows, " vocab ", vocab, " mode ", int(mode), " scale ", logit_scale,
                    " offset ", offset));
  const uint64_t seed = fresh_seed();
  Floats logits = random_vector<float>(rows * vocab, seed, logit_scale);
  const std::vector<int32_t> targets = random_tokens(rows, int32_t(vocab), seed + 1);
  if (mode == CeMode::ties)  // a few integer levels: the row max repeats, the smallest index must win
    for (float& z : logits) z = std::floor(z);
  if (mode == CeMode::masked)
    for (int64_t n = 0; n < rows; ++n)
      for (int64_t v = 0; v < vocab; ++v)
        if (v != targets[n] && (n == 0 || (n + v) % 3 == 0))
          logits[n * vocab + v] = -std::numeric_limits<float>::infinity();
  const bool with_predictions = mode != CeMode::eval;
  const float grad_scale = mode == CeMode::eval ? 0.0f : float(1.0 / double(rows));
  test::CpuContext cpu;
  Floats logits_cpu = logits, losses_cpu(rows);
  std::vector<int32_t> predictions_cpu(rows, -1);
  cpu::cross_entropy<float>(cpu.ctx, logits_cpu.data(), losses_cpu.data(),
                            with_predictions ? predictions_cpu.data() : nullptr, targets.data(), rows, vocab,
                            grad_scale);

  GpuContext gpu;
  DeviceArray<int32_t> d_targets(targets);
  Floats logits_gpu[2], losses_gpu[2];
  std::vector<int32_t> predictions_gpu[2];
  for (int run = 0; run < 2; ++run) {
    DeviceArray<float> d_logits(padded(logits, offset)), d_losses(rows);  // losses NaN
    DeviceArray<int32_t> d_predictions(rows);                              // -12345
    cuda::backend().cross_entropy(gpu.ctx, d_logits.get() + offset, d_losses.get(),
                        with_predictions ? d_predictions.get() : nullptr, d_targets.get(), rows, vocab, grad_scale);
    logits_gpu[run] = slice(d_logits.download(), offset, rows * vocab);
    losses_gpu[run] = d_losses.download();
    predictions_gpu[run] = d_predictions.download();
  }
  EXPECT_LE(relative_error(losses_gpu[0], losses_cpu), kTolerance) << "losses";
  if (mode == CeMode::eval) {
    EXPECT_TRUE(logits_gpu[0] == logits) << "grad_scale 0 must leave the logits untouched";
    EXPECT_TRUE(predictions_gpu[0] == std::vector<int32_t>(rows, test::DeviceArray<int32_t>::poison()))
        << "null predictions must not be written";
  } else {
    EXPECT_LE(relative_error(logits_gpu[0], logits_cpu), kTolerance) << "dlogits";
    EXPECT_TRUE(predictions_gpu[0] == predictions_cpu) << "argmax predictions differ";
  }
  EXPECT_TRUE(same_bits(losses_gpu[0], losses_gpu[1]) && same_bits(logits_gpu[0], logits_gpu[1]) &&
              same_bits(predictions_gpu[0], predictions_gpu[1]))
      << "not deterministic";
}

// ---- adamw and sum_squares ----------------------------------------------------------------------

void check_adamw(int64_t n, size_t offset = 0) {
  SCOPED_TRACE(name("adamw n ", n, " offset ", offset));
  const uint64_t seed = fresh_seed();
  constexpr int kSteps = 3;
  const Floats param_start = random_vector<float>(n, seed, 0.05);
  std::vector<Floats> grads;
  for (int step = 0; step < kSteps; ++step) grads.push_back(random_vector<float>(n, seed + 1 + step, 0.01));
  auto hyper_of = [](int step) {  // step counts from 1
    ops::AdamWHyper hp{};
    hp.lr = 3e-3 * step;  // changes per step, as under a schedule
    hp.beta1 = 0.9;
    hp.beta2 = 0.95;
    hp.eps = 1e-8;
    hp.weight_decay = 0.1;
    hp.grad_scale = step == 2 ? 0.37 : 1.0;  // a clipped step
    hp.bias1 = 1.0 - std::pow(hp.beta1, step);
    hp.bias2 = 1.0 - std::pow(hp.beta2, step);
    return hp;
  };
  test::CpuContext cpu;
  Floats param_cpu = param_start, m_cpu(n, 0.0f), v_cpu(n, 0.0f);
  for (int step = 1; step <= kSteps; ++step)
    cpu::adamw_update<float>(cpu.ctx, param_cpu.data(), grads[step - 1].data(), m_cpu.data(), v_cpu.data(), n,
                             hyper_of(step));

  GpuContext gpu;
  Floats param_gpu[2], m_gpu[2], v_gpu[2];
  for (int run = 0; run < 2; ++run) {
    DeviceArray<float> d_param(padded(param_start, offset)), d_m(padded(Floats(n, 0.0f), offset));
    DeviceArray<float> d_v(padded(Floats(n, 0.0f), offset));
    for (int step = 1; step <= kSteps; ++step) {
      DeviceArray<float> d_grad(padded(grads[step - 1], offset));
      cuda::backend().adamw_update(gpu.ctx, d_param.get() + offset, d_grad.get() + offset, d_m.get() + offset,
                         d_v.get() + offset, n, hyper_of(step));
    }
    param_gpu[run] = slice(d_param.download(), offset, n);
    m_gpu[run] = slice(d_m.download(), offset, n);
    v_gpu[run] = slice(d_v.download(), offset, n);
  }
  EXPECT_LE(relative_error(param_gpu[0], param_cpu), kTolerance) << "param";
  EXPECT_LE(relative_error(m_gpu[0], m_cpu), kTolerance) << "m";
  EXPECT_LE(relative_error(v_gpu[0], v_cpu), kTolerance) << "v";
  EXPECT_TRUE(same_bits(param_gpu[0], param_gpu[1]) && same_bits(m_gpu[0], m_gpu[1]) && same_bits(v_gpu[0], v_gpu[1]))
      << "not deterministic";
}

void check_sum_squares(int64_t n, size_t offset = 0) {
  SCOPED_TRACE(name("sum_squares n ", n, " offset ", offset));
  const Floats x = random_vector<float>(n, fresh_seed());
  test::CpuContext cpu;
  const double expected = cpu::sum_squares<float>(cpu.ctx, x.data(), n);
  GpuContext gpu(cuda::workspaces().sum_squares(query_of(0, 0, n)));
  DeviceArray<float> d_x(padded(x, offset));
  const double first = cuda::backend().sum_squares(gpu.ctx, d_x.get() + offset, n);
  const double second = cuda::backend().sum_squares(gpu.ctx, d_x.get() + offset, n);
  EXPECT_LE(std::abs(first - expected) / expected, kSumSquaresTolerance) << "gpu " << first << " cpu " << expected;
  EXPECT_EQ(std::memcmp(&first, &second, sizeof(double)), 0) << "not deterministic: " << first << " vs " << second;
}

TEST(CudaOps, Embedding) {
  check_embedding(1, 1, 1, {0});
  check_embedding_random(7, 3, 5);
  check_embedding_random(7, 5, 3);
  check_embedding_random(4099, 1, 2);       // two tokens: runs of ~2000 rows
  check_embedding_random(4099, 255, 97);    // many repeats, scalar path
  check_embedding_random(4099, 256, 50257); // GPT-2 vocab, 16-byte path
  check_embedding_random(513, 257, 4096);
  check_embedding_random(64, 4096, 300);
  check_embedding_random(1000, 4, 255);     // keys <= 255: one sort pass
  check_embedding_random(1000, 4, 256);     // the out-of-range marker 256 needs a second pass
  check_embedding_random(333, 8, 70001);    // 17-bit keys: three passes
  check_embedding_random(300, 256, 1000, 1);  // misaligned views: scalar path with dim % 4 == 0
  // A hot token: 70 % of the rows share one id (one long run, many column tiles).
  std::vector<int32_t> skewed = random_tokens(4099, 50257, fresh_seed());
  for (size_t i = 0; i < skewed.size(); ++i)
    if (i % 10 < 7) skewed[i] = 11;
  check_embedding(4099, 256, 50257, skewed);
}

// Out-of-range tokens cannot throw from a kernel (the host checks ranges before upload): the
// forward writes NaN rows and never reads outside the table, the backward skips those rows.
TEST(CudaOps, EmbeddingOutOfRangeTokens) {
  const int64_t dim = 3, vocab = 5;
  const std::vector<int32_t> tokens = {2, -1, 5, 0, 2, 1 << 30};
  const int64_t rows = int64_t(tokens.size());
  const Floats table = random_vector<float>(vocab * dim, 71), dout = random_vector<float>(rows * dim, 72);
  const Floats dtable_start = random_vector<float>(vocab * dim, 73);
  GpuContext gpu(cuda::workspaces().embedding(query_of(rows, dim)));
  DeviceArray<int32_t> d_tokens(tokens);
  DeviceArray<float> d_table(table), d_dout(dout), d_out(rows * dim), d_dtable(dtable_start);
  cuda::backend().embedding_forward(gpu.ctx, d_out.get(), d_tokens.get(), d_table.get(), rows, dim, vocab);
  cuda::backend().embedding_backward(gpu.ctx, d_dtable.get(), d_dout.get(), d_tokens.get(), rows, dim, vocab);
  const Floats out = d_out.download(), dtable = d_dtable.download();
  // Expected: the CPU twin on the valid rows only, in their order.
  std::vector<int32_t> valid_tokens;
  Floats valid_dout;
  for (int64_t n = 0; n < rows; ++n) {
    const bool valid = tokens[n] >= 0 && tokens[n] < vocab;
    for (int64_t d = 0; d < dim; ++d) {
      if (valid) {
        EXPECT_EQ(out[n * dim + d], table[tokens[n] * dim + d]) << "row " << n;
      } else {
        EXPECT_TRUE(std::isnan(out[n * dim + d])) << "row " << n << " holds an out-of-range token";
      }
    }
    if (valid) {
      valid_tokens.push_back(tokens[n]);
      valid_dout.insert(valid_dout.end(), dout.begin() + n * dim, dout.begin() + (n + 1) * dim);
    }
  }
  test::CpuContext cpu;
  Floats dtable_cpu = dtable_start;
  cpu::embedding_backward<float>(cpu.ctx, dtable_cpu.data(), valid_dout.data(), valid_tokens.data(),
                                 int64_t(valid_tokens.size()), dim, vocab);
  EXPECT_TRUE(dtable == dtable_cpu) << "relative error " << relative_error(dtable, dtable_cpu);
}

TEST(CudaOps, RmsNorm) {
  for (const auto& [rows, dim] : std::vector<std::pair<int64_t, int64_t>>{
           {1, 1}, {7, 1}, {7, 3}, {7, 5}, {1, 255}, {4099, 255}, {4099, 256}, {3, 257}, {5, 4096}, {64, 4096},
           {4099, 1}})
    check_rmsnorm(rows, dim);
  check_rmsnorm(33, 256, 1);  // misaligned views: scalar path with dim % 4 == 0
}

TEST(CudaOps, RmsNormRejectsSmallWorkspace) {
  GpuContext gpu(0);
  DeviceArray<float> buffer(64 * 64, 0.0f), weight(64, 1.0f), rstd(64, 1.0f), dweight(64, 0.0f), din(64 * 64, 0.0f);
  try {
    cuda::backend().rmsnorm_backward(gpu.ctx, din.get(), dweight.get(), buffer.get(), buffer.get(), weight.get(), rstd.get(),
                           64, 64);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rmsnorm_workspace"), std::string::npos) << e.what();
  }
}

TEST(CudaOps, Rope) {
  const std::vector<RopeCase> cases = {
      {1, 1, 1, 2, 2, 2, 0},
      {2, 7, 3, 6, 4, 23, 0},        // partial rotation, odd row stride
      {1, 5, 2, 10, 10, 20, 0},      // half = 5: scalar path
      {3, 257, 8, 32, 32, 768, 256}, // k inside a fused QKV buffer (q width 256): 16-byte path
      {1, 4099, 4, 64, 64, 256, 0},
      {2, 33, 2, 128, 64, 260, 0},   // partial rotation, 16-byte path
      {1, 9, 2, 16, 16, 32, 1},      // misaligned view: scalar path
      {2, 5, 3, 8, 0, 24, 0},        // rot_dims 0: nothing rotates
  };
  for (const RopeCase& c : cases) check_rope(c);
}

TEST(CudaOps, GemmAndMatmul) {
  for (const bool trans_a : {false, true})
    for (const bool trans_b : {false, true}) {
      check_gemm(trans_a, trans_b, 7, 5, 3);
      check_gemm(trans_a, trans_b, 33, 65, 17);
    }
  check_gemm(false, true, 1, 1, 1);
  check_matmul(1, 1, 1);
  check_matmul(37, 24, 11);
  check_matmul(96, 128, 344);
}

TEST(CudaOps, SwiGlu) {
  for (const auto& [rows, hidden] : std::vector<std::pair<int64_t, int64_t>>{
           {1, 1}, {7, 3}, {7, 5}, {4099, 255}, {4099, 256}, {3, 257}, {5, 4096}, {4099, 688}})
    check_swiglu(rows, hidden);
  check_swiglu(7, 256, 1);  // misaligned views
}

TEST(CudaOps, Residual) {
  for (const int64_t n : {1, 3, 5, 255, 256, 257, 4099, (1 << 20) + 3}) check_residual(n);
  check_residual(4099, 1);  // misaligned views
  check_residual(4099, 2);
}

TEST(CudaOps, CrossEntropy) {
  for (const auto& [rows, vocab] : std::vector<std::pair<int64_t, int64_t>>{
           {1, 1}, {7, 3}, {7, 5}, {64, 255}, {33, 256}, {17, 257}, {4099, 4096}, {67, 50257}}) {
    check_cross_entropy(rows, vocab, CeMode::train);
    check_cross_entropy(rows, vocab, CeMode::eval);
  }
  check_cross_entropy(7, 5, CeMode::masked);
  check_cross_entropy(33, 4096, CeMode::masked);
  check_cross_entropy(9, 50257, CeMode::masked);
  check_cross_entropy(64, 4096, CeMode::ties);
  check_cross_entropy(33, 257, CeMode::ties);
  check_cross_entropy(16, 50257, CeMode::train, 30.0);  // peaky rows: exp underflows for most entries
  check_cross_entropy(16, 4096, CeMode::train, 3.0, 1);  // misaligned view: scalar path
}

// A target outside [0, vocab) cannot throw from a kernel (the host checks ranges before upload):
// its row reads nothing out of bounds, its loss and whole gradient row are NaN, other rows are right.
TEST(CudaOps, CrossEntropyOutOfRangeTarget) {
  const int64_t vocab = 10;
  const std::vector<int32_t> targets = {-1, 3, 10};
  const int64_t rows = int64_t(targets.size());
  const Floats logits = random_vector<float>(rows * vocab, 81);
  GpuContext gpu;
  DeviceArray<float> d_logits(logits), d_losses(rows);
  DeviceArray<int32_t> d_targets(targets), d_predictions(rows);
  cuda::backend().cross_entropy(gpu.ctx, d_logits.get(), d_losses.get(), d_predictions.get(), d_targets.get(), rows, vocab, 0.5f);
  const Floats losses = d_losses.download(), grads = d_logits.download();
  EXPECT_TRUE(std::isnan(losses[0]) && std::isnan(losses[2])) << losses[0] << " " << losses[2];
  for (int64_t v = 0; v < vocab; ++v)
    EXPECT_TRUE(std::isnan(grads[v]) && std::isnan(grads[2 * vocab + v])) << "gradient column " << v;
  // Row 1 against the CPU twin alone.
  test::CpuContext cpu;
  Floats row = slice(logits, vocab, vocab), loss(1);
  std::vector<int32_t> prediction(1);
  cpu::cross_entropy<float>(cpu.ctx, row.data(), loss.data(), prediction.data(), &targets[1], 1, vocab, 0.5f);
  EXPECT_LE(std::abs(losses[1] - loss[0]), kTolerance * std::abs(loss[0]));
  EXPECT_LE(relative_error(slice(grads, vocab, vocab), row), kTolerance);
  EXPECT_EQ(d_predictions.download()[1], prediction[0]);
}

TEST(CudaOps, AdamW) {
  for (const int64_t n : {1, 3, 5, 255, 257, 4099, (1 << 20) + 3}) check_adamw(n);
  check_adamw(1000, 1);  // misaligned views
}

TEST(CudaOps, SumSquares) {
  for (const int64_t n : {1, 3, 5, 255, 256, 257, 4099, 16384, 16385, (1 << 20) + 3, 50257 * 768})
    check_sum_squares(n);
  check_sum_squares(100003, 1);  // misaligned view: scalar path
}

}  // namespace
}  // namespace dsa
