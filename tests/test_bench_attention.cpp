// `dsatrain bench --attention` through the real binary on tiny shapes (no PyTorch peer): the
// table has a dense, a random and a window row per T, the separate selection/indexer table an
// indexer_fwd row per T and a topk row per (T, k), and the output ends with the sparse_scaling
// line, which compares the largest and the smallest T given (k = 256 when given, else the first k).
// --device cuda runs the table through the CUDA twin: on the GPU when there is one, else on the
// emulated device.
#include <sys/wait.h>

#include <cstdio>
#include <regex>
#include <sstream>
#include <string>

#include "test_util.h"

namespace dsa {
namespace {

using test::CommandResult;

test::CommandResult run_cli(const std::string& args) { return test::run_cli(args, false); }


TEST(BenchAttention, TableAndScalingLine) {
  const CommandResult r = run_cli("bench --attention --attention-t 128,256 --attention-k 16 --attention-peer off");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("selection (top-k) and the lightning indexer are timed separately"), std::string::npos) << r.output;
  EXPECT_TRUE(std::regex_search(r.output, std::regex(R"(\ndevice: bench --attention --device auto: )"))) << r.output;
  EXPECT_NE(r.output.find("copy bandwidth:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("peer: off"), std::string::npos) << r.output;
  for (const char* row : {R"(\n +128 +- +dense +[0-9.]+ +[0-9.]+ +8256 )", R"(\n +128 +16 +random +[0-9.]+ +[0-9.]+ +1928 )",
                          R"(\n +128 +16 +window +[0-9.]+ +[0-9.]+ +1928 )", R"(\n +256 +- +dense +[0-9.]+ +[0-9.]+ +32896 )",
                          R"(\n +256 +16 +random +[0-9.]+ +[0-9.]+ +3976 )", R"(\n +256 +16 +window +[0-9.]+ +[0-9.]+ +3976 )"})
    EXPECT_TRUE(std::regex_search(r.output, std::regex(row))) << "no row " << row << " in\n" << r.output;
  for (const char* row : {R"(\n +128 +- +indexer_fwd +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+\n)",
                          R"(\n +128 +16 +topk +[0-9.]+ +- +[0-9.]+ +[0-9.]+\n)",
                          R"(\n +256 +- +indexer_fwd +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+\n)",
                          R"(\n +256 +16 +topk +[0-9.]+ +- +[0-9.]+ +[0-9.]+\n)"})
    EXPECT_TRUE(std::regex_search(r.output, std::regex(row))) << "no row " << row << " in\n" << r.output;
  // The output ends with exactly the scaling line.
  const std::regex last(R"(\nsparse_scaling T256/T128 k=16 time_per_pair: ([0-9]+\.[0-9]+)\n$)");
  std::smatch match;
  ASSERT_TRUE(std::regex_search(r.output, match, last)) << r.output;
  EXPECT_GT(std::stod(match[1]), 0.0);
}

// The DSA-block table: one row per (T, indexer, Hkv) with its parts and the dense/dsa ratio, and
// one dsa_block line per indexer and Hkv at the largest T, before the scaling line.
TEST(BenchAttention, DsaBlockTableAndLines) {
  const CommandResult r = run_cli("bench --attention --device cpu --attention-t 96,160 --attention-k 16 --attention-dsa-k 32 "
                                  "--attention-dsa-indexers 2x8,1x4 --attention-dsa-hkv 4,1 --attention-peer off");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string number = "[0-9]+\\.[0-9]+";
  for (const char* row : {"\n +96 +32 +2x8 +4 ", "\n +96 +32 +2x8 +1 ", "\n +96 +32 +1x4 +4 ", "\n +96 +32 +1x4 +1 ",
                          "\n +160 +32 +2x8 +4 ", "\n +160 +32 +1x4 +1 "})
    EXPECT_TRUE(std::regex_search(r.output, std::regex(row + (" *(" + number + " +){7}[0-9]+\\n")))) << row << "\n" << r.output;
  EXPECT_TRUE(std::regex_search(r.output, std::regex("\n +160 +32 +2x8 +4 .* 2048\\n"))) << "K+V bytes per pair, Hkv 4";
  EXPECT_TRUE(std::regex_search(r.output, std::regex("\n +160 +32 +1x4 +1 .* 512\\n"))) << "K+V bytes per pair, Hkv 1";
  for (const char* line : {"2x8 hkv=4", "2x8 hkv=1", "1x4 hkv=4", "1x4 hkv=1"})
    EXPECT_TRUE(std::regex_search(r.output, std::regex(std::string("\ndsa_block T=160 k=32 indexer=") + line +
                                                         " dense/dsa time: " + number + "\n")))
        << line << "\n" << r.output;
  EXPECT_TRUE(std::regex_search(r.output, std::regex("\nsparse_scaling T160/T96 k=16 time_per_pair: " + number + "\n$")));
  const CommandResult bad = test::run_cli("bench --attention --attention-dsa-hkv 3 --attention-peer off", true);
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("--attention-dsa-hkv: 3 does not divide H = 8"), std::string::npos) << bad.output;
}

TEST(BenchAttention, RejectsBadLists) {
  const CommandResult r = run_cli("bench --attention --attention-t 128,x --attention-peer off");
  EXPECT_NE(r.exit_code, 0);
}

TEST(BenchAttention, CpuDeviceAndBadDevice) {
  const CommandResult cpu = run_cli("bench --attention --device cpu --attention-t 64 --attention-k 8 --attention-peer off");
  ASSERT_EQ(cpu.exit_code, 0) << cpu.output;
  EXPECT_NE(cpu.output.find("device: bench --attention --device cpu\n"), std::string::npos) << cpu.output;
  const CommandResult bad = test::run_cli("bench --attention --device tpu --attention-peer off", true);
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("--device tpu: allowed values are auto, cpu, cuda"), std::string::npos) << bad.output;
}

// --device cuda: the CUDA twin's table, on the GPU, or on the emulated device where there is none
// (CI), which says that its times are the emulator's.
TEST(BenchAttention, CudaDeviceRunsOnTheGpuOrTheEmulatedDevice) {
  const CommandResult r =
      test::run_cli("bench --attention --device cuda --attention-t 64,128 --attention-k 8 --attention-peer off", true);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(std::regex_search(r.output, std::regex("\ndevice: bench --attention --device cuda: (GPU |emulated device )")))
      << r.output;
  if (r.output.find("--device cuda: emulated device") != std::string::npos) {
    EXPECT_NE(r.output.find("note: the emulated device times the emulator"), std::string::npos) << r.output;
  }
  EXPECT_NE(r.output.find("sparse_scaling T128/T64 k=8 time_per_pair: "), std::string::npos) << r.output;
}

}  // namespace
}  // namespace dsa
