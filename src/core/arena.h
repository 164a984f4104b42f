// The arena (DESIGN §2): one allocation per purpose group, carved by offsets computed before the
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

// Which memory an arena lives in. The CUDA twin provides the device allocator (see cuda/).
enum class MemoryKind { host, device };

// A host arena: one aligned allocation, released on destruction. The device arena has the same
// shape and lives in cuda/ (the twins never include each other).
class HostArena {
 public:
  HostArena() = default;
  explicit HostArena(size_t bytes);
  ~HostArena();
  HostArena(const HostArena&) = delete;
  HostArena& operator=(const HostArena&) = delete;
  HostArena(HostArena&& other) noexcept;
  HostArena& operator=(HostArena&& other) noexcept;

  std::byte* base() const { return base_; }
  size_t bytes() const { return bytes_; }
  template <class T>
  T* at(size_t offset) const {
    return reinterpret_cast<T*>(base_ + offset);
  }

 private:
  std::byte* base_ = nullptr;
  size_t bytes_ = 0;
};

// Human-readable byte counts for the memory plan ("12.5 MiB").
std::string format_bytes(size_t bytes);

}  // namespace dsa
