// The backend table: one entry per op of ops/op_list.h, whose contracts are in src/ops/. The model
// layer calls ops only through this table, so the CPU twin (cpu/backend.cpp) and the CUDA twin
// (cuda/) are interchangeable. T is float for training; the CPU twin also instantiates double
// (gradient checks).
#pragma once
#include "ops/adamw.h"
#include "ops/attention.h"
#include "ops/context.h"
#include "ops/cross_entropy.h"
#include "ops/embedding.h"
#include "ops/indexer.h"
#include "ops/indexer_loss.h"
#include "ops/matmul.h"
#include "ops/memory.h"
#include "ops/op_list.h"
#include "ops/residual.h"
#include "ops/rmsnorm.h"
#include "ops/rope.h"
#include "ops/sparse_attention.h"
#include "ops/swiglu.h"
#include "ops/topk.h"
#include "ops/workspace.h"

namespace dsa::ops {

template <class T>
struct Backend {
  const char* name = nullptr;
  Device device = Device::cpu;
  MemoryOps memory{};
  // A context on this twin's device: its stream and BLAS handle (workspace left empty).
  Context (*make_context)() = nullptr;
  WorkspaceBytes* workspace_bytes = nullptr;
  // One member per op of ops/op_list.h, null until the twin fills it.
#define DSA_BACKEND_MEMBER(member, Type) Type<T>* member = nullptr;
  DSA_ALL_OPS(DSA_BACKEND_MEMBER)
#undef DSA_BACKEND_MEMBER
};

// Calls visit(name, is_set) for every op of the list, in list order.
template <class T, class Visit>
void for_each_op(const Backend<T>& backend, Visit&& visit) {
#define DSA_VISIT_OP(member, Type) visit(#member, backend.member != nullptr);
  DSA_ALL_OPS(DSA_VISIT_OP)
#undef DSA_VISIT_OP
}

// The first DSA op (DSA_SPARSE_OPS) the backend lacks, or null when it has them all.
template <class T>
const char* first_missing_sparse_op(const Backend<T>& backend) {
#define DSA_FIRST_MISSING(member, Type) \
  if (backend.member == nullptr) return #member;
  DSA_SPARSE_OPS(DSA_FIRST_MISSING)
#undef DSA_FIRST_MISSING
  return nullptr;
}

}  // namespace dsa::ops
