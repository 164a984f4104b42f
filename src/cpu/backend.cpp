#include <cstring>

#include "cpu/cpu_ops.h"

namespace dsa::cpu {

namespace {
void zero_bytes(const Context&, void* dst, size_t bytes) { std::memset(dst, 0, bytes); }
void copy_bytes(const Context&, void* dst, const void* src, size_t bytes) {
  std::memcpy(dst, src, bytes);
}
void no_wait(const Context&) {}
}  // namespace

template <class T>
const ops::Backend<T>& backend() {
  static const ops::Backend<T> table = {
      .name = "cpu",
      .device = ops::Device::cpu,
      .memory = {host_allocator(), &zero_bytes, &copy_bytes, &copy_bytes, &no_wait},
      .embedding_forward = &embedding_forward<T>,
      .embedding_backward = &embedding_backward<T>,
      .rmsnorm_forward = &rmsnorm_forward<T>,
      .rmsnorm_backward = &rmsnorm_backward<T>,
      .gemm = &gemm<T>,
      .matmul_forward = &matmul_forward<T>,
      .matmul_backward = &matmul_backward<T>,
      .rope_forward = &rope_forward<T>,
      .rope_backward = &rope_backward<T>,
      .attention_forward = &attention_forward<T>,
      .attention_backward = &attention_backward<T>,
      .attention_workspace = &attention_workspace,
      .swiglu_forward = &swiglu_forward<T>,
      .swiglu_backward = &swiglu_backward<T>,
      .residual_forward = &residual_forward<T>,
      .residual_backward = &residual_backward<T>,
      .cross_entropy = &cross_entropy<T>,
      .adamw_update = &adamw_update<T>,
      .sum_squares = &sum_squares<T>,
  };
  return table;
}

template const ops::Backend<float>& backend<float>();
template const ops::Backend<double>& backend<double>();

}  // namespace dsa::cpu
