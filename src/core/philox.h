// Philox4x32-10 counter-based RNG (Salmon et al., SC'11). The same (key, counter) gives the same
// numbers on the CPU and on the GPU, so weights initialised on either device are identical and a
// stream can be resumed from its counter alone (no hidden state to checkpoint).
#pragma once
#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define DSA_HD __host__ __device__ __forceinline__
#else
#define DSA_HD inline
#endif

namespace dsa {

struct Philox4 {
  uint32_t v[4];
};

DSA_HD uint32_t philox_mulhilo(uint32_t a, uint32_t b, uint32_t* hi) {
  const uint64_t product = static_cast<uint64_t>(a) * b;
  *hi = static_cast<uint32_t>(product >> 32);
  return static_cast<uint32_t>(product);
}

// Ten rounds of Philox4x32 on a 128-bit counter under a 64-bit key.
DSA_HD Philox4 philox4x32(uint64_t key, uint64_t counter_hi, uint64_t counter_lo) {
  constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  uint32_t c0 = static_cast<uint32_t>(counter_lo), c1 = static_cast<uint32_t>(counter_lo >> 32);
  uint32_t c2 = static_cast<uint32_t>(counter_hi), c3 = static_cast<uint32_t>(counter_hi >> 32);
  uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, hi1;
    const uint32_t lo0 = philox_mulhilo(kMul0, c0, &hi0);
    const uint32_t lo1 = philox_mulhilo(kMul1, c2, &hi1);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += kWeyl0;
    k1 += kWeyl1;
  }
  return Philox4{{c0, c1, c2, c3}};
}

// Uniform in (0, 1]: never 0, so log() is safe.
DSA_HD float philox_uniform(uint32_t bits) { return (static_cast<float>(bits >> 8) + 1.0f) * (1.0f / 16777216.0f); }

// Element `index` of the standard-normal stream `stream` under `seed` (Box-Muller on one Philox
// block; each block yields two normals, elements 2j and 2j+1). Computed in double on the host and
// in float on the device would differ, so both use float math here.
DSA_HD float philox_normal(uint64_t seed, uint64_t stream, uint64_t index) {
  const Philox4 r = philox4x32(seed, stream, index >> 1);
  const float radius = sqrtf(-2.0f * logf(philox_uniform(r.v[0])));
  const float angle = 6.283185307179586f * philox_uniform(r.v[1]);
  return (index & 1) ? radius * sinf(angle) : radius * cosf(angle);
}

// Uniform integer in [0, bound) for element `index` of stream `stream` (bound < 2^32; the
// 64-bit multiply-shift keeps the bias below 2^-32).
DSA_HD uint64_t philox_below(uint64_t seed, uint64_t stream, uint64_t index, uint64_t bound) {
  const Philox4 r = philox4x32(seed, stream, index);
  const uint64_t bits = (static_cast<uint64_t>(r.v[0]) << 32) | r.v[1];
  return static_cast<uint64_t>((static_cast<unsigned __int128>(bits) * bound) >> 64);
}

}  // namespace dsa
