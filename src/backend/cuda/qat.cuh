// The model's QAT simulations on the device (backend/cpu/qat.cpp): FP8 E4M3 and FP4 E2M1
// round trips with power-of-two block scales, and the 128-point Hadamard transform.  Each
// value goes through the same float operations as on the CPU (code search, tie rule, scale
// by ldexp of the ceiling log2), so the results are the CPU's bit for bit.
#pragma once

#include "backend/cuda/device.cuh"

namespace dstar::backend::cuda {

// Value of E4M3FN code i (0..126: the finite non-negative codes).
__device__ __forceinline__ float e4m3_value(int i) {
    const int exp = (i >> 3) & 15, mant = i & 7;
    return exp == 0 ? static_cast<float>(mant) * 0.001953125f
                    : (1.0f + static_cast<float>(mant) * 0.125f) * ldexpf(1.0f, exp - 7);
}

// Nearest E4M3FN value (|v| clamped to 448), ties to the even code.
__device__ __forceinline__ float e4m3_round(float v) {
    const float sign = v < 0.0f ? -1.0f : 1.0f;
    const float ax = fminf(fabsf(v), 448.0f);
    int lo = 0, hi = 126;
    while (lo < hi) {
        const int mid = (lo + hi + 1) >> 1;
        if (e4m3_value(mid) <= ax) lo = mid;
        else hi = mid - 1;
    }
    int best = lo;
    if (best < 126) {
        const float d0 = fabsf(ax - e4m3_value(best));
        const float d1 = fabsf(ax - e4m3_value(best + 1));
        if (d1 < d0 || (d1 == d0 && ((best + 1) & 1) == 0 && (best & 1) != 0)) best++;
    }
    return sign * e4m3_value(best);
}

// Nearest E2M1 value (|v| clamped to 6), ties to the even code.
__device__ __forceinline__ float e2m1_round(float v) {
    const float vals[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
    const float sign = v < 0.0f ? -1.0f : 1.0f;
    const float ax = fminf(fabsf(v), 6.0f);
    int best = 0;
    float best_diff = fabsf(ax - vals[0]);
#pragma unroll
    for (int i = 1; i < 8; i++) {
        const float d = fabsf(ax - vals[i]);
        if (d < best_diff || (d == best_diff && (i & 1) == 0 && (best & 1) != 0)) {
            best = i;
            best_diff = d;
        }
    }
    float r = vals[0];
#pragma unroll
    for (int i = 1; i < 8; i++)
        if (best == i) r = vals[i];
    return sign * r;
}

// FP8 round trip of value v of a 64-block whose largest magnitude is amax.
__device__ __forceinline__ float fp8_block_value(float v, float amax) {
    if (amax < 1.0e-4f) amax = 1.0e-4f;
    const float scale = ldexpf(1.0f, ceil_log2f(amax / 448.0f));
    float q = v / scale;
    q = fminf(fmaxf(q, -448.0f), 448.0f);
    return e4m3_round(q) * scale;
}

// FP4 round trip of value v of a 32-block whose largest magnitude is amax.
__device__ __forceinline__ float fp4_block_value(float v, float amax) {
    if (amax < 7.052966104933725e-38f) amax = 7.052966104933725e-38f;
    const float scale = ldexpf(1.0f, ceil_log2f(amax / 6.0f));
    float q = v / scale;
    q = fminf(fmaxf(q, -6.0f), 6.0f);
    return e2m1_round(q) * scale;
}

// Block-cooperative versions on a row in shared memory (blockDim.x >= 128, a multiple of
// 32; every thread of the block must call them).
// FP8 on the first n_nope values (64-blocks): warp w takes blocks w, w + warps, ...
__device__ __forceinline__ void block_fp8_row(float *row, uint32_t n_nope) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    __syncthreads();
    for (uint32_t b = warp; b < n_nope / 64; b += warps) {
        float *p = row + b * 64;
        const float v0 = p[lane], v1 = p[lane + 32];
        const float amax = warp_max(fmaxf(fabsf(v0), fabsf(v1)));
        p[lane] = fp8_block_value(v0, amax);
        p[lane + 32] = fp8_block_value(v1, amax);
    }
    __syncthreads();
}

// Hadamard-128 (Sylvester order, butterflies of stride 1, 2, ..., 64, then 1/sqrt(128))
// followed by FP4 per 32 values.
__device__ __forceinline__ void block_indexer_qat_row(float *row) {
    const int tid = threadIdx.x;
    for (int stride = 1; stride < 128; stride <<= 1) {
        __syncthreads();
        if (tid < 64) {
            const int base = (tid / stride) * 2 * stride, off = tid % stride;
            const float a = row[base + off], b = row[base + off + stride];
            row[base + off] = a + b;
            row[base + off + stride] = a - b;
        }
    }
    __syncthreads();
    if (tid < 128) row[tid] *= 0.08838834764831845f;
    __syncthreads();
    if (tid < 128) {
        const float v = row[tid];
        const float amax = warp_max(fabsf(v));  // warps 0..3 are the four 32-blocks
        row[tid] = fp4_block_value(v, amax);
    }
    __syncthreads();
}

}  // namespace dstar::backend::cuda
