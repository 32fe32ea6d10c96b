// Hyper-connection mixers (model.md §3.2, §3.7).
//
// Unfused path (any batch): the RMS norm of the flattened streams and the mix matmul run
// through the generic ops (backend); the kernels here do the rest: the Sinkhorn split and
// the weighted stream sums / HC post, with the CPU's element formulas and summation order
// (backend/shared/hc_math.h).  The model's 4 streams run the split on one warp, a row of the
// combine matrix per lane; other stream counts on one thread (the shared code as it is).
//
// Fused decode path (hc_pre_norm, up to kHcFusedTokens tokens of 4 streams): one launch.
// Up to kHcFusedBlocks blocks per token each take a slice of the 4 * embd columns; their 8
// column warps compute the slice's dot products with the 24 mix rows (all 25 loads of a
// column in flight) and its sum of squares, reduce the 24 sums with a transposing butterfly
// (31 shuffles instead of 120) and write one partial per block.  The last block of the token
// to finish (a counter, reset by that block) then, with every load issued up front:
// adds the partials (each a fixed butterfly over the block index), and while its extra warp
// runs the Sinkhorn split (post, comb), its 8 column warps form the pre weights themselves,
// the weighted stream sum (the token's streams held in registers) and the sublayer's RMS
// norm (one named barrier).  No float atomics: the result does not depend on timing.
#include <algorithm>

#include "backend/cuda/check.h"
#include "backend/cuda/device.cuh"
#include "backend/cuda/launch.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/reduce.cuh"
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
    pdl_enter();  // waits for the previous kernel (launch.cuh)
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
    pdl_enter();  // waits for the previous kernel (launch.cuh)
    for (uint64_t i = blockIdx.x * uint64_t{blockDim.x} + threadIdx.x; i < total; i += uint64_t{gridDim.x} * blockDim.x) {
        const uint64_t hc_dim = uint64_t{n_hc} * embd;
        const uint64_t t = i / hc_dim, rem = i % hc_dim;
        const uint32_t a = static_cast<uint32_t>(rem / embd), d = static_cast<uint32_t>(rem % embd);
        out_hc[i] = shared::hc_post_elem(y[t * embd + d], post + t * n_hc, comb + t * n_hc * n_hc,
                                         res_hc + t * hc_dim + d, embd, n_hc, a);
    }
}

// The model's 4 streams, batches: a thread per 4 consecutive elements of a token, all 4
// output streams from one read of y and of the 4 residual streams (16-byte loads and
// stores; the generic kernel above reads each residual value once per output stream).
// Each output is hc_post_elem's, on the values held in registers: identical results.
__global__ void __launch_bounds__(256) hc_post4_kernel(float *out_hc, const float *y, const float *res_hc,
                                                       const float *post, const float *comb, uint64_t quads,
                                                       uint32_t embd) {
    pdl_enter();  // waits for the previous kernel (launch.cuh)
    constexpr uint32_t kN = 4;
    const uint64_t i = uint64_t{blockIdx.x} * blockDim.x + threadIdx.x;
    if (i >= quads) return;
    const uint32_t per_token = embd / 4;
    const uint64_t t = i / per_token;
    const uint32_t d = static_cast<uint32_t>(i % per_token) * 4;
    const uint64_t hc_dim = uint64_t{kN} * embd;
    const float4 yv = *reinterpret_cast<const float4 *>(y + t * embd + d);
    float4 rv[kN];
#pragma unroll
    for (uint32_t st = 0; st < kN; st++) rv[st] = *reinterpret_cast<const float4 *>(res_hc + t * hc_dim + st * embd + d);
    const float *pt = post + t * kN, *ct = comb + t * kN * kN;
    const float ys[4] = {yv.x, yv.y, yv.z, yv.w};
#pragma unroll
    for (uint32_t a = 0; a < kN; a++) {
        float o[4];
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const float r[kN] = {(&rv[0].x)[j], (&rv[1].x)[j], (&rv[2].x)[j], (&rv[3].x)[j]};
            o[j] = shared::hc_post_elem(ys[j], pt, ct, r, 1, kN, a);
        }
        *reinterpret_cast<float4 *>(out_hc + t * hc_dim + a * embd + d) = make_float4(o[0], o[1], o[2], o[3]);
    }
}

// One thread per (element, token), 256 elements per block: a token's row is spread over
// embd / 256 blocks (not looped over by one).  With kN streams known (the model's 4) the
// stream loads are issued before the weights are formed; kN = 0 takes any count.  The sum is
// hc_weighted_elem's: from 0, streams in order.
template <uint32_t kN>
__global__ void __launch_bounds__(256) hc_head_sum_kernel(const float *mix, const float *scale, const float *base,
                                                          const float *x_hc, uint32_t n_hc, uint32_t embd, float eps,
                                                          float *out) {
    pdl_enter();  // waits for the previous kernel (launch.cuh)
    __shared__ float w[kMaxHc];
    const uint64_t t = blockIdx.y;
    const uint32_t d = blockIdx.x * blockDim.x + threadIdx.x;
    const float *x = x_hc + t * n_hc * embd;
    float xv[kN > 0 ? kN : 1] = {};
    if constexpr (kN > 0) {
        if (d < embd) {
#pragma unroll
            for (uint32_t h = 0; h < kN; h++) xv[h] = x[uint64_t{h} * embd + d];
        }
    }
    if (threadIdx.x < n_hc)
        w[threadIdx.x] = shared::hc_head_weight(mix[t * n_hc + threadIdx.x], scale[0], base[threadIdx.x], eps);
    __syncthreads();
    if (d >= embd) return;
    if constexpr (kN > 0) {
        float acc = 0.0f;
#pragma unroll
        for (uint32_t h = 0; h < kN; h++) acc += xv[h] * w[h];
        out[t * embd + d] = acc;
    } else {
        out[t * embd + d] = shared::hc_weighted_elem(x + d, embd, w, n_hc);
    }
}

// ---- fused HC pre + norm (decode) ----

constexpr int kFusedStreams = 4;
constexpr int kFusedMix = 2 * kFusedStreams + kFusedStreams * kFusedStreams;  // 24
constexpr int kColWarps = 8;                                                   // column / stream-sum warps
constexpr int kColThreads = 32 * kColWarps;
constexpr int kSplitWarp = kColWarps;                                          // the Sinkhorn warp
constexpr int kFusedThreads = kColThreads + 32;
constexpr uint32_t kSumQuads = 4;  // float4 per stream per thread in the stream sum: embd <= 4096
constexpr uint32_t kFusedMaxEmbd = 4 * kColThreads * kSumQuads;
constexpr int kPartialStride = 32;  // floats per block: kFusedMix dot sums, then a double
constexpr int kSumBarrier = 1;      // named barrier of the column warps (the split warp is elsewhere)
static_assert(kFusedMix + 2 <= kPartialStride, "partial slot too small");
static_assert(kHcFusedPartials == kHcFusedBlocks * kPartialStride, "partial layout");
static_assert(kHcFusedBlocks <= 64, "the last block adds at most two partials per lane");

template <WType kType>
__device__ __forceinline__ float mix_weight(const uint8_t *row, uint64_t c) {
    const unsigned short *h = reinterpret_cast<const unsigned short *>(row);
    if constexpr (kType == WType::F16) return half_bits_to_float(__ldg(h + c));
    else if constexpr (kType == WType::BF16) return bf16_bits_to_float(__ldg(h + c));
    else return __ldg(reinterpret_cast<const float *>(row) + c);
}

// Butterfly step of a transposing warp sum: lanes with bit W clear keep slots [0, W) of v,
// the others slots [W, 2W), each adding its partner's copy of the slots it keeps.
template <int W>
__device__ __forceinline__ void transpose_step(float (&v)[32], int lane) {
    const bool upper = (lane & W) != 0;
#pragma unroll
    for (int i = 0; i < W; i++) {
        const float send = upper ? v[i] : v[i + W];
        const float keep = upper ? v[i + W] : v[i];
        v[i] = keep + __shfl_xor_sync(kFullMask, send, W);
    }
}
// After it, v[0] of lane l is the warp's sum of slot l (a fixed tree over the lanes).
__device__ __forceinline__ void transpose_sum(float (&v)[32], int lane) {
    transpose_step<16>(v, lane);
    transpose_step<8>(v, lane);
    transpose_step<4>(v, lane);
    transpose_step<2>(v, lane);
    transpose_step<1>(v, lane);
}

// hc_weighted_elem for 4 streams on registers: from 0, streams in order.
__device__ __forceinline__ float weighted4(float x0, float x1, float x2, float x3, const float (&w)[kFusedStreams]) {
    float acc = 0.0f;
    acc += x0 * w[0];
    acc += x1 * w[1];
    acc += x2 * w[2];
    acc += x3 * w[3];
    return acc;
}

template <WType kType>
__global__ void __launch_bounds__(kFusedThreads, 1) hc_pre_norm_kernel(DevWeight fn, const float *scale,
                                                                       const float *base, const float *norm,
                                                                       const float *x_hc, uint32_t embd,
                                                                       uint32_t iters, float rms_eps, float hc_eps,
                                                                       float *out, float *norm_out, float *post,
                                                                       float *comb, float *partial,
                                                                       uint32_t *counters, int8_t *q8, float *d8) {
    pdl_enter();  // waits for the previous kernel (launch.cuh)
    __shared__ float s_warp[kColWarps][32];
    __shared__ double s_warp_ss[kColWarps];
    __shared__ double s_dscratch[32];
    __shared__ float s_mix[kFusedMix], s_mix_scaled[kFusedMix], s_scale[3], s_base[kFusedMix];
    __shared__ float s_pre[kFusedStreams], s_post[kFusedStreams], s_comb[kFusedStreams * kFusedStreams];
    __shared__ double s_ss;
    __shared__ bool s_last;
    const uint32_t t = blockIdx.y, g = blockIdx.x, G = gridDim.x;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const uint64_t hc_dim = uint64_t{kFusedStreams} * embd;
    const float *x = x_hc + t * hc_dim;

    // 1. This block's column slice (column warps): dot products with the mix rows, sum of
    // squares; one partial per block.
    if (warp < kColWarps) {
        const uint64_t per = (hc_dim + G - 1) / G, c0 = g * per, c1 = min(hc_dim, c0 + per);
        float acc[32];
#pragma unroll
        for (int r = 0; r < 32; r++) acc[r] = 0.0f;  // slots past kFusedMix stay 0
        double ss = 0.0;
        for (uint64_t c = c0 + tid; c < c1; c += kColThreads) {
            const float xv = x[c];
            ss += static_cast<double>(xv) * xv;
#pragma unroll
            for (int r = 0; r < kFusedMix; r++)
                acc[r] = fmaf(mix_weight<kType>(fn.main + static_cast<uint64_t>(r) * fn.main_row, c), xv, acc[r]);
        }
        transpose_sum(acc, lane);
        ss = warp_sum(ss);
        s_warp[warp][lane] = acc[0];
        if (lane == 0) s_warp_ss[warp] = ss;
    }
    __syncthreads();
    float *slot = partial + (uint64_t{t} * kHcFusedBlocks + g) * kPartialStride;
    if (tid < kFusedMix) {
        float v = 0.0f;
#pragma unroll
        for (int w = 0; w < kColWarps; w++) v += s_warp[w][tid];
        slot[tid] = v;
    } else if (tid == kFusedMix) {
        double v = 0.0;
#pragma unroll
        for (int w = 0; w < kColWarps; w++) v += s_warp_ss[w];
        *reinterpret_cast<double *>(slot + kFusedMix) = v;
    }
    __threadfence();
    __syncthreads();
    if (tid == 0) s_last = atomicAdd(counters + t, 1u) == G - 1;
    __syncthreads();
    if (!s_last) return;

    // 2. Last block of the token.  Every load first: the token's streams and the norm weight
    // (column warps), the split's constants (split warp), the partials (read past L1: other
    // blocks wrote them).
    __threadfence();
    const uint32_t nq = embd / 4;  // float4 per stream
    const float4 zero = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    float4 xs[kSumQuads][kFusedStreams], nv[kSumQuads];
    if (warp < kColWarps) {
        const float4 *x4 = reinterpret_cast<const float4 *>(x);
        const float4 *n4 = reinterpret_cast<const float4 *>(norm);
#pragma unroll
        for (uint32_t j = 0; j < kSumQuads; j++) {
            const uint32_t q = tid + j * kColThreads;
#pragma unroll
            for (int a = 0; a < kFusedStreams; a++)
                xs[j][a] = q < nq ? __ldg(x4 + static_cast<uint64_t>(a) * nq + q) : zero;
            nv[j] = q < nq ? __ldg(n4 + q) : zero;
        }
    } else {
        if (lane < kFusedMix) s_base[lane] = __ldg(base + lane);
        if (lane < 3) s_scale[lane] = __ldg(scale + lane);
    }
    const float *tok_part = partial + uint64_t{t} * kHcFusedBlocks * kPartialStride;
    if (warp < kColWarps) {
        // Mix sums warp, warp + 8, warp + 16: partial `lane` plus partial `lane + 32`, then a
        // butterfly (the same tree whichever block came last).
        const float *lo = tok_part + static_cast<uint64_t>(lane) * kPartialStride;
        const float *hi = lo + 32 * kPartialStride;
        const bool has_lo = static_cast<uint32_t>(lane) < G, has_hi = static_cast<uint32_t>(lane) + 32 < G;
        float p0[3], p1[3];
#pragma unroll
        for (int i = 0; i < 3; i++) {
            const int r = warp + kColWarps * i;
            p0[i] = has_lo ? __ldcg(lo + r) : 0.0f;
            p1[i] = has_hi ? __ldcg(hi + r) : 0.0f;
        }
#pragma unroll
        for (int i = 0; i < 3; i++) {
            const float v = warp_sum(p0[i] + p1[i]);
            if (lane == 0) s_mix[warp + kColWarps * i] = v;
        }
    } else {
        const float *lo = tok_part + static_cast<uint64_t>(lane) * kPartialStride + kFusedMix;
        const double *d0 = reinterpret_cast<const double *>(lo);
        const double *d1 = reinterpret_cast<const double *>(lo + 32 * kPartialStride);
        const double a = static_cast<uint32_t>(lane) < G ? __ldcg(d0) : 0.0;
        const double b = static_cast<uint32_t>(lane) + 32 < G ? __ldcg(d1) : 0.0;
        const double v = warp_sum(a + b);
        if (lane == 0) s_ss = v;
    }
    __syncthreads();
    // The RMS scale of the flattened streams applied to the 24 sums (the CPU scales each
    // input first: the same value up to rounding).
    const float rscale = 1.0f / sqrtf(static_cast<float>(s_ss / static_cast<double>(hc_dim)) + rms_eps);
    if (warp == kSplitWarp) {
        // 3a. The split: post and comb (pre too, unused: the column warps form their own).
        if (lane < kFusedMix) s_mix_scaled[lane] = s_mix[lane] * rscale;
        __syncwarp();
        split_sinkhorn_warp<kFusedStreams>(s_mix_scaled, s_scale, s_base, iters, hc_eps, s_pre, s_post, s_comb);
        __syncwarp();
        if (lane < kFusedStreams) post[uint64_t{t} * kFusedStreams + lane] = s_post[lane];
        if (lane < kFusedStreams * kFusedStreams)
            comb[uint64_t{t} * kFusedStreams * kFusedStreams + lane] = s_comb[lane];
        if (lane == 0) counters[t] = 0;  // ready for the next launch (every block has counted)
        return;
    }
    // 3b. Column warps: the pre weights (the split's own formula on the same scaled sums),
    // the sublayer input out = sum_a pre_a X_a and its RMS norm.
    float pre[kFusedStreams];
#pragma unroll
    for (int a = 0; a < kFusedStreams; a++)
        pre[a] = shared::hc_pre_weight(s_mix[a] * rscale, s_scale[0], s_base[a], hc_eps);
    float4 o[kSumQuads];
    double ss2 = 0.0;
    float4 *out4 = reinterpret_cast<float4 *>(out + uint64_t{t} * embd);
#pragma unroll
    for (uint32_t j = 0; j < kSumQuads; j++) {
        const uint32_t q = tid + j * kColThreads;
        o[j].x = weighted4(xs[j][0].x, xs[j][1].x, xs[j][2].x, xs[j][3].x, pre);
        o[j].y = weighted4(xs[j][0].y, xs[j][1].y, xs[j][2].y, xs[j][3].y, pre);
        o[j].z = weighted4(xs[j][0].z, xs[j][1].z, xs[j][2].z, xs[j][3].z, pre);
        o[j].w = weighted4(xs[j][0].w, xs[j][1].w, xs[j][2].w, xs[j][3].w, pre);
        if (q < nq) {
            out4[q] = o[j];
            ss2 += static_cast<double>(o[j].x) * o[j].x;
            ss2 += static_cast<double>(o[j].y) * o[j].y;
            ss2 += static_cast<double>(o[j].z) * o[j].z;
            ss2 += static_cast<double>(o[j].w) * o[j].w;
        }
    }
    ss2 = block_sum_fast(ss2, s_dscratch, kColWarps, kSumBarrier);
    const float nscale = 1.0f / sqrtf(static_cast<float>(ss2 / static_cast<double>(embd)) + rms_eps);
    float4 *nout4 = reinterpret_cast<float4 *>(norm_out + uint64_t{t} * embd);
#pragma unroll
    for (uint32_t j = 0; j < kSumQuads; j++) {
        const uint32_t q = tid + j * kColThreads;
        const float4 r = make_float4(o[j].x * nscale * nv[j].x, o[j].y * nscale * nv[j].y, o[j].z * nscale * nv[j].z,
                                     o[j].w * nscale * nv[j].w);
        if (q < nq) nout4[q] = r;
        // The Q8_0 codes of the norm for the products that read it: float4 q is on thread
        // q % kColThreads, so a 32-value block is on 8 aligned lanes (device.cuh).
        if (q8) store_q8_0_quad(r, q < nq, q, q8 + uint64_t{t} * embd, d8 + uint64_t{t} * (embd / 32));
    }
}

bool aligned16(const void *p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

}  // namespace

void launch_hc_split_sum(const float *mix, const float *scale, const float *base, const float *x_hc, uint32_t n,
                         uint32_t n_hc, uint32_t embd, uint32_t iters, float hc_eps, float *out, float *post,
                         float *comb, cudaStream_t stream) {
    if (n == 0) return;
    launch_pdl("hc_split_sum_kernel", hc_split_sum_kernel, dim3(n), dim3(256), 0, stream, mix, scale, base, x_hc, n_hc, embd, iters, hc_eps, out, post, comb);
    check_launch("hc_split_sum", stream);
}

void launch_hc_post(float *out_hc, const float *y, const float *res_hc, const float *post, const float *comb,
                    uint32_t n, uint32_t n_hc, uint32_t embd, cudaStream_t stream) {
    const uint64_t total = uint64_t{n} * n_hc * embd;
    if (total == 0) return;
    if (n_hc == 4 && embd % 4 == 0 && aligned16(out_hc) && aligned16(y) && aligned16(res_hc)) {
        const uint64_t quads = uint64_t{n} * (embd / 4);
        launch_pdl("hc_post4_kernel", hc_post4_kernel, dim3(grid_for(quads, 256)), dim3(256), 0, stream, out_hc, y,
                   res_hc, post, comb, quads, embd);
        check_launch("hc_post", stream);
        return;
    }
    const unsigned grid = grid_for(total, 256) < 8192 ? grid_for(total, 256) : 8192;
    launch_pdl("hc_post_kernel", hc_post_kernel, dim3(grid), dim3(256), 0, stream, out_hc, y, res_hc, post, comb, total, n_hc, embd);
    check_launch("hc_post", stream);
}

void launch_hc_head_sum(const float *mix, const float *scale, const float *base, const float *x_hc, uint32_t n,
                        uint32_t n_hc, uint32_t embd, float hc_eps, float *out, cudaStream_t stream) {
    if (n == 0 || embd == 0) return;
    const dim3 grid(grid_for(embd, 256), n);
    if (n_hc == 4) launch_pdl("hc_head_sum_kernel", hc_head_sum_kernel<4>, dim3(grid), dim3(256), 0, stream, mix, scale, base, x_hc, n_hc, embd, hc_eps, out);
    else launch_pdl("hc_head_sum_kernel", hc_head_sum_kernel<0>, dim3(grid), dim3(256), 0, stream, mix, scale, base, x_hc, n_hc, embd, hc_eps, out);
    check_launch("hc_head_sum", stream);
}

bool hc_pre_fused_supported(const DevWeight &fn, uint32_t n, uint32_t n_hc, uint32_t embd, const float *x_hc,
                            const float *norm, const float *out, const float *norm_out) {
    const bool float_type = fn.type == WType::F16 || fn.type == WType::BF16 || fn.type == WType::F32;
    // The stream sum reads float4s of every stream and the norm weight and writes float4s.
    const bool aligned = aligned16(x_hc) && aligned16(norm) && aligned16(out) && aligned16(norm_out);
    return n >= 1 && n <= kHcFusedTokens && n_hc == static_cast<uint32_t>(kFusedStreams) && float_type &&
           fn.rows == static_cast<uint64_t>(kFusedMix) && fn.k == uint64_t{n_hc} * embd && embd % 4 == 0 &&
           embd >= 4 && embd <= kFusedMaxEmbd && aligned;
}

void launch_hc_pre_norm_fused(const DevWeight &fn, const float *scale, const float *base, const float *norm,
                              const float *x_hc, uint32_t n, uint32_t n_hc, uint32_t embd, uint32_t iters,
                              float rms_eps, float hc_eps, float *out, float *norm_out, float *post, float *comb,
                              float *partial, uint32_t *counters, cudaStream_t stream, int8_t *q8, float *d8) {
    if (!hc_pre_fused_supported(fn, n, n_hc, embd, x_hc, norm, out, norm_out)) fail("fused HC pre: unsupported shape");
    if (q8 && embd % 32 != 0) fail("fused HC pre: Q8_0 codes of rows of %u values", embd);
    // A block per 256 columns (the model's 16384: kHcFusedBlocks), fewer for short rows.
    const uint32_t hc_dim = n_hc * embd;
    const uint32_t blocks = std::min<uint32_t>(kHcFusedBlocks, (hc_dim + kColThreads - 1) / kColThreads);
    const dim3 grid(blocks, n);
    switch (fn.type) {
    case WType::F16:
        launch_pdl("hc_pre_norm_kernel", hc_pre_norm_kernel<WType::F16>, dim3(grid), dim3(kFusedThreads), 0, stream, fn, scale, base, norm, x_hc, embd, iters, rms_eps, hc_eps, out, norm_out, post, comb, partial, counters, q8, d8);
        break;
    case WType::BF16:
        launch_pdl("hc_pre_norm_kernel", hc_pre_norm_kernel<WType::BF16>, dim3(grid), dim3(kFusedThreads), 0, stream, fn, scale, base, norm, x_hc, embd, iters, rms_eps, hc_eps, out, norm_out, post, comb, partial, counters, q8, d8);
        break;
    default:
        launch_pdl("hc_pre_norm_kernel", hc_pre_norm_kernel<WType::F32>, dim3(grid), dim3(kFusedThreads), 0, stream, fn, scale, base, norm, x_hc, embd, iters, rms_eps, hc_eps, out, norm_out, post, comb, partial, counters, q8, d8);
        break;
    }
    check_launch("hc_pre_norm", stream);
}

}  // namespace dstar::backend::cuda
