// Fiber stacks (stacks.h).
#include "stacks.h"

#include <sys/mman.h>

#include "config.h"
#include "memory.h"

namespace dsa::emu {

namespace {
size_t mapping_bytes() { return memory::page_bytes() + config::kFiberStackBytes; }
// Stack tops that are all the same distance from a page boundary would put every thread's hot
// frames in the same few cache sets (the threads of a block are resumed one after another): each
// stack starts a different number of cache lines below its top.
constexpr size_t kColorStride = 64;                 // a cache line
constexpr size_t kColors = 512;                     // 32 KiB of offsets
size_t color_of(int index) { return size_t(index) % kColors * kColorStride; }
}  // namespace

StackPool::~StackPool() {
  for (std::byte* mapping : mappings_) munmap(mapping, mapping_bytes());
}

void* StackPool::top(int index) {
  while (static_cast<int>(mappings_.size()) <= index) {
    void* mapped = mmap(nullptr, mapping_bytes(), PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (mapped == MAP_FAILED) return nullptr;
    auto* mapping = static_cast<std::byte*>(mapped);
    mprotect(mapping, memory::page_bytes(), PROT_NONE);
    mappings_.push_back(mapping);
  }
  return mappings_[index] + mapping_bytes() - color_of(index);
}

size_t StackPool::size() const { return config::kFiberStackBytes - kColors * kColorStride; }

bool StackPool::in_guard(const void* address) const {
  const auto* byte = static_cast<const std::byte*>(address);
  for (const std::byte* mapping : mappings_)
    if (byte >= mapping && byte < mapping + memory::page_bytes()) return true;
  return false;
}

}  // namespace dsa::emu
