#include "core/arena.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "core/error.h"

namespace dsa {

static void* host_allocate(size_t bytes) {
  const size_t rounded = (bytes + ArenaPlan::kAlign - 1) / ArenaPlan::kAlign * ArenaPlan::kAlign;
  void* base = std::aligned_alloc(ArenaPlan::kAlign, rounded);
  if (base != nullptr) std::memset(base, 0, rounded);
  return base;
}

Allocator host_allocator() { return Allocator{"host", &host_allocate, &std::free}; }

Arena::Arena(size_t bytes, const Allocator& allocator, const std::string& purpose)
    : bytes_(bytes), release_(allocator.release) {
  if (bytes == 0) return;
  base_ = static_cast<std::byte*>(allocator.allocate(bytes));
  DSA_CHECK(base_ != nullptr, "arena '", purpose, "': cannot allocate ", format_bytes(bytes),
            " of ", allocator.name, " memory");
}

Arena::~Arena() { free(); }

void Arena::free() {
  if (base_ != nullptr) release_(base_);
  base_ = nullptr;
  bytes_ = 0;
}

Arena::Arena(Arena&& other) noexcept
    : base_(std::exchange(other.base_, nullptr)),
      bytes_(std::exchange(other.bytes_, 0)),
      release_(other.release_) {}

Arena& Arena::operator=(Arena&& other) noexcept {
  if (this != &other) {
    free();
    base_ = std::exchange(other.base_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
    release_ = other.release_;
  }
  return *this;
}

std::string format_bytes(size_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024.0 && unit < 4) {
    value /= 1024.0;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.1f %s", value, units[unit]);
  return text;
}

}  // namespace dsa
