// Hyper-connection mixers (model.md §3.2, §3.7).
//
// Unfused path (any batch): the RMS norm of the flattened streams and the mix matmul run
// through the generic ops (backend); the kernels here do the rest: the Sinkhorn split and
// the weighted stream sums / HC post, with the CPU's element formulas and summation order
// (backend/shared/hc_math.h).  The model's 4 streams run the split on one warp, a row of the
// combine matrix per lane; other stream counts on one thread (the shared code as it is).
//
// Fused decode path (hc_pre_norm, up to kHcFusedTokens tokens of 4 streams): one launch.
// kHcFusedBlocks blocks per token each take a slice of the 16384 columns and compute the
// slice's dot products with the 24 mix rows and its sum of squares; the last block of the
// token to finish (a counter, reset by that block) adds the slices in block order, applies
// the RMS scale to the 24 sums (the CPU scales each input first: the same value up to
// rounding), runs the split, the weighted sum and the sublayer's RMS norm.  No float
// atomics: the result does not depend on timing.
#include "backend/cuda/check.h"
#include "backend/cuda/device.cuh"
#include "backend/cuda/kernels.h"
#include "backend/shared/hc_math.h"
#include "common/error.h"

namespace dstar::backend::cuda {

namespace {

constexpr uint32_t kMaxHc = 16;

// The split for N streams (the model's 4) by one warp: lane b keeps row b of the combine
// matrix in registers, and every column sum is gathered with shuffles in row order, so each
// value goes through exactly the operations of shared::hc_split_sinkhorn in the same order,
// but the iterations no longer run on one thread through shared memory (latency-bound).
// All 32 lanes must call it; lanes >= N shadow row 0 and write nothing.
template <int N>
__device__ void split_sinkhorn_warp(const float *mix, const float *scale, const float *base, uint32_t iters,
                                    float eps, float *pre, float *post, float *comb) {
    const int lane = threadIdx.x & 31;
    const int b = lane < N ? lane : 0;
    if (lane < N) {
        pre[lane] = shared::hc_pre_weight(mix[lane], scale[0], base[lane], eps);
        post[lane] = shared::hc_post_weight(mix[N + lane], scale[1], base[N + lane]);
    }
    float c[N];
    float row_max = -INFINITY;
#pragma unroll
    for (int a = 0; a < N; a++) {
        const int o = 2 * N + b * N + a;
        c[a] = shared::hc_comb_logit(mix[o], scale[2], base[o]);
        if (c[a] > row_max) row_max = c[a];
    }
    float sum = 0.0f;
#pragma unroll
    for (int a = 0; a < N; a++) {
        c[a] = expf(c[a] - row_max);
        sum += c[a];
    }
    const float inv0 = 1.0f / sum;
#pragma unroll
    for (int a = 0; a < N; a++) c[a] = c[a] * inv0 + eps;
    auto normalise_columns = [&] {
#pragma unroll
        for (int a = 0; a < N; a++) {
            float s = 0.0f;
#pragma unroll
            for (int r = 0; r < N; r++) s += __shfl_sync(kFullMask, c[a], r);
            const float inv = 1.0f / (s + eps);
            c[a] *= inv;
        }
    };
    normalise_columns();
    for (uint32_t it = 1; it < iters; it++) {
        float s = 0.0f;
#pragma unroll
        for (int a = 0; a < N; a++) s += c[a];
        const float inv = 1.0f / (s + eps);
#pragma unroll
        for (int a = 0; a < N; a++) c[a] *= inv;
        normalise_columns();
    }
    if (lane < N) {
#pragma unroll
        for (int a = 0; a < N; a++) comb[b * N + a] = c[a];
    }
}

__global__ void __launch_bounds__(256) hc_split_sum_kernel(const float *mix, const float *scale, const float *base,
                                                           const float *x_hc, uint32_t n_hc, uint32_t embd,
                                                           uint32_t iters, float eps, float *out, float *post,
                                                           float *comb) {
    __shared__ float s_pre[kMaxHc], s_post[kMaxHc], s_comb[kMaxHc * kMaxHc];
    const uint64_t t = blockIdx.x;
    const uint32_t n_mix = 2 * n_hc + n_hc * n_hc;
    if (n_hc == 4) {
        if (threadIdx.x < 32) split_sinkhorn_warp<4>(mix + t * n_mix, scale, base, iters, eps, s_pre, s_post, s_comb);
    } else if (threadIdx.x == 0) {
        shared::hc_split_sinkhorn(mix + t * n_mix, scale, base, n_hc, iters, eps, s_pre, s_post, s_comb);
    }
    __syncthreads();
    if (threadIdx.x < n_hc) post[t * n_hc + threadIdx.x] = s_post[threadIdx.x];
    for (uint32_t i = threadIdx.x; i < n_hc * n_hc; i += blockDim.x) comb[t * n_hc * n_hc + i] = s_comb[i];
    const float *x = x_hc + t * n_hc * embd;
    for (uint32_t d = threadIdx.x; d < embd; d += blockDim.x)
        out[t * embd + d] = shared::hc_weighted_elem(x + d, embd, s_pre, n_hc);
}

__global__ void hc_post_kernel(float *out_hc, const float *y, const float *res_hc, const float *post,
                               const float *comb, uint64_t total, uint32_t n_hc, uint32_t embd) {
    for (uint64_t i = blockIdx.x * uint64_t{blockDim.x} + threadIdx.x; i < total; i += uint64_t{gridDim.x} * blockDim.x) {
        const uint64_t hc_dim = uint64_t{n_hc} * embd;
        const uint64_t t = i / hc_dim, rem = i % hc_dim;
        const uint32_t a = static_cast<uint32_t>(rem / embd), d = static_cast<uint32_t>(rem % embd);
        out_hc[i] = shared::hc_post_elem(y[t * embd + d], post + t * n_hc, comb + t * n_hc * n_hc,
                                         res_hc + t * hc_dim + d, embd, n_hc, a);
    }
}

__global__ void __launch_bounds__(256) hc_head_sum_kernel(const float *mix, const float *scale, const float *base,
                                                          const float *x_hc, uint32_t n_hc, uint32_t embd, float eps,
                                                          float *out) {
    __shared__ float w[kMaxHc];
    const uint64_t t = blockIdx.x;
    if (threadIdx.x < n_hc)
        w[threadIdx.x] = shared::hc_head_weight(mix[t * n_hc + threadIdx.x], scale[0], base[threadIdx.x], eps);
    __syncthreads();
    const float *x = x_hc + t * n_hc * embd;
    for (uint32_t d = threadIdx.x; d < embd; d += blockDim.x) out[t * embd + d] = shared::hc_weighted_elem(x + d, embd, w, n_hc);
}

// ---- fused HC pre + norm (decode) ----

constexpr int kFusedStreams = 4;
constexpr int kFusedMix = 2 * kFusedStreams + kFusedStreams * kFusedStreams;  // 24
constexpr int kFusedThreads = 256;
constexpr int kPartialStride = 32;  // floats per block: kFusedMix dot sums, then a double
static_assert(kFusedMix + 2 <= kPartialStride, "partial slot too small");
static_assert(kHcFusedPartials == kHcFusedBlocks * kPartialStride, "partial layout");

__device__ __forceinline__ float mix_weight(const DevWeight &fn, uint32_t r, uint64_t c) {
    const uint8_t *row = fn.main + uint64_t{r} * fn.main_row;
    switch (fn.type) {
    case WType::F16: return half_bits_to_float(__ldg(reinterpret_cast<const unsigned short *>(row) + c));
    case WType::BF16: return bf16_bits_to_float(__ldg(reinterpret_cast<const unsigned short *>(row) + c));
    default: return __ldg(reinterpret_cast<const float *>(row) + c);
    }
}

__global__ void __launch_bounds__(kFusedThreads) hc_pre_norm_kernel(DevWeight fn, const float *scale, const float *base,
                                                                    const float *norm, const float *x_hc, uint32_t embd,
                                                                    uint32_t iters, float rms_eps, float hc_eps,
                                                                    float *out, float *norm_out, float *post,
                                                                    float *comb, float *partial, uint32_t *counters) {
    extern __shared__ float s_cur[];  // [embd]: the sublayer input of the token (last block)
    __shared__ float s_warp[kFusedThreads / 32][kFusedMix];
    __shared__ double s_warp_ss[kFusedThreads / 32];
    __shared__ double s_dscratch[32];
    __shared__ float s_mix[kFusedMix], s_pre[kFusedStreams], s_post[kFusedStreams],
        s_comb[kFusedStreams * kFusedStreams];
    __shared__ double s_ss;
    __shared__ bool s_last;
    const uint32_t t = blockIdx.y, g = blockIdx.x, G = gridDim.x;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const uint64_t hc_dim = uint64_t{kFusedStreams} * embd;
    const float *x = x_hc + t * hc_dim;

    // 1. This block's column slice: dot products with the mix rows, sum of squares.
    const uint64_t per = (hc_dim + G - 1) / G, c0 = g * per, c1 = min(hc_dim, c0 + per);
    float acc[kFusedMix];
#pragma unroll
    for (int r = 0; r < kFusedMix; r++) acc[r] = 0.0f;
    double ss = 0.0;
    for (uint64_t c = c0 + tid; c < c1; c += kFusedThreads) {
        const float xv = x[c];
        ss += static_cast<double>(xv) * xv;
#pragma unroll
        for (int r = 0; r < kFusedMix; r++) acc[r] = fmaf(mix_weight(fn, r, c), xv, acc[r]);
    }
#pragma unroll
    for (int r = 0; r < kFusedMix; r++) acc[r] = warp_sum(acc[r]);
    ss = warp_sum(ss);
    if (lane == 0) {
#pragma unroll
        for (int r = 0; r < kFusedMix; r++) s_warp[warp][r] = acc[r];
        s_warp_ss[warp] = ss;
    }
    __syncthreads();
    float *slot = partial + (uint64_t{t} * G + g) * kPartialStride;
    if (tid < kFusedMix) {
        float v = 0.0f;
        for (int w = 0; w < kFusedThreads / 32; w++) v += s_warp[w][tid];
        slot[tid] = v;
    } else if (tid == kFusedMix) {
        double v = 0.0;
        for (int w = 0; w < kFusedThreads / 32; w++) v += s_warp_ss[w];
        *reinterpret_cast<double *>(slot + kFusedMix) = v;
    }
    __threadfence();
    __syncthreads();
    if (tid == 0) s_last = atomicAdd(counters + t, 1u) == G - 1;
    __syncthreads();
    if (!s_last) return;

    // 2. Last block of the token: the slices in block order (read past L1: other blocks
    // wrote them), the RMS scale, the split.
    __threadfence();
    const float *tok_part = partial + uint64_t{t} * G * kPartialStride;
    if (tid < kFusedMix) {
        float v = 0.0f;
        for (uint32_t b = 0; b < G; b++) v += __ldcg(tok_part + uint64_t{b} * kPartialStride + tid);
        s_mix[tid] = v;
    } else if (tid == kFusedMix) {
        double v = 0.0;
        for (uint32_t b = 0; b < G; b++)
            v += __ldcg(reinterpret_cast<const double *>(tok_part + uint64_t{b} * kPartialStride + kFusedMix));
        s_ss = v;
    }
    __syncthreads();
    if (tid < kFusedMix) {
        const float rscale = 1.0f / sqrtf(static_cast<float>(s_ss / static_cast<double>(hc_dim)) + rms_eps);
        s_mix[tid] *= rscale;
    }
    __syncthreads();
    if (warp == 0) split_sinkhorn_warp<kFusedStreams>(s_mix, scale, base, iters, hc_eps, s_pre, s_post, s_comb);
    __syncthreads();
    if (tid < kFusedStreams) post[uint64_t{t} * kFusedStreams + tid] = s_post[tid];
    if (tid < kFusedStreams * kFusedStreams) comb[uint64_t{t} * kFusedStreams * kFusedStreams + tid] = s_comb[tid];

    // 3. The sublayer input and its RMS norm.
    double ss2 = 0.0;
    for (uint32_t d = tid; d < embd; d += kFusedThreads) {
        const float v = shared::hc_weighted_elem(x + d, embd, s_pre, kFusedStreams);
        out[uint64_t{t} * embd + d] = v;
        s_cur[d] = v;
        ss2 += static_cast<double>(v) * v;
    }
    ss2 = block_sum(ss2, s_dscratch);
    const float nscale = 1.0f / sqrtf(static_cast<float>(ss2 / static_cast<double>(embd)) + rms_eps);
    for (uint32_t d = tid; d < embd; d += kFusedThreads) norm_out[uint64_t{t} * embd + d] = s_cur[d] * nscale * norm[d];
    if (tid == 0) counters[t] = 0;  // ready for the next launch
}

}  // namespace

void launch_hc_split_sum(const float *mix, const float *scale, const float *base, const float *x_hc, uint32_t n,
                         uint32_t n_hc, uint32_t embd, uint32_t iters, float hc_eps, float *out, float *post,
                         float *comb, cudaStream_t stream) {
    if (n == 0) return;
    hc_split_sum_kernel<<<n, 256, 0, stream>>>(mix, scale, base, x_hc, n_hc, embd, iters, hc_eps, out, post, comb);
    check_launch("hc_split_sum", stream);
}

void launch_hc_post(float *out_hc, const float *y, const float *res_hc, const float *post, const float *comb,
                    uint32_t n, uint32_t n_hc, uint32_t embd, cudaStream_t stream) {
    const uint64_t total = uint64_t{n} * n_hc * embd;
    if (total == 0) return;
    const unsigned grid = grid_for(total, 256) < 8192 ? grid_for(total, 256) : 8192;
    hc_post_kernel<<<grid, 256, 0, stream>>>(out_hc, y, res_hc, post, comb, total, n_hc, embd);
    check_launch("hc_post", stream);
}

void launch_hc_head_sum(const float *mix, const float *scale, const float *base, const float *x_hc, uint32_t n,
                        uint32_t n_hc, uint32_t embd, float hc_eps, float *out, cudaStream_t stream) {
    if (n == 0) return;
    hc_head_sum_kernel<<<n, 256, 0, stream>>>(mix, scale, base, x_hc, n_hc, embd, hc_eps, out);
    check_launch("hc_head_sum", stream);
}

bool hc_pre_fused_supported(const DevWeight &fn, uint32_t n, uint32_t n_hc, uint32_t embd) {
    const bool float_type = fn.type == WType::F16 || fn.type == WType::BF16 || fn.type == WType::F32;
    return n >= 1 && n <= kHcFusedTokens && n_hc == static_cast<uint32_t>(kFusedStreams) && float_type &&
           fn.rows == static_cast<uint64_t>(kFusedMix) && fn.k == uint64_t{n_hc} * embd &&
           size_t{embd} * sizeof(float) <= 40 * 1024;
}

void launch_hc_pre_norm_fused(const DevWeight &fn, const float *scale, const float *base, const float *norm,
                              const float *x_hc, uint32_t n, uint32_t n_hc, uint32_t embd, uint32_t iters,
                              float rms_eps, float hc_eps, float *out, float *norm_out, float *post, float *comb,
                              float *partial, uint32_t *counters, cudaStream_t stream) {
    if (!hc_pre_fused_supported(fn, n, n_hc, embd)) fail("fused HC pre: unsupported shape");
    const dim3 grid(kHcFusedBlocks, n);
    hc_pre_norm_kernel<<<grid, kFusedThreads, embd * sizeof(float), stream>>>(
        fn, scale, base, norm, x_hc, embd, iters, rms_eps, hc_eps, out, norm_out, post, comb, partial, counters);
    check_launch("hc_pre_norm", stream);
}

}  // namespace dstar::backend::cuda
