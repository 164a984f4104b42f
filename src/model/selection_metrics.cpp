#include "model/selection_metrics.h"

namespace dsa::model {

namespace {

int64_t list_length(const int32_t* row, int64_t width) {
  int64_t n = 0;
  while (n < width && row[n] >= 0) ++n;
  return n;
}

// |a ∩ b| of two ascending lists.
int64_t common_keys(const int32_t* a, int64_t na, const int32_t* b, int64_t nb) {
  int64_t i = 0, j = 0, common = 0;
  while (i < na && j < nb) {
    if (a[i] == b[j]) ++common, ++i, ++j;
    else if (a[i] < b[j]) ++i;
    else ++j;
  }
  return common;
}

}  // namespace

template <class T>
SelectionSums selection_sums(const T* target, const int32_t* selected, const int32_t* reference,
                             int64_t batch, int64_t seq, int64_t width) {
  SelectionSums sums;
  for (int64_t row = 0; row < batch * seq; ++row) {
    const int32_t* keys = selected + row * width;
    const int32_t* best = reference + row * width;
    const int64_t n = list_length(keys, width);
    if (n == 0) continue;
    double mass = 0;
    for (int64_t j = 0; j < n; ++j) mass += double(target[row * seq + keys[j]]);
    sums.mass_recall += mass;
    sums.overlap += double(common_keys(keys, n, best, list_length(best, width))) / double(n);
    ++sums.rows;
  }
  return sums;
}

template SelectionSums selection_sums<float>(const float*, const int32_t*, const int32_t*, int64_t,
                                             int64_t, int64_t);
template SelectionSums selection_sums<double>(const double*, const int32_t*, const int32_t*,
                                              int64_t, int64_t, int64_t);

}  // namespace dsa::model
