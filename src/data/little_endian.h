// Little-endian fixed-width integers for the data files (they are little-endian whatever the host).
#pragma once
#include <cstdint>
#include <string>

namespace dsa::data {

inline void append_le(std::string& out, uint64_t value, int bytes) {
  for (int b = 0; b < bytes; ++b) out.push_back(static_cast<char>((value >> (8 * b)) & 0xff));
}

inline uint64_t read_le(const char* in, int bytes) {
  uint64_t value = 0;
  for (int b = 0; b < bytes; ++b)
    value |= static_cast<uint64_t>(static_cast<unsigned char>(in[b])) << (8 * b);
  return value;
}

}  // namespace dsa::data
