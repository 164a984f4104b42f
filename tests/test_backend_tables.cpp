// The backend tables against the one list of ops (ops/op_list.h): every twin fills every op, or
// says here which one it lacks and why (kAbsent). A table entry left null silently would make the
// model fail only when the op is first called.
#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

#include "cpu/cpu_ops.h"
#include "cuda_backend.h"
#include "ops/backend.h"

namespace dsa {
namespace {

// Ops a twin is allowed to lack, with the reason (none today).
struct Absent {
  const char* twin;
  const char* op;
  const char* why;
};
constexpr std::array<Absent, 0> kAbsent{};

bool declared_absent(const std::string& twin, const std::string& op) {
  for (const Absent& a : kAbsent)
    if (twin == a.twin && op == a.op) return true;
  return false;
}

template <class T>
void expect_complete(const ops::Backend<T>& table, const std::string& twin) {
  int ops_seen = 0;
  ops::for_each_op(table, [&](const char* op, bool set) {
    ++ops_seen;
    if (declared_absent(twin, op)) {
      EXPECT_FALSE(set) << twin << " fills " << op << ": remove it from kAbsent";
      return;
    }
    EXPECT_TRUE(set) << "the " << twin << " table leaves " << op
                     << " unset; implement it or list it in kAbsent with the reason";
  });
  EXPECT_EQ(ops_seen, 25) << "ops/op_list.h has 25 ops (18 dense, 7 DSA)";
  EXPECT_NE(table.workspace_bytes, nullptr) << twin;
  EXPECT_NE(table.make_context, nullptr) << twin;
  EXPECT_EQ(ops::first_missing_sparse_op(table), nullptr) << twin;
}

TEST(BackendTables, EveryTwinFillsEveryOpOfTheList) {
  expect_complete(cpu::backend<float>(), "cpu float");
  expect_complete(cpu::backend<double>(), "cpu double");
  expect_complete(cpu::profiled_backend<float>(), "cpu float profiled");
  expect_complete(cuda::backend(), "cuda");
  expect_complete(cuda::profiled_backend(), "cuda profiled");
}

TEST(BackendTables, TheMissingOpCheckNamesTheFirstDsaOpInListOrder) {
  ops::Backend<float> table = cpu::backend<float>();
  table.topk_select = nullptr;
  table.indexer_loss = nullptr;
  EXPECT_STREQ(ops::first_missing_sparse_op(table), "topk_select");
  table.indexer_forward = nullptr;
  EXPECT_STREQ(ops::first_missing_sparse_op(table), "indexer_forward");
  std::vector<std::string> unset;
  ops::for_each_op(table, [&](const char* op, bool set) {
    if (!set) unset.push_back(op);
  });
  EXPECT_EQ(unset, (std::vector<std::string>{"indexer_forward", "topk_select", "indexer_loss"}));
}

}  // namespace
}  // namespace dsa
