#include <gtest/gtest.h>

#include "core/arena.h"
#include "core/philox.h"

namespace dsa {

TEST(Philox, KnownAnswerAndStreamsDiffer) {
  // Known-answer vector from the Random123 distribution: philox4x32_10 with key 0 and counter 0.
  const Philox4 zero = philox4x32(0, 0, 0);
  EXPECT_EQ(zero.v[0], 0x6627e8d5u);
  EXPECT_EQ(zero.v[1], 0xe169c58du);
  EXPECT_EQ(zero.v[2], 0xbc57ac4cu);
  EXPECT_EQ(zero.v[3], 0x9b00dbd8u);
  EXPECT_NE(philox_normal(1, 0, 0), philox_normal(1, 1, 0));
}

TEST(Philox, NormalMoments) {
  double sum = 0, sum_sq = 0;
  const int count = 200000;
  for (int i = 0; i < count; ++i) {
    const double x = philox_normal(42, 7, i);
    sum += x;
    sum_sq += x * x;
  }
  EXPECT_NEAR(sum / count, 0.0, 0.01);
  EXPECT_NEAR(sum_sq / count, 1.0, 0.01);
}

TEST(Arena, PlanAlignsSlices) {
  ArenaPlan plan;
  EXPECT_EQ(plan.add(10), 0u);
  EXPECT_EQ(plan.add(300), ArenaPlan::kAlign);
  EXPECT_EQ(plan.bytes(), 3 * ArenaPlan::kAlign);
  Arena arena(plan.bytes(), host_allocator(), "test");
  EXPECT_EQ(reinterpret_cast<uintptr_t>(arena.base()) % ArenaPlan::kAlign, 0u);
}

}  // namespace dsa
