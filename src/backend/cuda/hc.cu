// Hyper-connection mixers (model.md §3.2, §3.7).  The RMS norm of the flattened streams
// and the mix matmul run through the generic ops (backend); these kernels do the rest:
// the Sinkhorn split (the CPU's exact sequence of operations on the 4 x 4 matrix: one warp,
// a row per lane, for the model's 4 streams; one thread otherwise) and the weighted stream
// sums / HC post in the CPU's summation order.
#include "backend/cuda/check.h"
#include "backend/cuda/device.cuh"
#include "backend/cuda/kernels.h"

namespace dstar::backend::cuda {

namespace {

constexpr uint32_t kMaxHc = 16;

// backend/cpu/hc.cpp hc_split_sinkhorn, statement for statement.
__device__ void split_sinkhorn(const float *mix, const float *scale, const float *base, uint32_t n, uint32_t iters,
                               float eps, float *pre, float *post, float *c) {
    for (uint32_t i = 0; i < n; i++) pre[i] = 1.0f / (1.0f + expf(-(mix[i] * scale[0] + base[i]))) + eps;
    for (uint32_t i = 0; i < n; i++) {
        const uint32_t o = n + i;
        post[i] = 2.0f / (1.0f + expf(-(mix[o] * scale[1] + base[o])));
    }
    for (uint32_t b = 0; b < n; b++) {
        float row_max = -INFINITY;
        for (uint32_t a = 0; a < n; a++) {
            const uint32_t o = 2 * n + b * n + a;
            c[b * n + a] = mix[o] * scale[2] + base[o];
            if (c[b * n + a] > row_max) row_max = c[b * n + a];
        }
        float sum = 0.0f;
        for (uint32_t a = 0; a < n; a++) {
            c[b * n + a] = expf(c[b * n + a] - row_max);
            sum += c[b * n + a];
        }
        const float inv = 1.0f / sum;
        for (uint32_t a = 0; a < n; a++) c[b * n + a] = c[b * n + a] * inv + eps;
    }
    auto normalise_columns = [&] {
        for (uint32_t a = 0; a < n; a++) {
            float sum = 0.0f;
            for (uint32_t b = 0; b < n; b++) sum += c[b * n + a];
            const float inv = 1.0f / (sum + eps);
            for (uint32_t b = 0; b < n; b++) c[b * n + a] *= inv;
        }
    };
    normalise_columns();
    for (uint32_t it = 1; it < iters; it++) {
        for (uint32_t b = 0; b < n; b++) {
            float sum = 0.0f;
            for (uint32_t a = 0; a < n; a++) sum += c[b * n + a];
            const float inv = 1.0f / (sum + eps);
            for (uint32_t a = 0; a < n; a++) c[b * n + a] *= inv;
        }
        normalise_columns();
    }
}

// The same for 4 streams (the model's), by one warp: lane b keeps row b of the combine
// matrix in registers, and every column sum is gathered with shuffles in row order, so each
// value goes through exactly the operations of split_sinkhorn in the same order, but the
// 20 iterations no longer run on one thread through shared memory (latency-bound).  All 32
// lanes must call it; lanes >= N shadow row 0 and write nothing.
template <int N>
__device__ void split_sinkhorn_warp(const float *mix, const float *scale, const float *base, uint32_t iters,
                                    float eps, float *pre, float *post, float *comb) {
    const int lane = threadIdx.x & 31;
    const int b = lane < N ? lane : 0;
    if (lane < N) {
        pre[lane] = 1.0f / (1.0f + expf(-(mix[lane] * scale[0] + base[lane]))) + eps;
        const int o = N + lane;
        post[lane] = 2.0f / (1.0f + expf(-(mix[o] * scale[1] + base[o])));
    }
    float c[N];
    float row_max = -INFINITY;
#pragma unroll
    for (int a = 0; a < N; a++) {
        const int o = 2 * N + b * N + a;
        c[a] = mix[o] * scale[2] + base[o];
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
        split_sinkhorn(mix + t * n_mix, scale, base, n_hc, iters, eps, s_pre, s_post, s_comb);
    }
    __syncthreads();
    if (threadIdx.x < n_hc) post[t * n_hc + threadIdx.x] = s_post[threadIdx.x];
    for (uint32_t i = threadIdx.x; i < n_hc * n_hc; i += blockDim.x) comb[t * n_hc * n_hc + i] = s_comb[i];
    const float *x = x_hc + t * n_hc * embd;
    for (uint32_t d = threadIdx.x; d < embd; d += blockDim.x) {
        float acc = 0.0f;
        for (uint32_t h = 0; h < n_hc; h++) acc += x[uint64_t{h} * embd + d] * s_pre[h];
        out[t * embd + d] = acc;
    }
}

__global__ void hc_post_kernel(float *out_hc, const float *y, const float *res_hc, const float *post,
                               const float *comb, uint64_t total, uint32_t n_hc, uint32_t embd) {
    for (uint64_t i = blockIdx.x * uint64_t{blockDim.x} + threadIdx.x; i < total; i += uint64_t{gridDim.x} * blockDim.x) {
        const uint64_t hc_dim = uint64_t{n_hc} * embd;
        const uint64_t t = i / hc_dim, rem = i % hc_dim;
        const uint32_t a = static_cast<uint32_t>(rem / embd), d = static_cast<uint32_t>(rem % embd);
        const float *ct = comb + t * n_hc * n_hc;
        const float *res = res_hc + t * hc_dim;
        float acc = y[t * embd + d] * post[t * n_hc + a];
        for (uint32_t s = 0; s < n_hc; s++) acc += ct[s * n_hc + a] * res[uint64_t{s} * embd + d];
        out_hc[i] = acc;
    }
}

__global__ void __launch_bounds__(256) hc_head_sum_kernel(const float *mix, const float *scale, const float *base,
                                                          const float *x_hc, uint32_t n_hc, uint32_t embd, float eps,
                                                          float *out) {
    __shared__ float w[kMaxHc];
    const uint64_t t = blockIdx.x;
    if (threadIdx.x < n_hc) w[threadIdx.x] = sigmoid_stable(mix[t * n_hc + threadIdx.x] * scale[0] + base[threadIdx.x]) + eps;
    __syncthreads();
    const float *x = x_hc + t * n_hc * embd;
    for (uint32_t d = threadIdx.x; d < embd; d += blockDim.x) {
        float acc = 0.0f;
        for (uint32_t h = 0; h < n_hc; h++) acc += x[uint64_t{h} * embd + d] * w[h];
        out[t * embd + d] = acc;
    }
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

}  // namespace dstar::backend::cuda
