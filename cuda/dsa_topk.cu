// Causal top-k, CUDA twin (contract: ops/topk.h). UNVERIFIED ON HARDWARE: compiled for sm_90,
// never run on a GPU; tests/test_cuda_dsa.cpp checks that it selects the CPU twin's lists.
//
// One block of 256 threads per query row (b, t), radix select (docs/kernels.md §K5):
//   1. NaN scan of s <= t: the first NaN (lowest s) of the row lowers the error record to
//      row * T + s, so the host names the first NaN in (b, t, s) order, as the CPU twin does.
//   2. Rows with t + 1 <= k keep every key: 0..t, then -1.
//   3. Otherwise every score becomes an order-preserving uint32 key (-0.0 canonicalised to +0.0,
//      sign bit flipped for positives, all bits inverted for negatives: larger score, larger key).
//      Four passes, one per byte from the top, histogram the keys that match the prefix found so
//      far (256 shared counters, integer atomics: exact counts in any order) and pick the byte
//      holding the k-th largest. Result: the threshold key K* and how many of the keys equal to
//      K* to take ("ties"), which the tie rule gives to the smallest indices.
//   4. One pass in index order, 256 keys at a time: a key is kept if it is > K*, or == K* and
//      fewer than `ties` equal keys precede it; its output slot is the number of kept keys before
//      it (block-wide ballot counts). Lists come out ascending, then -1.
// The selection is a function of the scores alone (no float arithmetic, no scheduling
// dependence): identical to the CPU twin's lists under (score desc, index asc).
// The row is re-read from global memory (L1/L2) by each pass: 6 reads of 4·(t+1) bytes.
#include <cmath>
#include <cstdint>

#include "dsa_util.cuh"

namespace dsa::DSA_CUDA_TWIN {

using namespace dsa_detail;

namespace {

constexpr int kThreads = 256;
constexpr int kRadixBits = 8;
constexpr int kBins = 1 << kRadixBits;
constexpr int kKeyBits = 32;
constexpr int kWarps = kThreads / kWarpSize;
constexpr uint32_t kSignBit = 0x80000000u;
static_assert(kBins == kThreads, "one histogram bin per thread");

// Larger score -> larger key; -0.0 and +0.0 give the same key.
__device__ __forceinline__ uint32_t order_key(float score) {
  const uint32_t bits = __float_as_uint(score == 0.0f ? 0.0f : score);
  return bits & kSignBit ? ~bits : bits | kSignBit;
}

// Counts `flag` over the block: returns the number of flagged threads before this one (in
// thread order) and sets `total`. `warp_counts` is __shared__ int[kWarps]; free on return.
__device__ __forceinline__ int block_rank(bool flag, int& total, int* warp_counts) {
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  const unsigned ballot = __ballot_sync(kFullWarpMask, flag);
  if (lane == 0) warp_counts[warp] = __popc(ballot);
  __syncthreads();
  int before = __popc(ballot & ((1u << lane) - 1u));
  total = 0;
  for (int w = 0; w < kWarps; ++w) {
    if (w < warp) before += warp_counts[w];
    total += warp_counts[w];
  }
  __syncthreads();  // every thread has read warp_counts before the next call writes it
  return before;
}

// The threshold key K* of the `kept` largest keys of row [n] and how many keys equal to K* are
// kept (>= 1). Every thread returns the same values.
struct Threshold {
  uint32_t key;
  int ties;
};

__device__ Threshold radix_threshold(const float* row, int n, int kept, int* histogram,
                                     Threshold* shared_result) {
  uint32_t prefix = 0, mask = 0;
  int remaining = kept;  // how many of the keys matching `prefix` are still to be kept
  for (int shift = kKeyBits - kRadixBits; shift >= 0; shift -= kRadixBits) {
    histogram[threadIdx.x] = 0;
    __syncthreads();
    for (int s = threadIdx.x; s < n; s += kThreads) {
      const uint32_t key = order_key(row[s]);
      if ((key & mask) == prefix) atomicAdd(&histogram[(key >> shift) & (kBins - 1)], 1);
    }
    __syncthreads();
    if (threadIdx.x == 0) {  // from the largest byte down: the bin holding the remaining-th key
      int above = 0;
      for (int bin = kBins - 1; bin >= 0; --bin) {
        if (above + histogram[bin] >= remaining) {
          *shared_result = {prefix | (uint32_t(bin) << shift), remaining - above};
          break;
        }
        above += histogram[bin];
      }
    }
    __syncthreads();
    prefix = shared_result->key;
    remaining = shared_result->ties;
    mask |= uint32_t(kBins - 1) << shift;
    __syncthreads();  // shared_result and histogram are rewritten by the next pass
  }
  return {prefix, remaining};
}

// One block per row. grid B*T, block kThreads.
//   scores [B, T, T] (s <= t read);  indices [B, T, k] int32 (sorted keys, then -1)
//   error: min over NaN scores of row * T + s
__global__ void __launch_bounds__(kThreads)
    topk_kernel(int32_t* __restrict__ indices, unsigned long long* error,
                const float* __restrict__ scores, int64_t seq, int64_t k) {
  DSA_SHARED(int[kBins], histogram);
  DSA_SHARED(int[kWarps], warp_counts);
  DSA_SHARED(int, first_nan);
  DSA_SHARED(Threshold, threshold);
  const int64_t row_index = blockIdx.x;
  const int n = int(row_index % seq) + 1;  // visible keys s <= t
  const int kept = int(k < n ? k : n);
  const float* row = scores + row_index * seq;
  int32_t* out = indices + row_index * k;

  if (threadIdx.x == 0) first_nan = n;
  __syncthreads();
  bool has_nan = false;
  for (int s = threadIdx.x; s < n; s += kThreads)
    if (isnan(row[s])) {
      atomicMin(&first_nan, s);
      has_nan = true;
    }
  if (__syncthreads_or(has_nan)) {
    if (threadIdx.x == 0)
      atomicMin(error, static_cast<unsigned long long>(row_index * seq + first_nan));
    return;  // the whole block leaves together: the host throws
  }

  for (int64_t j = kept + threadIdx.x; j < k; j += kThreads) out[j] = -1;
  if (kept == n) {  // every visible key
    for (int s = threadIdx.x; s < n; s += kThreads) out[s] = s;
    return;
  }

  const Threshold cut = radix_threshold(row, n, kept, histogram, &threshold);
  int kept_before = 0, ties_before = 0;  // over the chunks already done
  for (int base = 0; base < n; base += kThreads) {
    const int s = base + threadIdx.x;
    const uint32_t key = s < n ? order_key(row[s]) : 0u;
    const bool tie = s < n && key == cut.key;
    int ties_in_chunk = 0, kept_in_chunk = 0;
    const int tie_rank = ties_before + block_rank(tie, ties_in_chunk, warp_counts);
    const bool keep = s < n && (key > cut.key || (tie && tie_rank < cut.ties));
    const int slot = kept_before + block_rank(keep, kept_in_chunk, warp_counts);
    if (keep) out[slot] = s;
    ties_before += ties_in_chunk;
    kept_before += kept_in_chunk;
  }
}

}  // namespace

size_t topk_workspace(const ops::TopKShape&) { return kErrorRegionBytes; }

void topk_select(const Context& ctx, int32_t* indices, const float* scores,
                 const ops::TopKShape& s) {
  DSA_CHECK(s.k >= 1, "op topk_select: k = ", s.k, " must be >= 1");
  DSA_CHECK(s.seq <= INT32_MAX && s.batch * s.seq <= INT32_MAX, "op topk_select: [B=", s.batch,
            ", T=", s.seq, "] is outside the CUDA twin's limits (B*T rows < 2^31)");
  require_workspace(ctx, topk_workspace(s), "topk_select", s.batch, s.seq);
  if (s.batch == 0 || s.seq == 0) return;
  reset_error(ctx, "topk_select");
  launch<topk_kernel>({unsigned(s.batch * s.seq), kThreads, 0, stream_of(ctx)},
      indices, error_record(ctx), scores, s.seq, s.k);
  DSA_LAUNCH_CHECK("topk_kernel", "B=", s.batch, " T=", s.seq, " k=", s.k);
  const unsigned long long record = read_error(ctx, "topk_select");
  if (record == kNoError) return;
  const int64_t row = int64_t(record / s.seq);
  fail("op topk_select: score of batch ", row / s.seq, ", query ", row % s.seq, ", key ",
       int64_t(record % s.seq), " is NaN (the indexer produced a NaN)");
}

}  // namespace dsa::DSA_CUDA_TWIN
