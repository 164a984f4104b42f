// Selection quality of one layer (docs/design.md §6 attn_mass_recall and topk_overlap), summed over the
// rows of a batch so that evaluations can average over batches, layers and rows:
//   mass_recall += sum_{s in S_t} p_ts           p_t: the head-averaged dense attention of row t,
//                                                so this is the mean over heads of each head's
//                                                probability mass inside S_t
//   overlap     += |S_t ∩ R_t| / |S_t|           R_t: the top-|S_t| of p_t (same tie rule)
// Rows with min(k, t + 1) = t + 1 select everything and count 1 for both.
#pragma once
#include <cstdint>

namespace dsa::model {

struct SelectionSums {
  double mass_recall = 0, overlap = 0;
  int64_t rows = 0;
};

// target [B, T, T] (p_ts, s <= t); selected and reference index lists [B, T, width]
// (ops/index_lists.h: ascending, -1 padded).
template <class T>
SelectionSums selection_sums(const T* target, const int32_t* selected, const int32_t* reference,
                             int64_t batch, int64_t seq, int64_t width);

}  // namespace dsa::model
