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
