#include <algorithm>
#include <cstring>

#include "ops/timed_op.h"
#include "cpu/cpu_ops.h"
#include "cpu/dsa_ops.h"

namespace dsa::cpu {

namespace {
void zero_bytes(const Context&, void* dst, size_t bytes) { std::memset(dst, 0, bytes); }
void copy_bytes(const Context&, void* dst, const void* src, size_t bytes) {
  std::memcpy(dst, src, bytes);
}
void no_wait(const Context&) {}
Context cpu_context() { return Context{}; }
}  // namespace

// ctx.workspace for the whole model: the largest of what each op asks for the query's shapes.
size_t workspace_bytes(const ops::WorkspaceQuery& query, size_t scalar_bytes) {
  const size_t dense = attention_workspace(query.attention, scalar_bytes);
  if (query.indexer.heads == 0) return dense;
  const AttentionShape& a = query.attention;
  const int64_t width = query.list_width;
  return std::max({dense, indexer_workspace(query.indexer, scalar_bytes),
                   topk_workspace({a.batch, a.seq, width}),
                   sparse_attention_workspace(a, width, scalar_bytes),
                   indexer_loss_workspace(a, width, scalar_bytes),
                   indexer_loss_workspace(a, 0, scalar_bytes)});
}

constexpr void (*kNoSync)() = nullptr;
#define DSA_OP(name, fn) DSA_TABLE_OP(name, fn, kNoSync)

template <class T, bool Profiled>
ops::Backend<T> make_table() {
  return {
      .name = "cpu",
      .device = ops::Device::cpu,
      .memory = {host_allocator(), &zero_bytes, &copy_bytes, &copy_bytes, &no_wait},
      .make_context = &cpu_context,
      .embedding_forward = DSA_OP(embedding_forward, &embedding_forward<T>),
      .embedding_backward = DSA_OP(embedding_backward, &embedding_backward<T>),
      .rmsnorm_forward = DSA_OP(rmsnorm_forward, &rmsnorm_forward<T>),
      .rmsnorm_backward = DSA_OP(rmsnorm_backward, &rmsnorm_backward<T>),
      .gemm = DSA_OP(gemm, &gemm<T>),
      .matmul_forward = DSA_OP(matmul_forward, &matmul_forward<T>),
      .matmul_backward = DSA_OP(matmul_backward, &matmul_backward<T>),
      .rope_forward = DSA_OP(rope_forward, &rope_forward<T>),
      .rope_backward = DSA_OP(rope_backward, &rope_backward<T>),
      .attention_forward = DSA_OP(attention_forward, &attention_forward<T>),
      .attention_backward = DSA_OP(attention_backward, &attention_backward<T>),
      .workspace_bytes = &workspace_bytes,
      .swiglu_forward = DSA_OP(swiglu_forward, &swiglu_forward<T>),
      .swiglu_backward = DSA_OP(swiglu_backward, &swiglu_backward<T>),
      .residual_forward = DSA_OP(residual_forward, &residual_forward<T>),
      .residual_backward = DSA_OP(residual_backward, &residual_backward<T>),
      .cross_entropy = DSA_OP(cross_entropy, &cross_entropy<T>),
      .adamw_update = DSA_OP(adamw_update, &adamw_update<T>),
      .sum_squares = DSA_OP(sum_squares, &sum_squares<T>),
      .indexer_forward = DSA_OP(indexer_forward, &indexer_forward<T>),
      .indexer_backward = DSA_OP(indexer_backward, &indexer_backward<T>),
      .topk_select = DSA_OP(topk_select, &topk_select<T>),
      .sparse_attention_forward = DSA_OP(sparse_attention_forward, &sparse_attention_forward<T>),
      .sparse_attention_backward = DSA_OP(sparse_attention_backward, &sparse_attention_backward<T>),
      .indexer_loss = DSA_OP(indexer_loss, &indexer_loss<T>),
      .attention_target = DSA_OP(attention_target, &attention_target<T>),
  };
}
#undef DSA_OP

template <class T>
const ops::Backend<T>& backend() {
  static const ops::Backend<T> table = make_table<T, false>();
  return table;
}

template <class T>
const ops::Backend<T>& profiled_backend() {
  static const ops::Backend<T> table = make_table<T, true>();
  return table;
}

template const ops::Backend<float>& backend<float>();
template const ops::Backend<double>& backend<double>();
template const ops::Backend<float>& profiled_backend<float>();

}  // namespace dsa::cpu
