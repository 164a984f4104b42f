#include "cpu/blas_info.h"

#include <cblas.h>
#include <dlfcn.h>
#include <omp.h>

namespace dsa::cpu {

std::string blas_library() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&cblas_sgemm), &info) != 0 && info.dli_fname != nullptr)
    return info.dli_fname;
  return "unknown";
}

std::string blas_threading() {
  switch (openblas_get_parallel()) {
    case 0: return "sequential";
    case 1: return "pthreads";
    case 2: return "openmp";
    default: return "unknown";
  }
}

int cpu_threads() { return omp_get_max_threads(); }

void set_cpu_threads(int64_t threads) {
  if (threads <= 0) return;
  omp_set_num_threads(static_cast<int>(threads));
  openblas_set_num_threads(static_cast<int>(threads));
}

}  // namespace dsa::cpu
