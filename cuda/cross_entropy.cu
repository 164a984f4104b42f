// Fused softmax + cross-entropy (+ gradient) (contract: ops/cross_entropy.h), fp32.
// One block per row of logits [rows, vocab] (vocab up to ~50k: each thread walks the row with
// stride kCrossEntropyThreads, kVec floats at a time). Pass 1 keeps, per thread, the running
// max, the first index holding it and the online-softmax sum of exp(z - running max); a block
// reduction in a fixed tree combines them (deterministic). Pass 2 (only when grad_scale != 0)
// re-reads the row -- an L2 hit for rows of a few hundred KiB -- and overwrites it with
// grad_scale * (softmax - onehot). So DRAM sees one read (two with the gradient) and one write.
// Targets outside [0, vocab) cannot throw from a kernel: the host checks data ranges before upload
// (the trainer checks every split against model.vocab_size). Such a row reads nothing out of
// bounds: its loss and its whole gradient row are NaN, so the error shows in the logged loss.
#include <limits>

#include "check.cuh"
#include "cuda_ops.h"
#include "kernel_util.cuh"

namespace dsa::DSA_CUDA_TWIN {
namespace {

constexpr int kCrossEntropyThreads = 512;  // 16 warps per row
constexpr int kCrossEntropyWarps = kCrossEntropyThreads / kWarpSize;
constexpr int32_t kNoIndex = std::numeric_limits<int32_t>::max();  // larger than every index

// A slice of a row: its max, the first index holding it, and sum of exp(z - max) over the slice.
struct SoftmaxSlice {
  float max;
  float sum;
  int32_t argmax;
};

__device__ __forceinline__ SoftmaxSlice empty_slice() { return {-INFINITY, 0.0f, kNoIndex}; }

// Adds logit z at index v (indices arrive in increasing order within a thread).
__device__ __forceinline__ void absorb(SoftmaxSlice& slice, float z, int32_t v) {
  if (z > slice.max) {
    // New max: rescale the sum taken so far (exp(-inf) = 0 covers the empty slice).
    slice.sum = slice.sum * expf(slice.max - z) + 1.0f;
    slice.max = z;
    slice.argmax = v;
  } else if (z > -INFINITY) {  // z <= max, both finite (a NaN logit is skipped)
    slice.sum += expf(z - slice.max);
  } else if (slice.argmax == kNoIndex && z == slice.max) {
    slice.argmax = v;  // a row of -inf: the first index, as the CPU twin's std::find
  }
}

// Symmetric in (a, b) bit for bit, so the xor butterfly leaves every lane with the same slice.
__device__ __forceinline__ SoftmaxSlice combine(const SoftmaxSlice& a, const SoftmaxSlice& b) {
  SoftmaxSlice out;
  out.max = fmaxf(a.max, b.max);
  const float scale_a = a.max == -INFINITY ? 0.0f : expf(a.max - out.max);
  const float scale_b = b.max == -INFINITY ? 0.0f : expf(b.max - out.max);
  // Explicit roundings: a contracted fma(a.sum, scale_a, b.sum * scale_b) would not be symmetric.
  out.sum = __fadd_rn(__fmul_rn(a.sum, scale_a), __fmul_rn(b.sum, scale_b));
  out.argmax = a.max > b.max ? a.argmax : b.max > a.max ? b.argmax : min(a.argmax, b.argmax);
  return out;
}

__device__ __forceinline__ SoftmaxSlice warp_combine(SoftmaxSlice slice) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    SoftmaxSlice other;
    other.max = __shfl_xor_sync(kFullWarpMask, slice.max, offset);
    other.sum = __shfl_xor_sync(kFullWarpMask, slice.sum, offset);
    other.argmax = __shfl_xor_sync(kFullWarpMask, slice.argmax, offset);
    slice = combine(slice, other);
  }
  return slice;
}

// Per-warp butterflies, then every warp combines the kCrossEntropyWarps warp results the same
// way: every thread gets the same row statistics, in a fixed order.
__device__ __forceinline__ SoftmaxSlice block_combine(SoftmaxSlice slice, SoftmaxSlice* warp_slices) {
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  slice = warp_combine(slice);
  if (lane == 0) warp_slices[warp] = slice;
  __syncthreads();
  slice = lane < kCrossEntropyWarps ? warp_slices[lane] : empty_slice();
  return warp_combine(slice);
}

// logits [rows, vocab] (overwritten by the gradient when grad_scale != 0); losses [rows];
// predictions [rows] (skipped when null); targets [rows]
template <int kVec>
__global__ void __launch_bounds__(kCrossEntropyThreads)
    cross_entropy_kernel(float* __restrict__ logits, float* __restrict__ losses,
                         int32_t* __restrict__ predictions, const int32_t* __restrict__ targets,
                         int64_t vocab, float grad_scale) {
  DSA_SHARED(SoftmaxSlice[kCrossEntropyWarps], warp_slices);
  const int64_t row = blockIdx.x;
  float* z = logits + row * vocab;
  const int32_t target = targets[row];
  const bool target_ok = target >= 0 && target < vocab;
  // Read before the barrier inside block_combine; the row is overwritten only after it.
  const float target_logit = target_ok ? z[target] : NAN;

  SoftmaxSlice slice = empty_slice();
  for (int64_t v = int64_t(threadIdx.x) * kVec; v < vocab; v += int64_t(kCrossEntropyThreads) * kVec) {
    float values[kVec];
    load_vec<kVec>(values, z + v);
#pragma unroll
    for (int k = 0; k < kVec; ++k) absorb(slice, values[k], int32_t(v + k));
  }
  const SoftmaxSlice whole = block_combine(slice, warp_slices);

  if (threadIdx.x == 0) {
    // (max + log(sum)) - target logit, the CPU twin's order.
    losses[row] = target_ok ? whole.max + logf(whole.sum) - target_logit : NAN;
    if (predictions != nullptr) predictions[row] = whole.argmax == kNoIndex ? int32_t(vocab) : whole.argmax;
  }
  if (grad_scale == 0.0f) return;
  const float scale = grad_scale / whole.sum;
  for (int64_t v = int64_t(threadIdx.x) * kVec; v < vocab; v += int64_t(kCrossEntropyThreads) * kVec) {
    float values[kVec];
    load_vec<kVec>(values, z + v);
#pragma unroll
    for (int k = 0; k < kVec; ++k) {
      float grad = expf(values[k] - whole.max) * scale;
      if (v + k == target) grad -= grad_scale;
      values[k] = target_ok ? grad : NAN;
    }
    store_vec<kVec>(z + v, values);
  }
}

}  // namespace

void cross_entropy(const Context& ctx, float* logits, float* losses, int32_t* predictions,
                   const int32_t* targets, int64_t rows, int64_t vocab, float grad_scale) {
  if (rows == 0) return;
  DSA_CHECK(vocab > 0 && vocab < std::numeric_limits<int32_t>::max(), "op cross_entropy: vocab ", vocab,
            " must be in [1, 2^31 - 1)");
  DSA_CHECK(rows < (int64_t{1} << 31), "op cross_entropy: rows ", rows, " exceed the grid's x extent");
  if (vocab % 4 == 0 && aligned16(logits)) {
    launch<cross_entropy_kernel<4>>({unsigned(rows), kCrossEntropyThreads, 0, stream_of(ctx)},
        logits, losses, predictions, targets, vocab, grad_scale);
  } else {
    launch<cross_entropy_kernel<1>>({unsigned(rows), kCrossEntropyThreads, 0, stream_of(ctx)},
        logits, losses, predictions, targets, vocab, grad_scale);
  }
  DSA_LAUNCH_CHECK("cross_entropy_kernel", "rows ", rows, " vocab ", vocab, " grad_scale ", grad_scale);
}

}  // namespace dsa::DSA_CUDA_TWIN
