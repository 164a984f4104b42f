// Which BLAS library this process actually loaded (benchmarks print it, docs/design.md §7) and how it
// threads. Resolved at run time with dladdr, so a wrong Debian alternative shows up in the output.
#pragma once
#include <cstdint>
#include <string>

namespace dsa::cpu {

std::string blas_library();    // path of the shared object that holds cblas_sgemm
std::string blas_threading();  // "openmp", "pthreads" or "sequential" (OpenBLAS builds)
int cpu_threads();             // OpenMP threads our ops use
// Sets the threads of our OpenMP pool and of OpenBLAS (0 leaves the default: all cores). Call it
// before building a model: the attention workspace is planned per thread.
void set_cpu_threads(int64_t threads);

}  // namespace dsa::cpu
