// Shared test helpers: random tensors, op contexts with workspace, finite-difference checks.
#pragma once
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/philox.h"
#include "ops/context.h"

namespace dsa::test {

template <class T>
std::vector<T> random_vector(size_t n, uint64_t seed, double scale = 1.0) {
  std::vector<T> values(n);
  for (size_t i = 0; i < n; ++i) values[i] = T(scale * philox_normal(seed, 99, i));
  return values;
}

inline std::vector<int32_t> random_tokens(size_t n, int32_t vocab, uint64_t seed) {
  std::vector<int32_t> tokens(n);
  for (size_t i = 0; i < n; ++i) tokens[i] = static_cast<int32_t>(philox_below(seed, 7, i, vocab));
  return tokens;
}

// A CPU context owning `bytes` of workspace.
struct CpuContext {
  explicit CpuContext(size_t bytes = 0) : storage(bytes / 8 + 1) {
    ctx.workspace = storage.data();
    ctx.workspace_bytes = bytes;
  }
  std::vector<double> storage;
  ops::Context ctx;
};

// Central differences of a scalar loss over every element of every input, compared with the
// analytic gradients. The error is measured relative to the largest analytic entry of that input.
using LossFn = std::function<double(const std::vector<std::vector<double>>&)>;
inline void expect_gradients(std::vector<std::vector<double>> inputs, const LossFn& loss,
                             const std::vector<std::vector<double>>& analytic,
                             const std::vector<std::string>& names, double tolerance = 1e-6,
                             double step = 1e-5) {
  ASSERT_EQ(inputs.size(), analytic.size());
  for (size_t t = 0; t < inputs.size(); ++t) {
    ASSERT_EQ(inputs[t].size(), analytic[t].size()) << names[t];
    double largest = 1e-12, worst = 0;
    for (double g : analytic[t]) largest = std::max(largest, std::abs(g));
    for (size_t i = 0; i < inputs[t].size(); ++i) {
      const double saved = inputs[t][i];
      inputs[t][i] = saved + step;
      const double plus = loss(inputs);
      inputs[t][i] = saved - step;
      const double minus = loss(inputs);
      inputs[t][i] = saved;
      const double numeric = (plus - minus) / (2 * step);
      worst = std::max(worst, std::abs(numeric - analytic[t][i]));
    }
    EXPECT_LT(worst / largest, tolerance)
        << "gradient of " << names[t] << ": max |numeric - analytic| = " << worst
        << ", max |analytic| = " << largest;
    EXPECT_GT(largest, 1e-9) << "gradient of " << names[t] << " is identically zero";
  }
}

struct CommandResult {
  int exit_code;
  std::string output;
};

// Runs the dsatrain binary with `args`; the output holds stdout, and stderr too when asked.
inline CommandResult run_cli(const std::string& args, bool with_stderr = true) {
  const std::string command =
      std::string(DSA_CLI_PATH) + " " + args + (with_stderr ? " 2>&1" : " 2>/dev/null");
  std::FILE* pipe = ::popen(command.c_str(), "r");
  std::string output;
  char buffer[4096];
  while (size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  const int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

// A fresh directory per test (named after the suite, the test and the process), removed afterwards.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() /
            cat("dsa_", info->test_suite_name(), "_", info->name(), "_", ::getpid());
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

// The message of the dsa::Error that `action` throws; "" (and a test failure) when it throws none.
inline std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& error) {
    return error.what();
  }
  ADD_FAILURE() << "expected a dsa::Error";
  return "";
}

// ||a - b|| / ||b|| (b the reference); any NaN in a (an element never written) makes it infinite.
template <class A, class B>
inline double relative_error(const std::vector<A>& a, const std::vector<B>& b) {
  double diff = 0, ref = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    if (std::isnan(double(a[i]))) return std::numeric_limits<double>::infinity();
    diff += (double(a[i]) - double(b[i])) * (double(a[i]) - double(b[i]));
    ref += double(b[i]) * double(b[i]);
  }
  return std::sqrt(diff / std::max(ref, 1e-300));
}

inline double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double sum = 0;
  for (size_t i = 0; i < a.size(); ++i) sum += a[i] * b[i];
  return sum;
}

}  // namespace dsa::test

#define EXPECT_HAS(text, part) \
  EXPECT_NE(std::string(text).find(part), std::string::npos) << "message: " << (text)
