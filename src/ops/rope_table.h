// The RoPE angle tables shared by both twins: cos/sin[t * (R/2) + i] of t * theta^(-2i/R),
// t in [0, seq), i in [0, R/2) (R = rot_dims), computed in double on the host so that both twins
// rotate by the same angles. The caller converts them to the op's scalar type and copies them into
// the twin's memory (Model: rope_cos/rope_sin [seq_len, Dh/2] in the activations arena, through
// backend.memory.to_device), then passes them to RopeApply (ops/rope.h). Row t depends only on t,
// so a table built for seq_len positions serves every call with seq <= seq_len.
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

namespace dsa::ops {

struct RopeTable {
  std::vector<double> cos, sin;  // [seq, rot_dims / 2]
};

inline RopeTable make_rope_table(int64_t seq, int64_t rot_dims, double theta) {
  const int64_t half = rot_dims / 2;
  RopeTable table;
  table.cos.resize(seq * half);
  table.sin.resize(seq * half);
  for (int64_t t = 0; t < seq; ++t)
    for (int64_t i = 0; i < half; ++i) {
      const double angle = static_cast<double>(t) * std::pow(theta, -2.0 * i / rot_dims);
      table.cos[t * half + i] = std::cos(angle);
      table.sin[t * half + i] = std::sin(angle);
    }
  return table;
}

}  // namespace dsa::ops
