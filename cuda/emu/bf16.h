// bfloat16 on the emulated device: the storage type and the round-to-nearest-even conversion the
// twin uses (cuda/ceilings.cu fills its bf16 operands with it).
#pragma once
#include <bit>
#include <cstdint>

namespace dsa::emu {

struct __nv_bfloat16 {
  uint16_t bits;
};

inline __nv_bfloat16 __float2bfloat16(float x) {
  const uint32_t u = std::bit_cast<uint32_t>(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return {uint16_t((u >> 16) | 0x40u)};  // NaN stays a (quiet) NaN
  const uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);                        // to nearest, ties to even
  return {uint16_t((u + rounding) >> 16)};
}

inline float __bfloat162float(__nv_bfloat16 x) { return std::bit_cast<float>(uint32_t(x.bits) << 16); }

}  // namespace dsa::emu
