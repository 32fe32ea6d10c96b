// The indexer (model.md §3.5): scores of the compressed rows for each token, and their
// top-k as ascending row lists, with the CPU's tie rule (equal scores: the lower row wins).
//
// Scores: one warp per (token, row) for the model's shapes (head dim a multiple of 4, at most
// 128 heads): the token's queries sit transposed in shared memory, the row is staged per
// warp, lane h computes the dot products of heads h, h + 32, ... in index order, and one lane
// adds the heads' terms in head order: the CPU's operations in the CPU's order, so the scores
// equal the CPU's bit for bit (ties are then broken the same way).  The work per row is a
// few hundred cycles on one warp instead of one thread's 8192-long chain, and a warp's loads
// of a row are coalesced.  Other shapes: one thread per (token, row).  Top-k: a radix select of the k-th largest score (4 passes of 8 bits over
// order-preserving keys, integer histograms: deterministic), then one ordered pass that
// keeps every larger score and the lowest-indexed equal ones.
#include "backend/cuda/check.h"
#include "backend/cuda/device.cuh"
#include "backend/cuda/launch.cuh"
#include "backend/cuda/kernels.h"
#include "common/error.h"

#include <type_traits>

namespace dstar::backend::cuda {

namespace {

__global__ void __launch_bounds__(128) indexer_scores_kernel(IndexerArgs a, uint32_t t0, float *scores,
                                                             uint64_t score_stride) {
    pdl_enter();  // waits for the previous kernel (launch.cuh)
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

constexpr int kScoreWarps = 8;  // warps per block of the warp-per-row kernel
// Rows per warp: one for decode (as many blocks as the token's rows allow: a warp's rows run
// one after the other, and at a few thousand rows of context 4 per warp left ~17 blocks),
// more for a batch (each block loads its token's queries once, so fewer blocks read them
// less often).
constexpr uint32_t kScoreRowsPerWarpDecode = 1, kScoreRowsPerWarpBatch = 16;
constexpr uint32_t kScoreMaxHeads = 128;

// Shared memory of the warp-per-row kernel: per warp a row [idx_head_dim], then the queries
// [idx_head_dim][idx_head + 1] (transposed, so lanes reading consecutive heads hit
// consecutive banks; the padding makes the transposing stores, consecutive dims of one head,
// hit consecutive banks too instead of one), the weights [idx_head], and per warp the heads'
// terms [idx_head].
size_t score_warp_smem(uint32_t idx_head, uint32_t idx_head_dim) {
    return (size_t{idx_head + 1} * idx_head_dim + idx_head + size_t{kScoreWarps} * (idx_head_dim + idx_head)) *
           sizeof(float);
}

template <int HPL>  // heads per lane: ceil(idx_head / 32)
__global__ void __launch_bounds__(32 * kScoreWarps) indexer_scores_warp_kernel(IndexerArgs a, uint32_t t0, float *scores,
                                                                                uint64_t score_stride,
                                                                                uint32_t rows_per_warp) {
    pdl_enter();  // waits for the previous kernel (launch.cuh)
    extern __shared__ float smem[];
    const uint32_t H = a.idx_head, D = a.idx_head_dim;
    // The warps' rows first: D is a multiple of 4, so each starts 16-byte aligned.
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    float *srow = smem + static_cast<uint64_t>(warp) * D;           // [D]
    const uint32_t HP = H + 1;                                       // padded row of qT
    float *qT = smem + uint64_t{kScoreWarps} * D;                    // [D][HP]
    float *sw = qT + uint64_t{D} * HP;                               // [H]
    float *sterm = sw + H + static_cast<uint64_t>(warp) * H;         // [H]
    const uint32_t t = t0 + blockIdx.y;
    const uint32_t n_rows = (load_pos(a.pos0) + t + 1) / a.ratio;
    const uint32_t rows_per_block = kScoreWarps * rows_per_warp;
    const uint32_t first = blockIdx.x * rows_per_block;
    if (first >= n_rows) return;  // a block past the token's rows (whole block)
    const float *q = a.q + uint64_t{t} * H * D;
    for (uint32_t i = threadIdx.x; i < H * D; i += blockDim.x) {
        const uint32_t h = i / D, d = i % D;
        qT[uint64_t{d} * HP + h] = q[i];
    }
    for (uint32_t i = threadIdx.x; i < H; i += blockDim.x) sw[i] = a.w[uint64_t{t} * H + i];
    __syncthreads();
    for (uint32_t r = 0; r < rows_per_warp; r++) {
        const uint32_t c = first + r * kScoreWarps + static_cast<uint32_t>(warp);
        if (c >= n_rows) break;  // whole warp
        const float4 *row = reinterpret_cast<const float4 *>(a.idx_rows + uint64_t{c} * D);
        for (uint32_t v = lane; v < D / 4; v += 32) reinterpret_cast<float4 *>(srow)[v] = __ldg(row + v);
        __syncwarp();
        float dsum[HPL];
#pragma unroll
        for (int j = 0; j < HPL; j++) dsum[j] = 0.0f;
        for (uint32_t i = 0; i < D; i++) {
            const float kv = srow[i];
            const float *qi = qT + uint64_t{i} * HP;
#pragma unroll
            for (int j = 0; j < HPL; j++) {
                const uint32_t h = lane + 32u * j;
                if (h < H) dsum[j] = dsum[j] + kv * qi[h];  // mul then add, as the CPU (no FMA)
            }
        }
#pragma unroll
        for (int j = 0; j < HPL; j++) {
            const uint32_t h = lane + 32u * j;
            if (h < H) sterm[h] = (dsum[j] < 0.0f ? 0.0f : dsum[j]) * sw[h];
        }
        __syncwarp();
        if (lane == 0) {
            float s = 0.0f;
            for (uint32_t h = 0; h < H; h++) s += sterm[h];
            scores[uint64_t{blockIdx.y} * score_stride + c] = s;
        }
        __syncwarp();  // srow and sterm are reused by the next row
    }
}

// Order-preserving key of a score: a larger float gives a larger key (-0 taken as +0; NaN
// sorts lowest).
__device__ __forceinline__ uint32_t score_key(float f) {
    if (isnan(f)) return 0u;
    if (f == 0.0f) f = 0.0f;
    const uint32_t b = __float_as_uint(f);
    return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

constexpr int kTopkThreads = 512;  // one block per token: many rows per pass

__global__ void __launch_bounds__(kTopkThreads) indexer_topk_kernel(const float *scores, uint64_t score_stride,
                                                                    uint32_t t0, DevPos pos0, uint32_t ratio,
                                                                    uint32_t top_k, int32_t *sel) {
    pdl_enter();  // waits for the previous kernel (launch.cuh)
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
        if (warp == 0) {
            // From bin 255 down, the first bin where the running count reaches the remaining
            // need: lane l holds bins 8l..8l+7; a suffix scan over lanes finds the one lane
            // whose bins cross it (instead of one thread walking 256 bins).
            const uint32_t rem = s_remaining;  // read by every lane before lane l writes it
            uint32_t local[8], lsum = 0;
#pragma unroll
            for (int k = 0; k < 8; k++) {
                local[k] = hist[8 * lane + k];
                lsum += local[k];
            }
            uint32_t incl = lsum;  // bins of lanes >= lane
#pragma unroll
            for (int off = 1; off < 32; off <<= 1) {
                const uint32_t v = __shfl_down_sync(kFullMask, incl, off);
                if (lane + off < 32) incl += v;
            }
            const uint32_t above = incl - lsum;
            __syncwarp();
            if (above < rem && rem <= incl) {
                uint32_t cum = above, bin = 8 * lane;
                for (int k = 7; k >= 0; k--) {
                    if (cum + local[k] >= rem) {
                        bin = 8 * lane + static_cast<uint32_t>(k);
                        break;
                    }
                    cum += local[k];
                }
                s_remaining = rem - cum;
                s_prefix = prefix | (bin << shift);
            } else if (lane == 0 && incl < rem) {  // fewer keys than needed: bin 0 (as a full walk)
                s_remaining = rem - incl;
                s_prefix = prefix;
            }
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
    const size_t wsmem = score_warp_smem(a.idx_head, a.idx_head_dim);
    if (a.idx_head_dim % 4 == 0 && a.idx_head >= 1 && a.idx_head <= kScoreMaxHeads && wsmem <= 48 * 1024) {
        const uint32_t rpw = nt <= 8 ? kScoreRowsPerWarpDecode : kScoreRowsPerWarpBatch;
        const uint32_t rows_per_block = kScoreWarps * rpw;
        const dim3 grid((max_rows + rows_per_block - 1) / rows_per_block, nt);
        if (grid.x == 0) return;
        auto go = [&](auto hpl) {
            launch_pdl("indexer_scores_warp_kernel", indexer_scores_warp_kernel<decltype(hpl)::value>, grid,
                       dim3(32 * kScoreWarps), wsmem, stream, a, t0, scores, score_stride, rpw);
        };
        if (a.idx_head <= 32) go(std::integral_constant<int, 1>{});
        else if (a.idx_head <= 64) go(std::integral_constant<int, 2>{});
        else go(std::integral_constant<int, 4>{});
        check_launch("indexer_scores", stream);
        return;
    }
    const size_t smem = (size_t{a.idx_head} * a.idx_head_dim + a.idx_head) * sizeof(float);
    if (smem > 48 * 1024) fail("indexer: %u heads of %u values do not fit the score kernel", a.idx_head, a.idx_head_dim);
    const dim3 grid(grid_for(max_rows, 128), nt);
    launch_pdl("indexer_scores_kernel", indexer_scores_kernel, dim3(grid), dim3(128), smem, stream, a, t0, scores, score_stride);
    check_launch("indexer_scores", stream);
}

void launch_indexer_topk(const float *scores, uint64_t score_stride, uint32_t t0, uint32_t nt, DevPos pos0,
                         uint32_t ratio, uint32_t top_k, int32_t *sel, cudaStream_t stream) {
    if (nt == 0) return;
    launch_pdl("indexer_topk_kernel", indexer_topk_kernel, dim3(nt), dim3(kTopkThreads), 0, stream, scores, score_stride, t0, pos0, ratio, top_k, sel);
    check_launch("indexer_topk", stream);
}

}  // namespace dstar::backend::cuda
