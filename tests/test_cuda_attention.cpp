// The CUDA twin of dense causal attention (cuda/attention_forward.cu, cuda/attention_backward.cu) against the CPU twin
// (cpu/attention.cpp), docs/kernels.md §K1: fresh random inputs per shape (odd T, T across and inside tile
// edges, GQA groups of 1, 2, 3 and 6 heads, head dims 16 … 128), q/k/v strided inside one fused
// QKV buffer as the model lays them out (and once in separate buffers, so q_stride != kv_stride),
// outputs poisoned with NaN, ‖gpu − cpu‖ / ‖cpu‖ <= 1e-5 for out, lse, dq, dk, dv, and
// bit-identical results across two runs (a result that changes is a race). Also causality and
// the errors. Every test skips, saying why, without the CUDA twin or a GPU.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "cpu/cpu_ops.h"
#include "cuda_test_util.h"
#include "test_util.h"
#include "cuda_ops.h"

namespace dsa {
namespace {

struct AttentionCase {
  int64_t batch, seq, heads, kv_heads, head_dim;
  // true: q, k, v inside one [B, T, (H + 2·Hkv)·Dh] buffer (the model's layout, equal strides);
  // false: q in [B, T, H·Dh] followed by k|v interleaved in [B, T, 2·Hkv·Dh] (q_stride != kv_stride).
  bool fused = true;
  double input_scale = 1.0;  // std of q, k, v; larger gives peakier softmax rows
};

std::ostream& operator<<(std::ostream& os, const AttentionCase& c) {
  return os << "B" << c.batch << "_T" << c.seq << "_H" << c.heads << "_Hkv" << c.kv_heads << "_Dh"
            << c.head_dim << (c.fused ? "_fused" : "_separate") << "_x" << c.input_scale;
}

using test::DeviceArray;
using test::random_vector;
using test::relative_error;
using Floats = std::vector<float>;

constexpr double kTolerance = 1e-5;  // fp32 vs fp32 (docs/kernels.md §K1)

// Where q, k and v live in one buffer of `size` floats. Either arrangement covers every element
// of the buffer exactly once, so a gradient buffer of the same layout is completely overwritten.
struct QkvLayout {
  ops::AttentionShape shape;
  int64_t q_offset, k_offset, v_offset, size;
};

QkvLayout make_layout(const AttentionCase& c) {
  const int64_t q_width = c.heads * c.head_dim, kv_width = c.kv_heads * c.head_dim;
  const int64_t tokens = c.batch * c.seq;
  QkvLayout l{};
  l.shape = {c.batch, c.seq, c.heads, c.kv_heads, c.head_dim, 0, 0};
  l.size = tokens * (q_width + 2 * kv_width);
  l.q_offset = 0;
  if (c.fused) {
    l.shape.q_stride = l.shape.kv_stride = q_width + 2 * kv_width;
    l.k_offset = q_width;
  } else {
    l.shape.q_stride = q_width;
    l.shape.kv_stride = 2 * kv_width;
    l.k_offset = tokens * q_width;
  }
  l.v_offset = l.k_offset + kv_width;
  return l;
}

int64_t out_size(const ops::AttentionShape& s) { return s.batch * s.seq * s.heads * s.head_dim; }
int64_t lse_size(const ops::AttentionShape& s) { return s.batch * s.heads * s.seq; }

// The [B·T, width] elements of one strided tensor (q, k, v or their gradients) of a buffer.
Floats gather(const Floats& buffer, int64_t offset, int64_t stride, int64_t width, int64_t tokens) {
  Floats part(tokens * width);
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t i = 0; i < width; ++i) part[t * width + i] = buffer[offset + t * stride + i];
  return part;
}

// ‖gpu − cpu‖ / ‖cpu‖ <= kTolerance, printed. A gradient that is zero in exact arithmetic (dq and
// dk at T = 1: one key, so dS = P·(dP − Δ) = dP − dO·v = 0) is rounding noise in both twins and
// has no relative error to speak of; there the RMS must be below kZeroRms instead.
constexpr double kZeroRms = 1e-4;
void expect_close(const Floats& gpu, const Floats& cpu, const std::string& what) {
  double cpu_squares = 0, gpu_squares = 0;
  for (size_t i = 0; i < cpu.size(); ++i)
    cpu_squares += double(cpu[i]) * cpu[i], gpu_squares += double(gpu[i]) * gpu[i];
  const double n = double(std::max<size_t>(cpu.size(), 1));
  const double error = relative_error(gpu, cpu);
  if (std::sqrt(cpu_squares / n) < kZeroRms && std::isfinite(error)) {
    EXPECT_LT(std::sqrt(gpu_squares / n), kZeroRms) << what << " should be zero up to rounding";
    std::printf("  %-44s rms %.2e (zero in exact arithmetic)\n", what.c_str(), std::sqrt(gpu_squares / n));
    return;
  }
  EXPECT_LE(error, kTolerance) << what;
  std::printf("  %-44s relative error %.2e\n", what.c_str(), error);
}

bool bit_identical(const Floats& a, const Floats& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Bytes of workspace the CUDA twin asks for this shape (it must hold delta [B, H, T]).
size_t gpu_workspace_bytes(const ops::AttentionShape& shape) {
  const ops::WorkspaceQuery query{shape, shape.batch * shape.seq, shape.heads * shape.head_dim, 0};
  const size_t bytes = cuda::workspaces().attention(query);
  EXPECT_GE(bytes, size_t(lse_size(shape)) * sizeof(float)) << "workspace holds delta [B, H, T]";
  return bytes;
}

// Poisons the workspace with NaN, so a delta entry read before it is written shows up as a NaN
// gradient.
void poison_workspace(test::GpuContext& gpu) {
  gpu.workspace.upload(Floats(gpu.ctx.workspace_bytes / sizeof(float) + 1,
                              std::numeric_limits<float>::quiet_NaN()));
}

struct ForwardResult {
  Floats out, lse;
};

ForwardResult gpu_forward(const test::GpuContext& gpu, const DeviceArray<float>& qkv,
                          const QkvLayout& l) {
  DeviceArray<float> out(out_size(l.shape)), lse(lse_size(l.shape));  // NaN-poisoned
  cuda::backend().attention_forward(gpu.ctx, out.get(), lse.get(), qkv.get() + l.q_offset,
                          qkv.get() + l.k_offset, qkv.get() + l.v_offset, l.shape);
  return {out.download(), lse.download()};
}

// dq, dk, dv written into one NaN-poisoned buffer laid out like qkv.
Floats gpu_backward(const test::GpuContext& gpu, const DeviceArray<float>& qkv,
                    const DeviceArray<float>& dout, const DeviceArray<float>& out,
                    const DeviceArray<float>& lse, const QkvLayout& l) {
  DeviceArray<float> dqkv(l.size);
  cuda::backend().attention_backward(gpu.ctx, dqkv.get() + l.q_offset, dqkv.get() + l.k_offset,
                           dqkv.get() + l.v_offset, dout.get(), out.get(), lse.get(),
                           qkv.get() + l.q_offset, qkv.get() + l.k_offset,
                           qkv.get() + l.v_offset, l.shape);
  return dqkv.download();
}

uint64_t seed_of(const AttentionCase& c) {
  return 7919 * uint64_t(c.seq) + 104729 * uint64_t(c.head_dim) + 31 * uint64_t(c.kv_heads) +
         3 * uint64_t(c.batch) + (c.fused ? 0 : 1) + uint64_t(100 * c.input_scale);
}

class CudaAttention : public ::testing::TestWithParam<AttentionCase> {};

TEST_P(CudaAttention, MatchesCpuTwinAndIsDeterministic) {
  const AttentionCase c = GetParam();
  const QkvLayout l = make_layout(c);
  const ops::AttentionShape& s = l.shape;
  const int64_t tokens = s.batch * s.seq;
  const uint64_t seed = seed_of(c);
  const Floats qkv = random_vector<float>(l.size, seed, c.input_scale);
  const Floats dout = random_vector<float>(out_size(s), seed + 1);

  // CPU twin (the reference), float.
  test::CpuContext cpu_ctx(cpu::attention_workspace(s, sizeof(float)));
  Floats out_cpu(out_size(s)), lse_cpu(lse_size(s)), dqkv_cpu(l.size);
  cpu::attention_forward<float>(cpu_ctx.ctx, out_cpu.data(), lse_cpu.data(), qkv.data() + l.q_offset,
                                qkv.data() + l.k_offset, qkv.data() + l.v_offset, s);
  cpu::attention_backward<float>(cpu_ctx.ctx, dqkv_cpu.data() + l.q_offset,
                                 dqkv_cpu.data() + l.k_offset, dqkv_cpu.data() + l.v_offset,
                                 dout.data(), out_cpu.data(), lse_cpu.data(), qkv.data() + l.q_offset,
                                 qkv.data() + l.k_offset, qkv.data() + l.v_offset, s);

  // CUDA twin, twice each. The backward gets the CPU twin's out and lse, so both backward passes
  // see identical inputs and the comparison measures the backward kernels alone.
  test::GpuContext gpu(gpu_workspace_bytes(s));
  poison_workspace(gpu);
  const DeviceArray<float> qkv_gpu(qkv), dout_gpu(dout), out_ref(out_cpu), lse_ref(lse_cpu);
  const ForwardResult first = gpu_forward(gpu, qkv_gpu, l), second = gpu_forward(gpu, qkv_gpu, l);
  const Floats dqkv_first = gpu_backward(gpu, qkv_gpu, dout_gpu, out_ref, lse_ref, l);
  const Floats dqkv_second = gpu_backward(gpu, qkv_gpu, dout_gpu, out_ref, lse_ref, l);

  std::ostringstream name;
  name << c;
  expect_close(first.out, out_cpu, "out " + name.str());
  expect_close(first.lse, lse_cpu, "lse " + name.str());
  const int64_t q_width = s.heads * s.head_dim, kv_width = s.kv_heads * s.head_dim;
  struct Part {
    const char* name;
    int64_t offset, stride, width;
  };
  for (const Part& part : {Part{"dq", l.q_offset, s.q_stride, q_width},
                           Part{"dk", l.k_offset, s.kv_stride, kv_width},
                           Part{"dv", l.v_offset, s.kv_stride, kv_width}}) {
    const Floats gpu_part = gather(dqkv_first, part.offset, part.stride, part.width, tokens);
    const Floats cpu_part = gather(dqkv_cpu, part.offset, part.stride, part.width, tokens);
    expect_close(gpu_part, cpu_part, part.name + (" " + name.str()));
  }
  EXPECT_TRUE(bit_identical(first.out, second.out)) << "out changed between two runs (race?), " << c;
  EXPECT_TRUE(bit_identical(first.lse, second.lse)) << "lse changed between two runs (race?), " << c;
  EXPECT_TRUE(bit_identical(dqkv_first, dqkv_second))
      << "dq/dk/dv changed between two runs (race or atomics?), " << c;
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, CudaAttention,
    ::testing::Values(AttentionCase{1, 1, 6, 2, 64},              // T = 1: out = v_0
                      AttentionCase{2, 7, 6, 3, 32},              // T < one tile
                      AttentionCase{1, 63, 6, 6, 128},            // one short of a 64-row tile
                      AttentionCase{3, 64, 6, 2, 64},             // exactly one tile
                      AttentionCase{2, 65, 6, 3, 128},            // one row into the next tile
                      AttentionCase{1, 200, 6, 2, 32, true, 3.0}, // peaky rows: the max moves
                      AttentionCase{2, 300, 6, 3, 64},
                      AttentionCase{1, 300, 6, 6, 128, false},    // q_stride != kv_stride
                      AttentionCase{3, 100, 6, 1, 16},            // one kv head for six heads
                      AttentionCase{2, 129, 6, 2, 64, false, 2.0},
                      AttentionCase{1, 33, 6, 3, 16, false},
                      AttentionCase{2, 97, 6, 6, 32}),
    [](const ::testing::TestParamInfo<AttentionCase>& info) {
      std::ostringstream stream;
      stream << info.param;
      std::string name = stream.str();
      for (char& ch : name)
        if (ch == '.') ch = 'p';
      return name;
    });

// Changing keys and values after position `cut` changes no out, lse or dq row at or before it
// (bit for bit: masked pairs contribute exact zeros), and does change a later row.
TEST(CudaAttention, Causal) {
  const AttentionCase c{2, 150, 6, 2, 64};
  const QkvLayout l = make_layout(c);
  const ops::AttentionShape& s = l.shape;
  const Floats qkv = random_vector<float>(l.size, 501);
  const Floats dout = random_vector<float>(out_size(s), 502);
  const Floats fresh = random_vector<float>(l.size, 503);
  test::GpuContext gpu(gpu_workspace_bytes(s));
  poison_workspace(gpu);
  const DeviceArray<float> dout_gpu(dout);

  // out, lse and dq (backward from this input's own forward) for one input.
  struct Run {
    ForwardResult forward;
    Floats dq;
  };
  auto run = [&](const Floats& input) {
    const DeviceArray<float> qkv_gpu(input);
    Run r{gpu_forward(gpu, qkv_gpu, l), {}};
    const DeviceArray<float> out_gpu(r.forward.out), lse_gpu(r.forward.lse);
    const Floats dqkv = gpu_backward(gpu, qkv_gpu, dout_gpu, out_gpu, lse_gpu, l);
    r.dq = gather(dqkv, l.q_offset, s.q_stride, s.heads * s.head_dim, s.batch * s.seq);
    return r;
  };
  const Run base = run(qkv);
  const int64_t kv_width = s.kv_heads * s.head_dim, row = s.heads * s.head_dim;
  for (const int64_t cut : {int64_t(0), int64_t(31), int64_t(63), int64_t(64), int64_t(100)}) {
    Floats changed = qkv;
    for (int64_t b = 0; b < s.batch; ++b)
      for (int64_t t = cut + 1; t < s.seq; ++t)
        for (int64_t i = 0; i < kv_width; ++i) {
          const int64_t token = (b * s.seq + t) * s.kv_stride;
          changed[l.k_offset + token + i] = fresh[l.k_offset + token + i];
          changed[l.v_offset + token + i] = fresh[l.v_offset + token + i];
        }
    const Run after = run(changed);
    bool later_row_changed = false;
    for (int64_t b = 0; b < s.batch; ++b)
      for (int64_t t = 0; t < s.seq; ++t) {
        const int64_t at = (b * s.seq + t) * row;
        const bool same_out = std::memcmp(&base.forward.out[at], &after.forward.out[at], row * sizeof(float)) == 0;
        const bool same_dq = std::memcmp(&base.dq[at], &after.dq[at], row * sizeof(float)) == 0;
        bool same_lse = true;
        for (int64_t h = 0; h < s.heads; ++h) {
          const int64_t at_lse = (b * s.heads + h) * s.seq + t;
          same_lse = same_lse && std::memcmp(&base.forward.lse[at_lse], &after.forward.lse[at_lse], sizeof(float)) == 0;
        }
        if (t <= cut) {
          EXPECT_TRUE(same_out) << "out row b=" << b << " t=" << t << " changed; cut " << cut;
          EXPECT_TRUE(same_lse) << "lse row b=" << b << " t=" << t << " changed; cut " << cut;
          EXPECT_TRUE(same_dq) << "dq row b=" << b << " t=" << t << " changed; cut " << cut;
        } else if (!same_out) {
          later_row_changed = true;
        }
      }
    EXPECT_TRUE(later_row_changed) << "the changed keys after " << cut << " were never read";
  }
}

// Unsupported shapes fail naming the op and the offending value; so does a short workspace.
TEST(CudaAttention, Errors) {
  auto expect_error = [](const std::function<void()>& call, const std::vector<std::string>& needles) {
    try {
      call();
      ADD_FAILURE() << "expected an error mentioning " << needles.front();
    } catch (const Error& e) {
      for (const std::string& needle : needles)
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  for (const int64_t bad_dim : {int64_t(48), int64_t(256), int64_t(8)}) {
    const QkvLayout l = make_layout({1, 5, 2, 1, bad_dim});
    const DeviceArray<float> qkv(Floats(l.size, 1.0f)), out(out_size(l.shape), 0.0f),
        lse(lse_size(l.shape), 0.0f), dqkv(l.size);
    test::GpuContext gpu(1 << 20);
    const std::string dim = "head_dim " + std::to_string(bad_dim);
    expect_error([&] {
      cuda::backend().attention_forward(gpu.ctx, out.get(), lse.get(), qkv.get() + l.q_offset,
                              qkv.get() + l.k_offset, qkv.get() + l.v_offset, l.shape);
    }, {"attention_forward", dim});
    expect_error([&] {
      cuda::backend().attention_backward(gpu.ctx, dqkv.get() + l.q_offset, dqkv.get() + l.k_offset,
                               dqkv.get() + l.v_offset, out.get(), out.get(), lse.get(),
                               qkv.get() + l.q_offset, qkv.get() + l.k_offset,
                               qkv.get() + l.v_offset, l.shape);
    }, {"attention_backward", dim});
  }
  {  // heads not a multiple of kv_heads
    QkvLayout l = make_layout({1, 5, 6, 4, 32});
    const DeviceArray<float> qkv(Floats(l.size, 1.0f)), out(out_size(l.shape)), lse(lse_size(l.shape));
    test::GpuContext gpu;
    expect_error([&] {
      cuda::backend().attention_forward(gpu.ctx, out.get(), lse.get(), qkv.get() + l.q_offset,
                              qkv.get() + l.k_offset, qkv.get() + l.v_offset, l.shape);
    }, {"attention_forward", "kv_heads 4"});
  }
  {  // a workspace smaller than delta [B, H, T]
    const QkvLayout l = make_layout({2, 70, 6, 2, 32});
    const DeviceArray<float> qkv(Floats(l.size, 1.0f)), out(out_size(l.shape), 0.0f),
        lse(lse_size(l.shape), 0.0f), dqkv(l.size);
    test::GpuContext gpu(16);
    expect_error([&] {
      cuda::backend().attention_backward(gpu.ctx, dqkv.get() + l.q_offset, dqkv.get() + l.k_offset,
                               dqkv.get() + l.v_offset, out.get(), out.get(), lse.get(),
                               qkv.get() + l.q_offset, qkv.get() + l.k_offset,
                               qkv.get() + l.v_offset, l.shape);
    }, {"attention_backward", "workspace"});
  }
}

}  // namespace
}  // namespace dsa
