// CUB's DeviceRadixSort::SortPairs on the emulated device: a stable host sort of the keys' bits
// [begin_bit, end_bit), with CUB's two-phase protocol — a call with null temporary storage only
// sets the bytes it needs; a call with less than that, or with operands outside device memory, or
// with input and output overlapping, fails as CUB would (cudaErrorInvalidValue).
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <type_traits>

#include "status.h"
#include "types.h"

namespace dsa::emu::cub {

namespace detail {
// Bytes of temporary storage for `items` (a permutation of their indices, which the sort uses).
size_t sort_temp_bytes(int64_t items);
// cudaSuccess, or the recorded error naming what is wrong with the operands.
cudaError_t check_sort(const void* temp, size_t temp_bytes, int64_t items, const void* keys_in, const void* keys_out,
                       size_t key_bytes, const void* values_in, const void* values_out, size_t value_bytes,
                       int begin_bit, int end_bit);
}  // namespace detail

struct DeviceRadixSort {
  template <class Key, class Value, class Count>
  static cudaError_t SortPairs(void* temp, size_t& temp_bytes, const Key* keys_in, Key* keys_out,
                               const Value* values_in, Value* values_out, Count count, int begin_bit = 0,
                               int end_bit = int(sizeof(Key) * 8), cudaStream_t = nullptr) {
    static_assert(std::is_unsigned_v<Key>, "the emulated radix sort takes unsigned integer keys");
    const int64_t items = int64_t(count);
    if (temp == nullptr) {
      temp_bytes = detail::sort_temp_bytes(items);
      return cudaSuccess;
    }
    const cudaError_t bad = detail::check_sort(temp, temp_bytes, items, keys_in, keys_out, sizeof(Key), values_in,
                                               values_out, sizeof(Value), begin_bit, end_bit);
    if (bad != cudaSuccess || items == 0) return bad;
    const int bits = end_bit - begin_bit;
    const Key mask = bits >= int(sizeof(Key) * 8) ? Key(~Key(0)) : Key((Key(1) << bits) - 1);
    const auto digit = [&](int64_t i) { return Key(keys_in[i] >> begin_bit) & mask; };
    int64_t* order = static_cast<int64_t*>(temp);
    std::iota(order, order + items, int64_t(0));
    std::stable_sort(order, order + items, [&](int64_t x, int64_t y) { return digit(x) < digit(y); });
    for (int64_t i = 0; i < items; ++i) {
      keys_out[i] = keys_in[order[i]];
      values_out[i] = values_in[order[i]];
    }
    return cudaSuccess;
  }
};

}  // namespace dsa::emu::cub
