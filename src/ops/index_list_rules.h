// The rules of ops/index_lists.h as code both twins check lists with (cpu/ and cuda/ never include
// each other): the first slot of a row that breaks them, and the words that say why, so that both
// twins report a bad list in the same words.
#pragma once
#include <cstdint>
#include <string>

#include "core/error.h"
#include "core/host_device.h"

namespace dsa::ops {

// The slot of the first entry of row t (`width` entries) that breaks the list rules, or -1 when
// the row is valid: keys strictly increasing in [0, t], then only -1 padding.
DSA_HOST_DEVICE inline int64_t first_bad_slot(const int32_t* row, int64_t width, int64_t t) {
  int64_t previous_key = -1;
  bool in_padding = false;
  for (int64_t j = 0; j < width; ++j) {
    const int32_t s = row[j];
    if (s == -1) {
      in_padding = true;
      continue;
    }
    if (in_padding || s < 0 || s > t || s <= previous_key) return j;
    previous_key = s;
  }
  return -1;
}

// Why entry j of row t breaks the rules (j as first_bad_slot returned it). Host only.
inline std::string why_bad_slot(const int32_t* row, int64_t j, int64_t t) {
  const int32_t s = row[j];
  if (s < -1) return cat("value ", s, " is neither a key nor the padding -1");
  if (s > t) return cat("key ", s, " is in the future of query ", t, " (causality)");
  if (row[j - 1] == -1) return cat("key ", s, " follows the -1 padding");
  return cat("key ", s, " does not follow key ", row[j - 1], " in strictly increasing order");
}

}  // namespace dsa::ops
