// Indexer KL loss and the dense attention target, CUDA twin (fp32, KL terms in double; contract:
// ops/indexer_loss.h). UNVERIFIED ON HARDWARE: compiled for sm_90, never run on a GPU;
// tests/test_cuda_dsa.cpp compares it with the CPU twin.
//
//   target (dense domain; also attention_target): one block per (key tile, query tile, batch) of
//           64 x 64 pairs (cuda/dsa_util.cuh). Walks the query heads in increasing h, stages the
//           q tile of head h and the k tile of its kv head in shared memory and adds
//           exp(q . k / sqrt(Dh) - lse_th) in registers; writes p = sum / H for s <= t and 0 for
//           s > t. Only p (T x T) is ever stored, never T x T x H. For the loss, p is written
//           into dscores itself, which the next kernel turns into the gradient in place.
//   row KL  one warp per row (b, t), lanes over the domain (s <= t, or the list's keys): the
//           indexer's log-sum-exp over the domain (max, then sum, by xor trees), then per key
//           log r = I - lse_I, KL terms p (log p - log r) in double, dscores = (r - p) / rows.
//           Sparse domain: p of a listed key is built by its lane head by head from q, k and the
//           sparse attention's lse; dscores is zeroed first. KL_t goes to a [B*T] double array
//           in the workspace (and row_loss).
//   L_I     the host downloads the B*T row terms and sums them in increasing (b, t) order in
//           double: the CPU twin's order, so equal row terms give equal bits. The op returns a
//           host double, so this costs no extra synchronisation beyond the one it needs anyway.
// Deterministic: every element is written by one thread summing in a fixed order; reductions
// are fixed xor trees; no atomics.
#include <cmath>
#include <cstdint>
#include <vector>

#include "dsa_util.cuh"

namespace dsa::DSA_CUDA_TWIN {

using namespace dsa_detail;

namespace {

constexpr int kRowThreads = 128;  // row KL kernels: 4 warps = 4 rows per block
constexpr int kRowsPerBlock = kRowThreads / kWarpSize;
constexpr float kNegInf = -INFINITY;

__host__ __device__ constexpr size_t target_shared_floats(int head_dim) {
  return 2 * size_t(kTile) * tile_ld(head_dim);  // q tile, k tile
}

// Dense target. grid (ceil(T/64) key tiles, ceil(T/64) query tiles, B), block kTileThreads,
// dynamic shared target_shared_floats(Dh) floats.
//   q [B, T, q_stride];  k [B, T, kv_stride] (kv head g = h / group);  lse [B, H, T]
//   target [B, T, T]: p_ts for s <= t, 0 for s > t
__global__ void __launch_bounds__(kTileThreads)
    dense_target_kernel(float* __restrict__ target, const float* __restrict__ q,
                        const float* __restrict__ k, const float* __restrict__ lse, int seq,
                        int heads, int group, int head_dim, int64_t q_stride, int64_t kv_stride,
                        float scale) {
  DSA_DYNAMIC_SHARED(float, target_shared);
  float* q_tile = target_shared;                       // [64][Dh + 1]
  float* k_tile = q_tile + kTile * tile_ld(head_dim);  // [64][Dh + 1]
  const int s0 = blockIdx.x * kTile, t0 = blockIdx.y * kTile, b = blockIdx.z;
  const int ty = threadIdx.x / kTileSide, tx = threadIdx.x % kTileSide;

  float acc[kTilePer][kTilePer] = {};
  if (s0 <= t0) {  // tiles above the diagonal hold only s > t
    for (int h = 0; h < heads; ++h) {
      __syncthreads();  // readers of the previous head's tiles are done
      load_tile(q_tile, q + int64_t(b) * seq * q_stride + int64_t(h) * head_dim, q_stride, t0,
                seq, head_dim);
      load_tile(k_tile, k + int64_t(b) * seq * kv_stride + int64_t(h / group) * head_dim,
                kv_stride, s0, seq, head_dim);
      __syncthreads();
      float dot[kTilePer][kTilePer];
      tile_dots(dot, q_tile, k_tile, head_dim, ty, tx);
#pragma unroll
      for (int i = 0; i < kTilePer; ++i) {
        const int t = t0 + ty + kTileSide * i;
        if (t >= seq) continue;
        const float lse_th = lse[(int64_t(b) * heads + h) * seq + t];
#pragma unroll
        for (int c = 0; c < kTilePer; ++c)
          if (s0 + tx + kTileSide * c <= t) acc[i][c] += expf(scale * dot[i][c] - lse_th);
      }
    }
  }
  const float inv_heads = 1.0f / float(heads);
  float* target_b = target + int64_t(b) * seq * seq;
  store_score_tile(target_b, acc, inv_heads, 0.0f, t0, s0, seq, ty, tx);
}

// The keys of a row's domain: every s <= t (dense) or the list's keys (sparse).
struct DenseDomain {
  __device__ int key(int j) const { return j; }
};
struct ListDomain {
  const int32_t* keys;
  __device__ int key(int j) const { return keys[j]; }
};

// log sum_{j < n} exp(scores_row[key(j)]) over the warp (every lane returns it); -inf if n = 0.
template <class Domain>
__device__ float domain_lse(const float* scores_row, const Domain& domain, int n, int lane) {
  float row_max = kNegInf;
  for (int j = lane; j < n; j += kWarpSize) row_max = fmaxf(row_max, scores_row[domain.key(j)]);
  row_max = warp_max(row_max);
  if (n == 0) return kNegInf;
  float sum = 0.0f;
  for (int j = lane; j < n; j += kWarpSize) sum += expf(scores_row[domain.key(j)] - row_max);
  return row_max + logf(warp_sum(sum));
}

// One KL term p (log p - log r) in double (0 when p = 0), and writes the key's gradient.
__device__ __forceinline__ double kl_term(float* dscore, float score, float score_lse, float p,
                                          float inv_rows) {
  const float log_r = score - score_lse;
  *dscore = (expf(log_r) - p) * inv_rows;
  return p > 0.0f ? double(p) * (log(double(p)) - double(log_r)) : 0.0;
}

// Lane 0 stores the row's KL (summed over the warp by a fixed tree).
__device__ __forceinline__ void store_row_kl(double* row_kl, float* row_loss, int64_t row,
                                             double kl, int lane) {
  kl = warp_sum(kl);
  if (lane != 0) return;
  row_kl[row] = kl;
  if (row_loss != nullptr) row_loss[row] = float(kl);
}

// Dense-domain KL. grid ceil(B*T / 4), block kRowThreads; one warp per row.
//   scores [B, T, T] (s <= t read);  dscores [B, T, T]: holds p on entry (s <= t), the gradient
//   on exit (s > t left at 0 by the target kernel);  row_kl [B*T] double;  row_loss [B*T] or null
__global__ void __launch_bounds__(kRowThreads)
    dense_kl_kernel(float* __restrict__ dscores, double* __restrict__ row_kl,
                    float* __restrict__ row_loss, const float* __restrict__ scores, int64_t rows,
                    int64_t seq, float inv_rows) {
  const int64_t row = int64_t(blockIdx.x) * kRowsPerBlock + threadIdx.x / kWarpSize;
  if (row >= rows) return;  // whole warps leave
  const int lane = threadIdx.x % kWarpSize, n = int(row % seq) + 1;
  const float* scores_row = scores + row * seq;
  float* dscores_row = dscores + row * seq;
  const float score_lse = domain_lse(scores_row, DenseDomain{}, n, lane);
  double kl = 0.0;
  for (int s = lane; s < n; s += kWarpSize)  // each element read (p) and rewritten by one lane
    kl += kl_term(&dscores_row[s], scores_row[s], score_lse, dscores_row[s], inv_rows);
  store_row_kl(row_kl, row_loss, row, kl, lane);
}

// Sparse-domain KL. grid ceil(B*T / 4), block kRowThreads; one warp per row.
//   scores [B, T, T];  q [B, T, q_stride];  k [B, T, kv_stride];  lse [B, H, T] (sparse
//   attention's);  lists [B, T, width] (checked);  dscores [B, T, T] zeroed before, written at
//   the listed keys;  row_kl, row_loss as above
__global__ void __launch_bounds__(kRowThreads)
    sparse_kl_kernel(float* __restrict__ dscores, double* __restrict__ row_kl,
                     float* __restrict__ row_loss, const float* __restrict__ scores,
                     const float* __restrict__ q, const float* __restrict__ k,
                     const float* __restrict__ lse, const int32_t* __restrict__ lists,
                     int64_t batch, int64_t seq, int64_t width, int heads, int group,
                     int head_dim, int64_t q_stride, int64_t kv_stride, float scale,
                     float inv_rows) {
  const int64_t row = int64_t(blockIdx.x) * kRowsPerBlock + threadIdx.x / kWarpSize;
  if (row >= batch * seq) return;
  const int lane = threadIdx.x % kWarpSize;
  const int64_t b = row / seq, t = row % seq;
  const ListDomain domain{lists + row * width};
  const int n = warp_list_length(domain.keys, width, lane);
  const float* scores_row = scores + row * seq;
  const float score_lse = domain_lse(scores_row, domain, n, lane);
  const float* q_row = q + row * q_stride;
  const float* lse_bt = lse + b * heads * seq + t;  // head h at h * T
  const float inv_heads = 1.0f / float(heads);
  double kl = 0.0;
  for (int j = lane; j < n; j += kWarpSize) {
    const int s = domain.key(j);
    const float* key_row = k + (b * seq + s) * kv_stride;
    float p = 0.0f;
    for (int h = 0; h < heads; ++h) {
      const float* q_h = q_row + int64_t(h) * head_dim;
      const float* k_g = key_row + int64_t(h / group) * head_dim;
      float dot = 0.0f;
      for (int d = 0; d < head_dim; ++d) dot = fmaf(q_h[d], k_g[d], dot);
      p += expf(scale * dot - lse_bt[int64_t(h) * seq]);
    }
    kl += kl_term(&dscores[row * seq + s], scores_row[s], score_lse, p * inv_heads, inv_rows);
  }
  store_row_kl(row_kl, row_loss, row, kl, lane);
}

// ---- host side --------------------------------------------------------------------------------

// Workspace: [error record][row KL: B*T doubles].
size_t row_kl_offset() { return kErrorRegionBytes; }

void check_shape(const AttentionShape& s, const char* op) {
  DSA_CHECK(s.kv_heads > 0 && s.heads % s.kv_heads == 0, "op ", op, ": heads ", s.heads,
            " must be a multiple of kv_heads ", s.kv_heads);
  DSA_CHECK(s.head_dim >= 1 && s.head_dim <= kMaxTileDim, "op ", op, ": head_dim ", s.head_dim,
            " is not supported by the CUDA twin (1 ... ", kMaxTileDim, ")");
  DSA_CHECK(s.batch >= 0 && s.batch <= kMaxGridYZ && s.seq >= 0 &&
                ceil_div(s.seq, kTile) <= kMaxGridYZ,
            "op ", op, ": shape [B=", s.batch, ", T=", s.seq,
            "] is outside the CUDA twin's grid limits (B, T/64 <= 65535)");
}

void launch_target(const Context& ctx, float* target, const float* q, const float* k,
                   const float* lse, const AttentionShape& s) {
  static const bool configured =
      (allow_dynamic_shared(dense_target_kernel, target_shared_floats(kMaxTileDim) * sizeof(float),
                            "dense_target_kernel"),
       true);
  (void)configured;
  const unsigned tiles = unsigned(ceil_div(s.seq, kTile));
  const size_t shared = target_shared_floats(int(s.head_dim)) * sizeof(float);
  launch<dense_target_kernel>({dim3(tiles, tiles, unsigned(s.batch)), kTileThreads, shared,
                        stream_of(ctx)}, target, q, k, lse, int(s.seq), int(s.heads),
                                          int(s.heads / s.kv_heads), int(s.head_dim),
                                          s.q_stride, s.kv_stride,
                                          1.0f / std::sqrt(float(s.head_dim)));
  DSA_LAUNCH_CHECK("dense_target_kernel", "B=", s.batch, " T=", s.seq, " H=", s.heads, " Hkv=",
                   s.kv_heads, " Dh=", s.head_dim, " shared ", shared, " bytes");
}

}  // namespace

size_t indexer_loss_workspace(const AttentionShape& shape, int64_t) {
  return kErrorRegionBytes + round_up_256(size_t(shape.batch * shape.seq) * sizeof(double));
}

double indexer_loss(const Context& ctx, float* dscores, float* row_loss, const float* scores,
                    const float* q, const float* k, const float* lse,
                    const ops::IndexLists& domain, const AttentionShape& s) {
  const char* op = "indexer_loss";
  check_shape(s, op);
  const int64_t width = domain.indices == nullptr ? 0 : domain.width;
  require_workspace(ctx, indexer_loss_workspace(s, width), op, s.batch, s.seq);
  if (domain.indices != nullptr) check_index_lists(ctx, domain, s.batch, s.seq, op);
  const int64_t rows = s.batch * s.seq;
  if (rows == 0) return 0.0;
  double* row_kl = reinterpret_cast<double*>(static_cast<char*>(ctx.workspace) + row_kl_offset());
  const float inv_rows = 1.0f / float(rows);
  const unsigned row_blocks = unsigned(ceil_div(rows, kRowsPerBlock));

  if (domain.indices == nullptr) {
    launch_target(ctx, dscores, q, k, lse, s);  // p into dscores, 0 for s > t
    launch<dense_kl_kernel>({row_blocks, kRowThreads, 0, stream_of(ctx)}, dscores, row_kl, row_loss,
                                                                   scores, rows, s.seq, inv_rows);
    DSA_LAUNCH_CHECK("dense_kl_kernel", "B=", s.batch, " T=", s.seq);
  } else {
    DSA_CUDA_CHECK(cudaMemsetAsync(dscores, 0, size_t(rows * s.seq) * sizeof(float),
                                   stream_of(ctx)),
                   "op ", op, ": zero dscores [B=", s.batch, ", T=", s.seq, ", T]");
    launch<sparse_kl_kernel>({row_blocks, kRowThreads, 0, stream_of(ctx)},
        dscores, row_kl, row_loss, scores, q, k, lse, domain.indices, s.batch, s.seq, width,
        int(s.heads), int(s.heads / s.kv_heads), int(s.head_dim), s.q_stride, s.kv_stride,
        1.0f / std::sqrt(float(s.head_dim)), inv_rows);
    DSA_LAUNCH_CHECK("sparse_kl_kernel", "B=", s.batch, " T=", s.seq, " H=", s.heads, " Hkv=",
                     s.kv_heads, " Dh=", s.head_dim, " k=", width);
  }

  std::vector<double> host_kl(rows);
  DSA_CUDA_CHECK(cudaMemcpyAsync(host_kl.data(), row_kl, rows * sizeof(double),
                                 cudaMemcpyDeviceToHost, stream_of(ctx)),
                 "op ", op, ": download of ", rows, " row terms");
  DSA_CUDA_CHECK(cudaStreamSynchronize(stream_of(ctx)), "op ", op, ": wait for the row terms");
  double total = 0;  // in row order, as the CPU twin
  for (const double term : host_kl) total += term;
  return total / double(rows);
}

void attention_target(const Context& ctx, float* target, const float* q, const float* k,
                      const float* lse, const AttentionShape& s) {
  check_shape(s, "attention_target");
  if (s.batch == 0 || s.seq == 0) return;
  launch_target(ctx, target, q, k, lse, s);
}

}  // namespace dsa::DSA_CUDA_TWIN
