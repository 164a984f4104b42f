// The machine ceilings that gpu_check.sh divides by (cuda/ceilings.cu): they must be measured, not
// assumed, so check that what comes back is a plausible measurement of a Hopper-class GPU.
#include <cstdio>

#include "cuda_test_util.h"

namespace dsa {
namespace {

TEST(CudaCeilings, MeasuredAndPlausible) {
  if (cuda::runs_emulated()) GTEST_SKIP() << "skipped: speed is not emulated (" << cuda::description() << ")";
  const cuda::Ceilings c = cuda::measure_ceilings();
  std::printf("ceilings on %s: fp32 %.1f, tf32 %.1f, bf16 %.1f TFLOP/s, copy %.2f TB/s\n", c.device.c_str(),
              c.fp32_gemm_tflops, c.tf32_gemm_tflops, c.bf16_gemm_tflops, c.copy_tb_per_s);
  EXPECT_FALSE(c.device.empty());
  // Positive and finite, below anything a single GPU can do (a timing bug shows up as absurd rates).
  for (double rate : {c.fp32_gemm_tflops, c.tf32_gemm_tflops, c.bf16_gemm_tflops}) {
    EXPECT_GT(rate, 1.0);
    EXPECT_LT(rate, 5000.0);
  }
  EXPECT_GT(c.copy_tb_per_s, 0.1);
  EXPECT_LT(c.copy_tb_per_s, 20.0);
  // Tensor-core math must beat plain fp32 FMAs, or the "TF32 off" / bf16 paths are not what they claim.
  EXPECT_GT(c.bf16_gemm_tflops, 2.0 * c.fp32_gemm_tflops);
  EXPECT_GT(c.tf32_gemm_tflops, c.fp32_gemm_tflops);
}

}  // namespace
}  // namespace dsa
