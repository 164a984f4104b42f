// `dsatrain bench --attention` through the real binary on tiny shapes (no PyTorch peer): the
// table has a dense, a random and a window row per T, and the output ends with the sparse_scaling
// line, which compares the largest and the smallest T given (k = 256 when given, else the first k).
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
  EXPECT_NE(r.output.find("selection (top-k) and the lightning indexer are NOT timed"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("copy bandwidth:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("peer: off"), std::string::npos) << r.output;
  for (const char* row : {R"(\n +128 +- +dense +[0-9.]+ +[0-9.]+ +8256 )", R"(\n +128 +16 +random +[0-9.]+ +[0-9.]+ +1928 )",
                          R"(\n +128 +16 +window +[0-9.]+ +[0-9.]+ +1928 )", R"(\n +256 +- +dense +[0-9.]+ +[0-9.]+ +32896 )",
                          R"(\n +256 +16 +random +[0-9.]+ +[0-9.]+ +3976 )", R"(\n +256 +16 +window +[0-9.]+ +[0-9.]+ +3976 )"})
    EXPECT_TRUE(std::regex_search(r.output, std::regex(row))) << "no row " << row << " in\n" << r.output;
  // The output ends with exactly the scaling line.
  const std::regex last(R"(\nsparse_scaling T256/T128 k=16 time_per_pair: ([0-9]+\.[0-9]+)\n$)");
  std::smatch match;
  ASSERT_TRUE(std::regex_search(r.output, match, last)) << r.output;
  EXPECT_GT(std::stod(match[1]), 0.0);
}

TEST(BenchAttention, RejectsBadLists) {
  const CommandResult r = run_cli("bench --attention --attention-t 128,x --attention-peer off");
  EXPECT_NE(r.exit_code, 0);
}

}  // namespace
}  // namespace dsa
