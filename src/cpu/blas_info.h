// Which BLAS library this process actually loaded (benchmarks print it, DESIGN §7) and how it
// threads. Resolved at run time with dladdr, so a wrong Debian alternative shows up in the output.
#pragma once
#include <string>

namespace dsa::cpu {

std::string blas_library();    // path of the shared object that holds cblas_sgemm
std::string blas_threading();  // "openmp", "pthreads" or "sequential" (OpenBLAS builds)
int cpu_threads();             // OpenMP threads our ops use

}  // namespace dsa::cpu
