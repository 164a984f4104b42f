// The emulated CUB radix sort's checks (cub.h).
#include "cub.h"

#include <string>

#include "core/error.h"
#include "memory.h"

namespace dsa::emu::cub::detail {

namespace {

// Whether [a, a + a_bytes) and [b, b + b_bytes) share a byte.
bool overlap(const void* a, size_t a_bytes, const void* b, size_t b_bytes) {
  const auto* x = static_cast<const std::byte*>(a);
  const auto* y = static_cast<const std::byte*>(b);
  return x < y + b_bytes && y < x + a_bytes;
}

}  // namespace

size_t sort_temp_bytes(int64_t items) { return size_t(std::max<int64_t>(items, 1)) * sizeof(int64_t); }

cudaError_t check_sort(const void* temp, size_t temp_bytes, int64_t items, const void* keys_in, const void* keys_out,
                       size_t key_bytes, const void* values_in, const void* values_out, size_t value_bytes,
                       int begin_bit, int end_bit) {
  const auto fail_with = [](const std::string& why) {
    return record_error(cudaErrorInvalidValue, "cub::DeviceRadixSort::SortPairs: " + why);
  };
  const size_t needed = sort_temp_bytes(items);
  if (temp_bytes < needed)
    return fail_with(cat("temporary storage of ", temp_bytes, " bytes is less than the ", needed,
                         " the size query returns"));
  if (memory::find_range(temp, needed) == nullptr) return fail_with("the temporary storage is not device memory");
  if (items < 0) return fail_with(cat("num_items ", items, " is negative"));
  if (begin_bit < 0 || end_bit > int(key_bytes * 8) || begin_bit >= end_bit)
    return fail_with(cat("bits [", begin_bit, ", ", end_bit, ") are not inside a ", key_bytes * 8, "-bit key"));
  const size_t keys = size_t(items) * key_bytes, values = size_t(items) * value_bytes;
  if (items > 0 && (memory::find_range(keys_in, keys) == nullptr || memory::find_range(keys_out, keys) == nullptr ||
                    memory::find_range(values_in, values) == nullptr ||
                    memory::find_range(values_out, values) == nullptr))
    return fail_with(cat("the ", items, " keys or values in or out are not inside device allocations"));
  if (overlap(keys_in, keys, keys_out, keys) || overlap(values_in, values, values_out, values))
    return fail_with("input and output overlap (SortPairs sorts out of place)");
  if (overlap(temp, needed, keys_out, keys) || overlap(temp, needed, values_out, values) ||
      overlap(temp, needed, keys_in, keys) || overlap(temp, needed, values_in, values))
    return fail_with("the temporary storage overlaps the keys or values");
  return cudaSuccess;
}

}  // namespace dsa::emu::cub::detail
