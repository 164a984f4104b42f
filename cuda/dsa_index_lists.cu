// Index lists on the device for the CUDA twin's sparse ops (cuda/dsa_util.cuh): the error record,
// the list check (ops/index_lists.h rules, the CPU twin's messages) and the transposed lists.
// UNVERIFIED ON HARDWARE: compiled for sm_90 only; no GPU has run these kernels yet.
#include <limits>
#include <string>
#include <vector>

#include "platform_sort.cuh"

#include "dsa_util.cuh"
#include "ops/index_list_rules.h"

namespace dsa::DSA_CUDA_TWIN::dsa_detail {

namespace {

constexpr int kThreads = 256;

// ---- kernels ----------------------------------------------------------------------------------

// One thread per row. grid ceil(B*T / kThreads).
//   lists [B, T, width] int32;  error: min over bad rows of row * width + slot
__global__ void __launch_bounds__(kThreads)
    check_lists_kernel(unsigned long long* error, const int32_t* __restrict__ lists, int64_t rows,
                       int64_t seq, int64_t width) {
  const int64_t row = int64_t(blockIdx.x) * kThreads + threadIdx.x;
  if (row >= rows) return;
  const int64_t j = ops::first_bad_slot(lists + row * width, width, row % seq);
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
  DSA_SHARED(int32_t[kThreads / kWarpSize], warp_totals);
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

// Sort inputs: one thread per list entry e of batch b = e / (T * width): key b * (T + 1) + s
// (padding: b * (T + 1) + T, after every key of the batch), value e % (T * width).
// grid ceil(B*T*width / kThreads).
//   lists [B, T, width];  keys, values [B * T * width]
__global__ void __launch_bounds__(kThreads)
    sort_inputs_kernel(uint32_t* keys, int32_t* values, const int32_t* __restrict__ lists,
                       int64_t entries, int64_t seq, int64_t width) {
  const int64_t e = int64_t(blockIdx.x) * kThreads + threadIdx.x;
  if (e >= entries) return;
  const int64_t per_batch = seq * width, b = e / per_batch;
  const int32_t s = lists[e];
  keys[e] = uint32_t(b * (seq + 1) + (s >= 0 ? s : seq));
  values[e] = int32_t(e % per_batch);
}

// ---- host helpers ------------------------------------------------------------------------------

unsigned grid_of(int64_t items) { return static_cast<unsigned>(ceil_div(items, kThreads)); }

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
  launch<check_lists_kernel>({grid_of(rows), kThreads, 0, stream_of(ctx)},
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
       ops::why_bad_slot(host_row.data(), j, t), " (lists hold keys 0 <= s <= t in increasing order, then -1)");
}

namespace {

// Bits of the sort key b * (T + 1) + s: the radix sort looks at no more.
int sort_key_bits(int64_t batch, int64_t seq) {
  DSA_CHECK(batch * (seq + 1) <= int64_t(std::numeric_limits<uint32_t>::max()), "transposed lists: ",
            "B x (T + 1) = ", batch, " x ", seq + 1, " does not fit the uint32 sort key");
  int bits = 1;
  while ((int64_t(1) << bits) < batch * (seq + 1)) ++bits;
  return bits;
}

// CUB's temporary storage for sorting `entries` pairs (a host query; needs the device).
size_t sort_temp_bytes(int64_t batch, int64_t seq, int64_t entries) {
  size_t bytes = 0;
  const cudaError_t status = cub::DeviceRadixSort::SortPairs(
      nullptr, bytes, static_cast<const uint32_t*>(nullptr), static_cast<uint32_t*>(nullptr),
      static_cast<const int32_t*>(nullptr), static_cast<int32_t*>(nullptr), entries, 0,
      sort_key_bits(batch, seq));
  DSA_CHECK(status == cudaSuccess, "transposed lists: CUB radix-sort size query failed (",
            cudaGetErrorString(status), ") for ", entries, " entries");
  return bytes;
}

struct ListsRegion {
  size_t offsets, slots, keys, temp;  // bytes of each part, each rounded up to 256
  size_t total() const { return offsets + slots + 3 * keys + temp; }  // keys in, out, values in
};

ListsRegion lists_region(int64_t batch, int64_t seq, int64_t width) {
  const int64_t entries = batch * seq * width;
  const size_t entry_bytes = round_up_256(entries * sizeof(int32_t));
  return {round_up_256(batch * (seq + 1) * sizeof(int32_t)), entry_bytes, entry_bytes,
          entries == 0 ? 0 : round_up_256(sort_temp_bytes(batch, seq, entries))};
}

}  // namespace

size_t transposed_lists_bytes(int64_t batch, int64_t seq, int64_t width) {
  return lists_region(batch, seq, width).total();
}

TransposedLists transposed_lists_at(void* region, int64_t batch, int64_t seq, int64_t width) {
  const ListsRegion r = lists_region(batch, seq, width);
  char* at = static_cast<char*>(region);
  TransposedLists lists{};
  lists.offsets = reinterpret_cast<int32_t*>(at);
  lists.slots = reinterpret_cast<int32_t*>(at += r.offsets);
  lists.sort_keys_in = reinterpret_cast<uint32_t*>(at += r.slots);
  lists.sort_keys_out = reinterpret_cast<uint32_t*>(at += r.keys);
  lists.sort_values_in = reinterpret_cast<int32_t*>(at += r.keys);
  lists.sort_temp = at += r.keys;
  lists.sort_temp_bytes = r.temp;
  return lists;
}

void build_transposed_lists(const Context& ctx, const TransposedLists& out,
                            const ops::IndexLists& lists, int64_t batch, int64_t seq) {
  const int64_t entries = batch * seq * lists.width;
  DSA_CUDA_CHECK(cudaMemsetAsync(out.offsets, 0, batch * (seq + 1) * sizeof(int32_t),
                                 stream_of(ctx)),
                 "zero the key counts [B=", batch, ", T=", seq, "]");
  launch<count_keys_kernel>({grid_of(entries), kThreads, 0, stream_of(ctx)}, out.offsets, lists.indices,
                                                                        entries, seq, lists.width);
  DSA_LAUNCH_CHECK("count_keys_kernel", "B=", batch, " T=", seq, " width=", lists.width);
  launch<scan_counts_kernel>({unsigned(batch), kThreads, 0, stream_of(ctx)}, out.offsets, seq);
  DSA_LAUNCH_CHECK("scan_counts_kernel", "B=", batch, " T=", seq);
  launch<sort_inputs_kernel>({grid_of(entries), kThreads, 0, stream_of(ctx)},
      out.sort_keys_in, out.sort_values_in, lists.indices, entries, seq, lists.width);
  DSA_LAUNCH_CHECK("sort_inputs_kernel", "B=", batch, " T=", seq, " width=", lists.width);
  size_t temp_bytes = out.sort_temp_bytes;
  DSA_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(out.sort_temp, temp_bytes, out.sort_keys_in,
                                                 out.sort_keys_out, out.sort_values_in, out.slots,
                                                 entries, 0, sort_key_bits(batch, seq),
                                                 stream_of(ctx)),
                 "transposed lists: CUB radix sort of ", entries, " entries [B=", batch, ", T=",
                 seq, ", width=", lists.width, "]");
}

}  // namespace dsa::DSA_CUDA_TWIN::dsa_detail
