// The arena (docs/design.md §2): one allocation per purpose group, carved by offsets computed before the
// first step. Nothing is allocated inside a training step. Planning is separate from allocating so
// that the plan can be printed (and checked by `dsatrain bench`) before any memory is taken.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace dsa {

// Offsets for one group: add() returns the byte offset of each slice, aligned to kAlign so that
// vector loads (CPU) and 16-byte loads / TMA (GPU) are always legal.
class ArenaPlan {
 public:
  static constexpr size_t kAlign = 256;

  size_t add(size_t bytes) {
    const size_t offset = bytes_;
    bytes_ += (bytes + kAlign - 1) / kAlign * kAlign;
    return offset;
  }
  size_t bytes() const { return bytes_; }

 private:
  size_t bytes_ = 0;
};

// Where an arena's memory comes from: the host allocator here, the CUDA twin supplies its own
// (cudaMalloc/cudaFree) through its backend table, so the arena never includes CUDA headers.
struct Allocator {
  const char* name;
  void* (*allocate)(size_t bytes);  // returns nullptr on failure
  void (*release)(void* base);
};
Allocator host_allocator();  // aligned_alloc + zero fill

// One allocation, carved by the offsets of an ArenaPlan. Released on destruction.
class Arena {
 public:
  Arena() = default;
  Arena(size_t bytes, const Allocator& allocator, const std::string& purpose);
  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;
  Arena(Arena&& other) noexcept;
  Arena& operator=(Arena&& other) noexcept;

  std::byte* base() const { return base_; }
  size_t bytes() const { return bytes_; }
  template <class T>
  T* at(size_t offset) const {
    return reinterpret_cast<T*>(base_ + offset);
  }

 private:
  void free();
  std::byte* base_ = nullptr;
  size_t bytes_ = 0;
  void (*release_)(void*) = nullptr;
};

// Human-readable byte counts for the memory plan ("12.5 MiB").
std::string format_bytes(size_t bytes);

}  // namespace dsa
