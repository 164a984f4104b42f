// ctx.workspace is sized once, before the first step, from the largest call the model will make
// of each op (no allocation inside a step). Each twin answers how many bytes its ops need.
#pragma once
#include <cstddef>
#include <cstdint>

#include "ops/attention.h"
#include "ops/indexer.h"

namespace dsa::ops {

struct WorkspaceQuery {
  AttentionShape attention;  // the largest attention call (batch x seq_len)
  int64_t rows;              // the most rows any op sees (batch * seq_len)
  int64_t max_dim;           // the widest normalised row (d_model)
  int64_t max_elements;      // the largest tensor reduced by sum_squares
  // DSA ops (docs/design.md §4); indexer.heads == 0 means the model has no indexer (no DSA op is called).
  IndexerShape indexer{};    // the largest indexer call
  int64_t list_width = 0;    // the widest index lists (largest k of any stage)
};

using WorkspaceBytes = size_t(const WorkspaceQuery& query, size_t scalar_bytes);

}  // namespace dsa::ops
