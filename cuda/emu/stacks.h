// Fiber stacks for the threads of an emulated block: mapped on first use, reused by every later
// block and launch, each with a PROT_NONE guard page below it (an overflow faults there, and the
// fault handler says so instead of corrupting a neighbour).
#pragma once
#include <cstddef>
#include <vector>

namespace dsa::emu {

class StackPool {
 public:
  StackPool() = default;
  StackPool(const StackPool&) = delete;
  StackPool& operator=(const StackPool&) = delete;
  ~StackPool();

  // The highest address of stack `index` (stacks grow down; each starts a few cache lines below
  // its mapping's end, so that the threads' frames spread over the cache sets), mapping it if
  // new; null when the host refuses the mapping.
  void* top(int index);
  // Usable bytes below every top (config::kFiberStackBytes less the largest offset).
  size_t size() const;
  // Whether `address` lies in one of the guard pages (async-signal-safe).
  bool in_guard(const void* address) const;

 private:
  std::vector<std::byte*> mappings_;  // each: [guard page][stack]
};

}  // namespace dsa::emu
