// The indexer (model.md §3.5): scores of the compressed rows for each token, and their
// top-k as ascending row lists, with the CPU's tie rule (equal scores: the lower row wins).
//
// Scores: one thread per (token, row), the token's queries in shared memory; each head's
// dot product runs in index order with the CPU's operations, so equal inputs give equal
// scores.  Top-k: a radix select of the k-th largest score (4 passes of 8 bits over
// order-preserving keys, integer histograms: deterministic), then one ordered pass that
// keeps every larger score and the lowest-indexed equal ones.
#include "backend/cuda/check.h"
#include "backend/cuda/device.cuh"
#include "backend/cuda/kernels.h"
#include "common/error.h"

namespace dstar::backend::cuda {

namespace {

__global__ void __launch_bounds__(128) indexer_scores_kernel(IndexerArgs a, uint32_t t0, float *scores,
                                                             uint64_t score_stride) {
    extern __shared__ float sq[];  // [idx_head][idx_head_dim] queries, then [idx_head] weights
    const uint32_t t = t0 + blockIdx.y;
    const uint32_t n_rows = (load_pos(a.pos0) + t + 1) / a.ratio;
    if (blockIdx.x * blockDim.x >= n_rows) return;  // a block past the token's rows (whole block)
    const uint32_t qd = a.idx_head * a.idx_head_dim;
    for (uint32_t i = threadIdx.x; i < qd; i += blockDim.x) sq[i] = a.q[uint64_t{t} * qd + i];
    for (uint32_t i = threadIdx.x; i < a.idx_head; i += blockDim.x) sq[qd + i] = a.w[uint64_t{t} * a.idx_head + i];
    __syncthreads();
    const uint32_t c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= n_rows) return;
    const float *kv = a.idx_rows + uint64_t{c} * a.idx_head_dim;
    float s = 0.0f;
    for (uint32_t h = 0; h < a.idx_head; h++) {
        const float *qh = sq + h * a.idx_head_dim;
        float d = 0.0f;
        for (uint32_t i = 0; i < a.idx_head_dim; i++) d += kv[i] * qh[i];
        if (d < 0.0f) d = 0.0f;
        s += d * sq[qd + h];
    }
    scores[uint64_t{blockIdx.y} * score_stride + c] = s;
}

// Order-preserving key of a score: a larger float gives a larger key (-0 taken as +0; NaN
// sorts lowest).
__device__ __forceinline__ uint32_t score_key(float f) {
    if (isnan(f)) return 0u;
    if (f == 0.0f) f = 0.0f;
    const uint32_t b = __float_as_uint(f);
    return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

constexpr int kTopkThreads = 256;

__global__ void __launch_bounds__(kTopkThreads) indexer_topk_kernel(const float *scores, uint64_t score_stride,
                                                                    uint32_t t0, DevPos pos0, uint32_t ratio,
                                                                    uint32_t top_k, int32_t *sel) {
    __shared__ uint32_t hist[256];
    __shared__ uint32_t s_prefix, s_remaining;
    __shared__ int warp_eq[kTopkThreads / 32], warp_sel[kTopkThreads / 32];
    __shared__ int run_eq, run_sel;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const uint32_t t = t0 + blockIdx.x;
    const uint32_t n_rows = (load_pos(pos0) + t + 1) / ratio;
    const float *sc = scores + uint64_t{blockIdx.x} * score_stride;
    int32_t *out = sel + uint64_t{blockIdx.x} * top_k;

    // Radix select: the key of the top_k-th largest score, and how many equal keys to take.
    uint32_t prefix = 0, mask = 0;
    if (tid == 0) s_remaining = top_k;
    for (int shift = 24; shift >= 0; shift -= 8) {
        for (int b = tid; b < 256; b += kTopkThreads) hist[b] = 0;
        __syncthreads();
        for (uint32_t c = tid; c < n_rows; c += kTopkThreads) {
            const uint32_t key = score_key(sc[c]);
            if ((key & mask) == prefix) atomicAdd(&hist[(key >> shift) & 255u], 1u);
        }
        __syncthreads();
        if (tid == 0) {
            uint32_t cum = 0, bin = 0, rem = s_remaining;
            for (int b = 255; b >= 0; b--) {
                if (cum + hist[b] >= rem) {
                    bin = static_cast<uint32_t>(b);
                    break;
                }
                cum += hist[b];
            }
            s_remaining = rem - cum;
            s_prefix = prefix | (bin << shift);
        }
        __syncthreads();
        prefix = s_prefix;
        mask |= 255u << shift;
    }
    const uint32_t threshold = prefix;
    const int need_equal = static_cast<int>(s_remaining);

    // Ordered selection: every key above the threshold, the first need_equal equal ones.
    if (tid == 0) {
        run_eq = 0;
        run_sel = 0;
    }
    __syncthreads();
    const unsigned lt_mask = (1u << lane) - 1u;
    for (uint32_t base = 0; base < n_rows; base += kTopkThreads) {
        const uint32_t c = base + tid;
        const bool valid = c < n_rows;
        const uint32_t key = valid ? score_key(sc[c]) : 0u;
        const bool is_eq = valid && key == threshold;
        const unsigned eq_ballot = __ballot_sync(kFullMask, is_eq);
        if (lane == 0) warp_eq[warp] = __popc(eq_ballot);
        __syncthreads();
        int eq_before = run_eq;
        for (int w = 0; w < warp; w++) eq_before += warp_eq[w];
        eq_before += __popc(eq_ballot & lt_mask);
        const bool take = valid && (key > threshold || (is_eq && eq_before < need_equal));
        const unsigned sel_ballot = __ballot_sync(kFullMask, take);
        if (lane == 0) warp_sel[warp] = __popc(sel_ballot);
        __syncthreads();
        int sel_before = run_sel;
        for (int w = 0; w < warp; w++) sel_before += warp_sel[w];
        sel_before += __popc(sel_ballot & lt_mask);
        if (take && sel_before < static_cast<int>(top_k)) out[sel_before] = static_cast<int32_t>(c);
        __syncthreads();
        if (tid == 0) {
            for (int w = 0; w < kTopkThreads / 32; w++) {
                run_eq += warp_eq[w];
                run_sel += warp_sel[w];
            }
        }
        __syncthreads();
    }
}

}  // namespace

void launch_indexer_scores(const IndexerArgs &a, uint32_t t0, uint32_t nt, uint32_t rows_bound, float *scores,
                           uint64_t score_stride, cudaStream_t stream) {
    if (nt == 0) return;
    const uint32_t max_rows = rows_bound;
    const size_t smem = (size_t{a.idx_head} * a.idx_head_dim + a.idx_head) * sizeof(float);
    if (smem > 48 * 1024) fail("indexer: %u heads of %u values do not fit the score kernel", a.idx_head, a.idx_head_dim);
    const dim3 grid(grid_for(max_rows, 128), nt);
    indexer_scores_kernel<<<grid, 128, smem, stream>>>(a, t0, scores, score_stride);
    check_launch("indexer_scores", stream);
}

void launch_indexer_topk(const float *scores, uint64_t score_stride, uint32_t t0, uint32_t nt, DevPos pos0,
                         uint32_t ratio, uint32_t top_k, int32_t *sel, cudaStream_t stream) {
    if (nt == 0) return;
    indexer_topk_kernel<<<nt, kTopkThreads, 0, stream>>>(scores, score_stride, t0, pos0, ratio, top_k, sel);
    check_launch("indexer_topk", stream);
}

}  // namespace dstar::backend::cuda
