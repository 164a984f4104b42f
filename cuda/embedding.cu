// Embedding lookup (contract: ops/embedding.h), fp32.
// Forward: one warp per row copies table[tokens[n], :] into out[n, :] (16-byte accesses when
// dim % 4 == 0 and both bases are 16-byte aligned).
// Backward, deterministic without float atomics: a stable LSD radix sort of (token, row) pairs in
// ctx.workspace lists the rows of each token in increasing n; the warp at the first sorted
// position of a token's run owns dtable[token, 32·kVec-column tile] and adds that run's dout rows
// in list order, starting from the old dtable value -- the CPU twin's order, so both twins give
// the same bits.
// Tokens outside [0, vocab) cannot throw from a kernel: the host checks token ranges before
// upload (the trainer checks every split against model.vocab_size). The kernels never read or
// write out of bounds for such a token: the forward writes a NaN row, the backward skips the row.
#include <bit>
#include <limits>

#include "check.cuh"
#include "cuda_ops.h"
#include "kernel_util.cuh"

namespace dsa::DSA_CUDA_TWIN {
namespace {

constexpr int kGatherThreads = 256;               // 8 warps: one row each
constexpr int kSortTile = 256;                    // keys per tile = threads of the sort kernels
constexpr int kRadixBits = 8;                     // digit width of one sort pass
constexpr int kRadixDigits = 1 << kRadixBits;     // 256 digits: one count per thread of a tile
constexpr int kScanThreads = 1024;                // the single block of the offset scan
constexpr int kSegmentThreads = 256;              // 8 warps: one (sorted position, column tile) each
static_assert(kSortTile == kRadixDigits, "the count kernel gives each thread one digit");

// ---- forward -------------------------------------------------------------------------------------

// out [rows, dim], tokens [rows], table [vocab, dim]
template <int kVec>
__global__ void __launch_bounds__(kGatherThreads)
    embedding_gather_kernel(float* __restrict__ out, const int32_t* __restrict__ tokens,
                            const float* __restrict__ table, int64_t rows, int64_t dim,
                            int64_t vocab) {
  const WarpPosition pos = warp_position();
  for (int64_t row = pos.warp; row < rows; row += pos.warp_count) {
    const int32_t token = tokens[row];
    const bool in_vocab = token >= 0 && token < vocab;
    const float* src = table + (in_vocab ? int64_t(token) * dim : 0);
    float* dst = out + row * dim;
    for (int64_t col = int64_t(pos.lane) * kVec; col < dim; col += kWarpSize * kVec) {
      float values[kVec];
      if (in_vocab) {
        load_vec<kVec>(values, src + col);
      } else {
#pragma unroll
        for (int k = 0; k < kVec; ++k) values[k] = __int_as_float(0x7fc00000);  // quiet NaN
      }
      store_vec<kVec>(dst + col, values);
    }
  }
}

// ---- backward: stable radix sort of (token, row) ---------------------------------------------------

// Sort key of a token: itself, or `vocab` (past every valid token) when out of range.
__device__ __forceinline__ int32_t sort_key(int32_t token, int64_t vocab) {
  return token >= 0 && token < vocab ? token : int32_t(vocab);
}

__device__ __forceinline__ int digit_of(int32_t key, int shift) {
  return int((uint32_t(key) >> shift) & (kRadixDigits - 1));
}

// Pass 0 reads the tokens (mapped by sort_key); later passes read the previous pass's keys.
__device__ __forceinline__ int32_t load_key(const int32_t* keys_in, int64_t index,
                                            bool keys_are_tokens, int64_t vocab) {
  const int32_t key = keys_in[index];
  return keys_are_tokens ? sort_key(key, vocab) : key;
}

// How many keys of each tile have each digit.
// keys_in [rows]; tile_digit_counts [kRadixDigits, tiles], digit-major (tiles = ceil(rows / kSortTile))
__global__ void __launch_bounds__(kSortTile)
    embedding_sort_count_kernel(int32_t* __restrict__ tile_digit_counts,
                                const int32_t* __restrict__ keys_in, bool keys_are_tokens,
                                int64_t rows, int64_t vocab, int shift, int64_t tiles) {
  DSA_SHARED(int32_t[kRadixDigits], digit_counts);
  digit_counts[threadIdx.x] = 0;
  __syncthreads();
  const int64_t index = int64_t(blockIdx.x) * kSortTile + threadIdx.x;
  // Integer shared-memory atomics: the counts are exact whatever the order.
  if (index < rows) atomicAdd(&digit_counts[digit_of(load_key(keys_in, index, keys_are_tokens, vocab), shift)], 1);
  __syncthreads();
  tile_digit_counts[int64_t(threadIdx.x) * tiles + blockIdx.x] = digit_counts[threadIdx.x];
}

// Exclusive prefix sum in place over counts [total] (total = kRadixDigits * tiles). Digit-major
// order makes entry (d, t) the first output position of tile t's keys with digit d: all keys with
// a smaller digit, then those with digit d in earlier tiles.
__global__ void __launch_bounds__(kScanThreads)
    embedding_sort_scan_kernel(int32_t* __restrict__ counts, int64_t total) {
  DSA_SHARED(int32_t[kScanThreads], thread_totals);
  const int64_t per_thread = (total + kScanThreads - 1) / kScanThreads;
  const int64_t begin = std::min<int64_t>(total, int64_t(threadIdx.x) * per_thread);
  const int64_t end = std::min<int64_t>(total, begin + per_thread);
  int32_t sum = 0;
  for (int64_t i = begin; i < end; ++i) sum += counts[i];
  thread_totals[threadIdx.x] = sum;
  __syncthreads();
  // Inclusive Hillis-Steele scan of the per-thread totals: read, barrier, write, barrier.
  for (int offset = 1; offset < kScanThreads; offset *= 2) {
    const int32_t add = int(threadIdx.x) >= offset ? thread_totals[threadIdx.x - offset] : 0;
    __syncthreads();
    thread_totals[threadIdx.x] += add;
    __syncthreads();
  }
  int32_t running = threadIdx.x > 0 ? thread_totals[threadIdx.x - 1] : 0;
  for (int64_t i = begin; i < end; ++i) {
    const int32_t count = counts[i];
    counts[i] = running;
    running += count;
  }
}

// Places each key at its tile's offset for its digit plus its rank among the tile's earlier keys
// with the same digit: stable, so after all passes equal keys keep increasing row order.
// keys_out, rows_out, keys_in, rows_in [rows] (rows_in null in pass 0: the row is the index);
// tile_offsets [kRadixDigits, tiles] from the scan.
__global__ void __launch_bounds__(kSortTile)
    embedding_sort_scatter_kernel(int32_t* __restrict__ keys_out, int32_t* __restrict__ rows_out,
                                  const int32_t* __restrict__ keys_in,
                                  const int32_t* __restrict__ rows_in, bool keys_are_tokens,
                                  const int32_t* __restrict__ tile_offsets, int64_t rows,
                                  int64_t vocab, int shift, int64_t tiles) {
  DSA_SHARED(int32_t[kSortTile], tile_digits);
  const int64_t index = int64_t(blockIdx.x) * kSortTile + threadIdx.x;
  const bool valid = index < rows;
  int32_t key = 0, row = 0;
  int digit = kRadixDigits;  // past every real digit: the tile's padding matches no key
  if (valid) {
    key = load_key(keys_in, index, keys_are_tokens, vocab);
    row = rows_in != nullptr ? rows_in[index] : int32_t(index);
    digit = digit_of(key, shift);
  }
  tile_digits[threadIdx.x] = digit;
  __syncthreads();
  if (!valid) return;
  int32_t rank = 0;
  for (int j = 0; j < int(threadIdx.x); ++j) rank += tile_digits[j] == digit;
  const int32_t dest = tile_offsets[int64_t(digit) * tiles + blockIdx.x] + rank;
  keys_out[dest] = key;
  rows_out[dest] = row;
}

// ---- backward: per-token sums in row order ---------------------------------------------------------

// Work item (sorted position p, column tile c), one per warp. Only the first position of a
// token's run does work: it finds the run's end, then adds dout[row, tile] for the run's rows in
// order onto dtable[token, tile]. Each (token, tile) has exactly one owner: no races, no atomics.
// dtable [vocab, dim] (+=), dout [rows, dim], sorted_keys / sorted_rows [rows] (keys ascending,
// rows ascending within a key; key == vocab marks out-of-range tokens, skipped).
template <int kVec>
__global__ void __launch_bounds__(kSegmentThreads)
    embedding_segment_sum_kernel(float* __restrict__ dtable, const float* __restrict__ dout,
                                 const int32_t* __restrict__ sorted_keys,
                                 const int32_t* __restrict__ sorted_rows, int64_t rows,
                                 int64_t dim, int64_t vocab) {
  constexpr int64_t kTileColumns = int64_t(kWarpSize) * kVec;
  const int64_t tiles_per_row = ceil_div(dim, kTileColumns);
  const WarpPosition pos = warp_position();
  for (int64_t item = pos.warp; item < rows * tiles_per_row; item += pos.warp_count) {
    const int64_t start = item / tiles_per_row;
    const int64_t tile = item - start * tiles_per_row;
    const int32_t key = sorted_keys[start];
    if (key >= vocab) continue;                                  // out-of-range tokens
    if (start > 0 && sorted_keys[start - 1] == key) continue;    // not the first row of its run
    // The run's end: 32 positions per step, the first lane whose key differs ends it.
    int64_t end = start + 1;
    for (;;) {
      const int64_t p = end + pos.lane;
      const bool same = p < rows && sorted_keys[p] == key;
      const unsigned same_lanes = __ballot_sync(kFullWarpMask, same);
      if (same_lanes != kFullWarpMask) {
        end += __ffs(~same_lanes) - 1;  // keys ascend: no lane after the first mismatch matches
        break;
      }
      end += kWarpSize;
    }
    const int64_t col = tile * kTileColumns + int64_t(pos.lane) * kVec;
    const bool active = col < dim;  // kVec == 4 implies dim % 4 == 0: col < dim covers all 4
    float* dst = dtable + int64_t(key) * dim + col;
    float acc[kVec];
#pragma unroll
    for (int k = 0; k < kVec; ++k) acc[k] = 0.0f;
    if (active) load_vec<kVec>(acc, dst);
    for (int64_t base = start; base < end; base += kWarpSize) {
      // Each lane loads one row index of the next 32; the loop broadcasts them in order, so the
      // dout loads of consecutive rows do not wait on index loads.
      const int count = int(std::min<int64_t>(kWarpSize, end - base));
      const int32_t lane_row = pos.lane < count ? sorted_rows[base + pos.lane] : 0;
#pragma unroll 4
      for (int k = 0; k < count; ++k) {
        const int32_t row = __shfl_sync(kFullWarpMask, lane_row, k);
        if (active) {
          float values[kVec];
          load_vec<kVec>(values, dout + int64_t(row) * dim + col);
#pragma unroll
          for (int j = 0; j < kVec; ++j) acc[j] += values[j];
        }
      }
    }
    if (active) store_vec<kVec>(dst, acc);
  }
}

// Workspace regions of the backward's sort (each 256-byte aligned).
struct SortBuffers {
  int32_t* keys[2];
  int32_t* rows[2];
  int32_t* tile_digit_counts;
};

int64_t sort_tiles(int64_t rows) { return ceil_div(rows, kSortTile); }

size_t sort_bytes(int64_t rows) {
  const size_t list = round_up_256(size_t(std::max<int64_t>(rows, 1)) * sizeof(int32_t));
  const size_t counts = round_up_256(size_t(kRadixDigits) * size_t(sort_tiles(std::max<int64_t>(rows, 1))) * sizeof(int32_t));
  return 4 * list + counts;
}

SortBuffers carve_sort_buffers(void* workspace, int64_t rows) {
  const size_t list = round_up_256(size_t(std::max<int64_t>(rows, 1)) * sizeof(int32_t));
  char* base = static_cast<char*>(workspace);
  SortBuffers buffers{};
  for (int i = 0; i < 2; ++i) {
    buffers.keys[i] = reinterpret_cast<int32_t*>(base + (2 * i) * list);
    buffers.rows[i] = reinterpret_cast<int32_t*>(base + (2 * i + 1) * list);
  }
  buffers.tile_digit_counts = reinterpret_cast<int32_t*>(base + 4 * list);
  return buffers;
}

}  // namespace

size_t embedding_workspace(const ops::WorkspaceQuery& query) { return sort_bytes(query.rows); }

void embedding_forward(const Context& ctx, float* out, const int32_t* tokens, const float* table,
                       int64_t rows, int64_t dim, int64_t vocab) {
  if (rows == 0 || dim == 0) return;
  const unsigned grid = grid_for(rows, kGatherThreads / kWarpSize);
  if (dim % 4 == 0 && aligned16(out) && aligned16(table)) {
    launch<embedding_gather_kernel<4>>({grid, kGatherThreads, 0, stream_of(ctx)}, out, tokens, table, rows, dim, vocab);
  } else {
    launch<embedding_gather_kernel<1>>({grid, kGatherThreads, 0, stream_of(ctx)}, out, tokens, table, rows, dim, vocab);
  }
  DSA_LAUNCH_CHECK("embedding_gather_kernel", "rows ", rows, " dim ", dim, " vocab ", vocab);
}

void embedding_backward(const Context& ctx, float* dtable, const float* dout,
                        const int32_t* tokens, int64_t rows, int64_t dim, int64_t vocab) {
  if (rows == 0 || dim == 0) return;
  DSA_CHECK(rows < std::numeric_limits<int32_t>::max() && vocab < std::numeric_limits<int32_t>::max(),
            "op embedding_backward: rows ", rows, " and vocab ", vocab, " must fit in int32");
  const size_t needed = sort_bytes(rows);
  DSA_CHECK(ctx.workspace != nullptr && ctx.workspace_bytes >= needed, "op embedding_backward: ctx.workspace holds ",
            ctx.workspace_bytes, " bytes, the sort of ", rows, " rows needs ", needed, " (cuda::embedding_workspace)");
  const cudaStream_t stream = stream_of(ctx);
  const SortBuffers buffers = carve_sort_buffers(ctx.workspace, rows);
  const int64_t tiles = sort_tiles(rows);
  // Keys go up to `vocab` (the out-of-range marker): sort on all of its bits, 8 per pass.
  const int key_bits = int(std::bit_width(uint64_t(vocab)));
  const int passes = std::max(1, (key_bits + kRadixBits - 1) / kRadixBits);
  const int32_t* keys_in = tokens;
  const int32_t* rows_in = nullptr;
  for (int pass = 0; pass < passes; ++pass) {
    const bool keys_are_tokens = pass == 0;
    const int shift = pass * kRadixBits;
    int32_t* keys_out = buffers.keys[pass % 2];
    int32_t* rows_out = buffers.rows[pass % 2];
    launch<embedding_sort_count_kernel>({unsigned(tiles), kSortTile, 0, stream},
        buffers.tile_digit_counts, keys_in, keys_are_tokens, rows, vocab, shift, tiles);
    DSA_LAUNCH_CHECK("embedding_sort_count_kernel", "rows ", rows, " vocab ", vocab, " pass ", pass);
    launch<embedding_sort_scan_kernel>({1, kScanThreads, 0, stream}, buffers.tile_digit_counts, kRadixDigits * tiles);
    DSA_LAUNCH_CHECK("embedding_sort_scan_kernel", "rows ", rows, " tiles ", tiles, " pass ", pass);
    launch<embedding_sort_scatter_kernel>({unsigned(tiles), kSortTile, 0, stream},
        keys_out, rows_out, keys_in, rows_in, keys_are_tokens, buffers.tile_digit_counts, rows, vocab, shift, tiles);
    DSA_LAUNCH_CHECK("embedding_sort_scatter_kernel", "rows ", rows, " vocab ", vocab, " pass ", pass);
    keys_in = keys_out;
    rows_in = rows_out;
  }
  if (dim % 4 == 0 && aligned16(dtable) && aligned16(dout)) {
    const unsigned grid = grid_for(rows * ceil_div(dim, kWarpSize * 4), kSegmentThreads / kWarpSize);
    launch<embedding_segment_sum_kernel<4>>({grid, kSegmentThreads, 0, stream}, dtable, dout, keys_in, rows_in, rows, dim, vocab);
  } else {
    const unsigned grid = grid_for(rows * ceil_div(dim, kWarpSize), kSegmentThreads / kWarpSize);
    launch<embedding_segment_sum_kernel<1>>({grid, kSegmentThreads, 0, stream}, dtable, dout, keys_in, rows_in, rows, dim, vocab);
  }
  DSA_LAUNCH_CHECK("embedding_segment_sum_kernel", "rows ", rows, " dim ", dim, " vocab ", vocab);
}

}  // namespace dsa::DSA_CUDA_TWIN
