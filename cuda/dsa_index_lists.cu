// Index lists on the device for the CUDA twin's sparse ops (cuda/dsa_util.cuh): the error record,
// the list check (ops/index_lists.h rules, the CPU twin's messages) and the transposed lists.
// UNVERIFIED ON HARDWARE: compiled for sm_90 only; no GPU has run these kernels yet.
#include <limits>
#include <string>
#include <vector>

#include "dsa_util.cuh"

namespace dsa::cuda::dsa_detail {

namespace {

constexpr int kThreads = 256;

// ---- kernels ----------------------------------------------------------------------------------

// The first slot of row t that breaks the list rules, or -1 (the CPU twin's first_bad_slot).
__device__ int64_t first_bad_slot(const int32_t* row, int64_t width, int64_t t) {
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

// One thread per row. grid ceil(B*T / kThreads).
//   lists [B, T, width] int32;  error: min over bad rows of row * width + slot
__global__ void __launch_bounds__(kThreads)
    check_lists_kernel(unsigned long long* error, const int32_t* __restrict__ lists, int64_t rows,
                       int64_t seq, int64_t width) {
  const int64_t row = int64_t(blockIdx.x) * kThreads + threadIdx.x;
  if (row >= rows) return;
  const int64_t j = first_bad_slot(lists + row * width, width, row % seq);
  if (j >= 0) atomicMin(error, static_cast<unsigned long long>(row * width + j));
}

// Histogram: one thread per list entry; counts[b][s] += 1 for every key s (integer atomics:
// the counts are exact whatever the order). grid ceil(B*T*width / kThreads).
//   lists [B, T, width];  counts [B, T + 1] (zeroed before)
__global__ void __launch_bounds__(kThreads)
    count_keys_kernel(int32_t* counts, const int32_t* __restrict__ lists, int64_t entries,
                      int64_t seq, int64_t width) {
  const int64_t e = int64_t(blockIdx.x) * kThreads + threadIdx.x;
  if (e >= entries) return;
  const int32_t s = lists[e];
  const int64_t b = e / (seq * width);
  if (s >= 0) atomicAdd(&counts[b * (seq + 1) + s], 1);
}

// Exclusive scan of counts[b][0 .. T) into offsets in place, offsets[b][T] = the total.
// grid B, block kThreads; the row is scanned in chunks of kThreads with a carried base.
__global__ void __launch_bounds__(kThreads)
    scan_counts_kernel(int32_t* offsets, int64_t seq) {
  __shared__ int32_t warp_totals[kThreads / kWarpSize];
  int32_t* row = offsets + int64_t(blockIdx.x) * (seq + 1);
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  int32_t carry = 0;
  for (int64_t base = 0; base < seq; base += kThreads) {
    const int64_t s = base + threadIdx.x;
    const int32_t count = s < seq ? row[s] : 0;
    int32_t inclusive = count;  // warp inclusive scan (Hillis-Steele over shuffles)
    for (int offset = 1; offset < kWarpSize; offset *= 2) {
      const int32_t up = __shfl_up_sync(kFullWarpMask, inclusive, offset);
      if (lane >= offset) inclusive += up;
    }
    if (lane == kWarpSize - 1) warp_totals[warp] = inclusive;
    __syncthreads();
    int32_t before = 0, chunk_total = 0;
    for (int w = 0; w < kThreads / kWarpSize; ++w) {
      if (w < warp) before += warp_totals[w];
      chunk_total += warp_totals[w];
    }
    if (s < seq) row[s] = carry + before + inclusive - count;
    carry += chunk_total;
    __syncthreads();  // warp_totals is rewritten by the next chunk
  }
  if (threadIdx.x == 0) row[seq] = carry;
}

// Position of key s in a sorted list row (-1 padding at the end), or -1.
__device__ int find_key(const int32_t* row, int64_t width, int32_t s) {
  int64_t lo = 0, hi = width;  // first entry that is padding or >= s
  while (lo < hi) {
    const int64_t mid = (lo + hi) / 2;
    const int32_t v = row[mid];
    if (v >= 0 && v < s) lo = mid + 1;
    else hi = mid;
  }
  return lo < width && row[lo] == s ? int(lo) : -1;
}

// Stable fill: one thread per key (b, s) walks the rows t = s, s + 1, ... in order and appends
// the slot t * width + j where row t holds s, until its count is placed: slots come out in
// increasing t without any ordering between threads. Costs up to (T - s) binary searches per key
// (quadratic in T in the worst case; see docs/kernels.md). grid ceil(B*T / kThreads).
//   lists [B, T, width];  offsets [B, T + 1];  slots [B, T * width]
__global__ void __launch_bounds__(kThreads)
    fill_slots_kernel(int32_t* slots, const int32_t* __restrict__ offsets,
                      const int32_t* __restrict__ lists, int64_t batch, int64_t seq,
                      int64_t width) {
  const int64_t key_row = int64_t(blockIdx.x) * kThreads + threadIdx.x;
  if (key_row >= batch * seq) return;
  const int64_t b = key_row / seq;
  const int32_t s = int32_t(key_row % seq);
  const int32_t* offsets_b = offsets + b * (seq + 1);
  int32_t position = offsets_b[s];
  const int32_t end = offsets_b[s + 1];
  const int32_t* lists_b = lists + b * seq * width;
  int32_t* slots_b = slots + b * seq * width;
  for (int64_t t = s; t < seq && position < end; ++t) {
    const int j = find_key(lists_b + t * width, width, s);
    if (j >= 0) slots_b[position++] = int32_t(t * width + j);
  }
}

// ---- host helpers ------------------------------------------------------------------------------

unsigned grid_of(int64_t items) { return static_cast<unsigned>(ceil_div(items, kThreads)); }

std::string why_bad(const std::vector<int32_t>& row, int64_t j, int64_t t) {
  const int32_t s = row[j];
  if (s < -1) return cat("value ", s, " is neither a key nor the padding -1");
  if (s > t) return cat("key ", s, " is in the future of query ", t, " (causality)");
  if (row[j - 1] == -1) return cat("key ", s, " follows the -1 padding");
  return cat("key ", s, " does not follow key ", row[j - 1], " in strictly increasing order");
}

}  // namespace

unsigned long long* error_record(const Context& ctx) {
  return static_cast<unsigned long long*>(ctx.workspace);
}

void reset_error(const Context& ctx, const char* op) {
  DSA_CUDA_CHECK(cudaMemsetAsync(error_record(ctx), 0xff, sizeof(unsigned long long),
                                 stream_of(ctx)),
                 "op ", op, ": reset of the error record");
}

unsigned long long read_error(const Context& ctx, const char* op) {
  unsigned long long record = kNoError;
  DSA_CUDA_CHECK(cudaMemcpyAsync(&record, error_record(ctx), sizeof(record),
                                 cudaMemcpyDeviceToHost, stream_of(ctx)),
                 "op ", op, ": download of the error record");
  DSA_CUDA_CHECK(cudaStreamSynchronize(stream_of(ctx)), "op ", op, ": wait for the error record");
  return record;
}

void require_workspace(const Context& ctx, size_t needed, const char* op, int64_t batch,
                       int64_t seq) {
  DSA_CHECK(ctx.workspace_bytes >= needed && (needed == 0 || ctx.workspace != nullptr), "op ", op,
            ": workspace of ", ctx.workspace_bytes, " bytes is smaller than the ", needed,
            " it needs for [B=", batch, ", T=", seq, "]");
}

void check_index_lists(const Context& ctx, const ops::IndexLists& lists, int64_t batch,
                       int64_t seq, const char* op) {
  DSA_CHECK(lists.width >= 1, "op ", op, ": index list width ", lists.width, " must be >= 1");
  DSA_CHECK(seq * lists.width <= std::numeric_limits<int32_t>::max(), "op ", op, ": T x width = ",
            seq, " x ", lists.width, " list slots do not fit the int32 transposed lists");
  const int64_t rows = batch * seq;
  if (rows == 0) return;
  reset_error(ctx, op);
  check_lists_kernel<<<grid_of(rows), kThreads, 0, stream_of(ctx)>>>(
      error_record(ctx), lists.indices, rows, seq, lists.width);
  DSA_LAUNCH_CHECK("check_lists_kernel", "op ", op, " B=", batch, " T=", seq, " width=",
                   lists.width);
  const unsigned long long record = read_error(ctx, op);
  if (record == kNoError) return;
  const int64_t row = int64_t(record / lists.width), j = int64_t(record % lists.width);
  std::vector<int32_t> host_row(lists.width);
  DSA_CUDA_CHECK(cudaMemcpy(host_row.data(), lists.indices + row * lists.width,
                            lists.width * sizeof(int32_t), cudaMemcpyDeviceToHost),
                 "op ", op, ": download of the bad list row");
  const int64_t t = row % seq;
  fail("op ", op, ": index list of batch ", row / seq, ", query ", t, ", slot ", j, ": ",
       why_bad(host_row, j, t), " (lists hold keys 0 <= s <= t in increasing order, then -1)");
}

size_t transposed_lists_bytes(int64_t batch, int64_t seq, int64_t width) {
  return round_up_256(batch * (seq + 1) * sizeof(int32_t)) +
         round_up_256(batch * seq * width * sizeof(int32_t));
}

TransposedLists transposed_lists_at(void* region, int64_t batch, int64_t seq) {
  char* base = static_cast<char*>(region);
  auto* offsets = reinterpret_cast<int32_t*>(base);
  auto* slots = reinterpret_cast<int32_t*>(base + round_up_256(batch * (seq + 1) * sizeof(int32_t)));
  return {offsets, slots};
}

void build_transposed_lists(const Context& ctx, const TransposedLists& out,
                            const ops::IndexLists& lists, int64_t batch, int64_t seq) {
  const int64_t entries = batch * seq * lists.width;
  DSA_CUDA_CHECK(cudaMemsetAsync(out.offsets, 0, batch * (seq + 1) * sizeof(int32_t),
                                 stream_of(ctx)),
                 "zero the key counts [B=", batch, ", T=", seq, "]");
  count_keys_kernel<<<grid_of(entries), kThreads, 0, stream_of(ctx)>>>(out.offsets, lists.indices,
                                                                        entries, seq, lists.width);
  DSA_LAUNCH_CHECK("count_keys_kernel", "B=", batch, " T=", seq, " width=", lists.width);
  scan_counts_kernel<<<unsigned(batch), kThreads, 0, stream_of(ctx)>>>(out.offsets, seq);
  DSA_LAUNCH_CHECK("scan_counts_kernel", "B=", batch, " T=", seq);
  fill_slots_kernel<<<grid_of(batch * seq), kThreads, 0, stream_of(ctx)>>>(
      out.slots, out.offsets, lists.indices, batch, seq, lists.width);
  DSA_LAUNCH_CHECK("fill_slots_kernel", "B=", batch, " T=", seq, " width=", lists.width);
}

}  // namespace dsa::cuda::dsa_detail
