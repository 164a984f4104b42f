// Causal top-k of one row, the CPU twin's selection kernel (ops/topk.h's order: higher score
// first, then smaller key index; -0.0 equals +0.0). The row is read from memory once:
//   1. a starting threshold: the row dealt into max(2k, 64) blocks, the k-th largest block
//      maximum. k distinct keys (those maxima) score at least that much, so a key scoring less
//      can never be selected; on rows of random scores a few k keys pass it (docs/kernels.md §K5);
//   2. one pass over the row, kMaskRun scores at a time compared with the threshold into a bit
//      mask (cpu/simd_mask.h); keys that pass are candidates, kept in index order;
//   3. whenever the candidate buffer is full, and at the end, it is compacted to the best k: a
//      radix select over order-preserving keys finds the k-th best score (branch-free counting),
//      and a stable filter keeps the scores above it and, of those equal to it, the first ones in
//      index order. The k-th best becomes the threshold: a later key then passes only with a
//      strictly larger score (an equal score with a larger index loses the tie).
// Candidates stay in index order throughout, so the list needs no sort. A NaN score stops the
// row: select() returns false and the caller reports it (the order is undefined with NaNs).
#pragma once
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "core/error.h"
#include "cpu/simd_mask.h"

namespace dsa::cpu {

template <class T>
class RowTopK {
  using Bits = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;  // a score's bits
  static_assert(sizeof(Bits) == sizeof(T), "top-k selector: float or double scores");
  static constexpr int kKeyBits = 8 * sizeof(Bits);
  static constexpr int kDigitBits = 8;  // radix select: 256 counters per pass
  static constexpr int64_t kDigits = int64_t(1) << kDigitBits;
  static constexpr Bits kSignBit = Bits(1) << (kKeyBits - 1);

 public:
  static constexpr int64_t kMinSlack = 64;     // candidates beyond k before a compaction, at least
  static constexpr int64_t kMinBlocks = 64;    // blocks of the starting threshold: max(2k, this)
  static constexpr int64_t kMinSegments = 4;   // fewer keys per block make the threshold too weak
  static_assert(kMinSlack >= kMinBlocks, "the candidate buffer holds the block maxima");

  // Candidates a selector of width k holds before it compacts: k + max(k, kMinSlack), at least
  // 2k and kMinBlocks (the buffer holds the block maxima of start_threshold first).
  static int64_t capacity(int64_t k) { return k + std::max(k, kMinSlack); }
  // Scratch bytes of one selector: candidate scores, the radix select's keys, candidate keys.
  static size_t scratch_bytes(int64_t k) {
    return size_t(capacity(k)) * (2 * sizeof(T) + sizeof(int32_t));
  }

  // `scratch` holds scratch_bytes(k), aligned for T.
  RowTopK(void* scratch, int64_t k)
      : k_(k), capacity_(capacity(k)),
        scores_(static_cast<T*>(scratch)),
        radix_keys_(reinterpret_cast<Bits*>(scores_ + capacity_)),
        keys_(reinterpret_cast<int32_t*>(radix_keys_ + capacity_)) {
    DSA_CHECK(k >= 1, "top-k selector: k = ", k, " must be >= 1");
  }

  // The min(k, n) best keys of row [n] in ascending order, then -1, into keys_out [k]; their
  // scores into scores_out [k] (padding: -inf) when it is not null. False if the row has a NaN.
  bool select(const T* row, int64_t n, int32_t* keys_out, T* scores_out) {
    count_ = 0;
    threshold_ = -std::numeric_limits<T>::infinity();
    passes_all_ = true;
    if (n > capacity_ && n / std::max(2 * k_, kMinBlocks) >= kMinSegments) start_threshold(row, n);
    if (!scan(row, n)) return false;
    if (count_ > k_) compact();
    std::copy_n(keys_, count_, keys_out);
    std::fill(keys_out + count_, keys_out + k_, -1);
    if (scores_out != nullptr) {
      std::copy_n(scores_, count_, scores_out);
      std::fill(scores_out + count_, scores_out + k_, -std::numeric_limits<T>::infinity());
    }
    return true;
  }

 private:
  // threshold_ from the k-th largest of the maxima of m = max(2k, kMinBlocks) blocks (in the
  // candidate buffer meanwhile): keys scoring below it are never selected. Block i holds keys
  // i, i + m, i + 2m, ... (any m >= k disjoint blocks will do), so the maxima are an elementwise
  // max of consecutive segments of the row: vectorised, without horizontal reductions.
  void start_threshold(const T* row, int64_t n) {
    const int64_t blocks = std::max(2 * k_, kMinBlocks), segments = n / blocks;
    std::copy_n(row, blocks, scores_);
    for (int64_t seg = 1; seg < segments; ++seg) {
      const T* x = row + seg * blocks;
#pragma omp simd
      for (int64_t i = 0; i < blocks; ++i) scores_[i] = std::max(scores_[i], x[i]);
    }
    int64_t ties = 0;
    const T kth = kth_largest(scores_, blocks, ties);
    if (kth == -std::numeric_limits<T>::infinity() || std::isnan(kth)) return;
    // Keys equal to kth may still be selected: pass those scoring > the next value below it.
    threshold_ = std::nextafter(kth, -std::numeric_limits<T>::infinity());
    passes_all_ = false;
  }

  // Offers the keys of row [n] that pass the threshold. False on a NaN.
  bool scan(const T* row, int64_t n) {
    int64_t i = 0;
    for (; i + kMaskRun <= n; i += kMaskRun) {
      const RunMask mask = greater_mask(row + i, threshold_);
      if (mask.nan) return false;
      uint64_t bits = passes_all_ ? ~uint64_t(0) : mask.greater;
      for (; bits != 0; bits &= bits - 1) {  // the threshold may rise meanwhile: test again
        const int64_t j = i + std::countr_zero(bits);
        if (passes(row[j])) push(int32_t(j), row[j]);
      }
    }
    for (; i < n; ++i) {
      if (std::isnan(row[i])) return false;
      if (passes(row[i])) push(int32_t(i), row[i]);
    }
    return true;
  }

  bool passes(T score) const { return passes_all_ || score > threshold_; }

  void push(int32_t key, T score) {
    keys_[count_] = key;
    scores_[count_] = score;
    if (++count_ == capacity_) compact();
  }

  // Keeps the best k candidates, in index order; the k-th best score becomes the threshold.
  void compact() {
    int64_t ties = 0;  // candidates equal to the k-th best to keep: the first in index order
    const T kth = kth_largest(scores_, count_, ties);
    int64_t kept = 0;
    for (int64_t i = 0; i < count_; ++i) {
      const T score = scores_[i];
      if (score > kth || (score == kth && ties-- > 0)) {
        keys_[kept] = keys_[i];
        scores_[kept] = score;
        ++kept;
      }
    }
    count_ = kept;
    threshold_ = kth;
    passes_all_ = false;
  }

  // The k-th largest of values [n] (n >= k), by a radix select over order-preserving keys: the
  // bits all keys share are skipped, then a digit of kDigitBits at a time from the top, each
  // pass over the keys that share the digits found so far; `ties` = how many of the values equal
  // to it rank within the k largest.
  T kth_largest(const T* values, int64_t n, int64_t& ties) {
    Bits* keys = radix_keys_;
    Bits all_and = ~Bits(0), all_or = 0;
    for (int64_t i = 0; i < n; ++i) {
      keys[i] = order_key(values[i]);
      all_and &= keys[i];
      all_or |= keys[i];
    }
    const int differing_bits = kKeyBits - std::countl_zero(Bits(all_and ^ all_or));
    int64_t active = n, rank = k_;  // find the rank-th largest of keys[0 .. active)
    for (int shift = differing_bits - kDigitBits; shift > -kDigitBits && active > 1; shift -= kDigitBits) {
      const int low = std::max(shift, 0);  // the last digit may be narrower
      uint32_t histogram[kDigits] = {};
      for (int64_t i = 0; i < active; ++i) ++histogram[(keys[i] >> low) & (kDigits - 1)];
      Bits digit = kDigits - 1;
      while (histogram[digit] < rank) rank -= histogram[digit--];
      int64_t matching = 0;
      for (int64_t i = 0; i < active; ++i)
        if (((keys[i] >> low) & (kDigits - 1)) == digit) keys[matching++] = keys[i];
      active = matching;
    }
    const Bits kth_key = keys[0];
    ties = rank;
    for (int64_t i = 0; i < n; ++i)
      if (order_key(values[i]) == kth_key) return values[i];
    DSA_CHECK(false, "top-k selector: the k-th key is not among the values");
    return T(0);
  }

  // Larger score, larger unsigned key; -0.0 and +0.0 share one (they are equal scores).
  static Bits order_key(T score) {
    Bits bits;
    const T canonical = score == T(0) ? T(0) : score;
    std::memcpy(&bits, &canonical, sizeof bits);
    return bits & kSignBit ? ~bits : bits | kSignBit;
  }

  int64_t k_, capacity_;
  T* scores_;         // [capacity] candidate scores, in index order
  Bits* radix_keys_;  // [capacity] the radix select's keys
  int32_t* keys_;     // [capacity] candidate keys, ascending
  int64_t count_ = 0;
  bool passes_all_ = true;  // no threshold yet: every key is a candidate
  T threshold_{};
};

}  // namespace dsa::cpu
