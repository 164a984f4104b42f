#include <algorithm>
#include <cstring>

#include "ops/timed_op.h"
#include "cpu/cpu_ops.h"

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

template <class T, bool Profiled>
ops::Backend<T> make_table() {
  ops::Backend<T> table;
  table.name = "cpu";
  table.device = ops::Device::cpu;
  table.memory = {host_allocator(), &zero_bytes, &copy_bytes, &copy_bytes, &no_wait};
  table.make_context = &cpu_context;
  table.workspace_bytes = &workspace_bytes;
#define DSA_CPU_OP(member, Type) table.member = DSA_TABLE_OP(member, &member<T>, kNoSync);
  DSA_ALL_OPS(DSA_CPU_OP)
#undef DSA_CPU_OP
  return table;
}

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
