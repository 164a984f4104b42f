// A host-side profiler for `dsatrain bench --profile`: named scopes accumulate wall time and call
// counts. Only the thread that drives the step opens scopes (ops parallelise inside), so the
// registry needs no lock. The CUDA twin synchronises its stream around a scope when profiling,
// so device time lands in the right op.
#pragma once
#include <cstdint>
#include <string>

#include "core/timer.h"

namespace dsa::profile {

void add(const char* name, double seconds);
void reset();
// One line per scope, largest total first: name, calls, total ms, ms per call, share of the sum.
std::string report();

// Named ranges for external profilers (NVTX under Nsight on the GPU) and a capture window
// (cudaProfilerStart/Stop for `--profile-steps a:b`). core/ knows no CUDA: the CUDA twin installs
// these hooks when it starts; without them ranges cost one branch.
struct Hooks {
  void (*range_push)(const char* name) = nullptr;
  void (*range_pop)() = nullptr;
  void (*capture_start)() = nullptr;
  void (*capture_stop)() = nullptr;
};
void set_hooks(const Hooks& hooks);
const Hooks& hooks();
void capture(bool on);

// A range "what" or "what <index>" ("layer 2 forward" is Range("layer forward", 2) → "layer
// forward 2"); formatted only when a profiler hook is installed.
class Range {
 public:
  explicit Range(const char* what, int64_t index = -1);
  ~Range();
  Range(const Range&) = delete;
  Range& operator=(const Range&) = delete;

 private:
  bool active_;
};

class Scope {
 public:
  explicit Scope(const char* name) : name_(name) {}
  ~Scope() { add(name_, timer_.seconds()); }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  const char* name_;
  Timer timer_;
};

}  // namespace dsa::profile
