// The model's QAT simulations on the device (backend/cpu/qat.cpp): FP8 E4M3 and FP4 E2M1
// round trips with power-of-two block scales, and the 128-point Hadamard transform.  The
// per-value arithmetic is the CPU's own (backend/shared/qat_math.h), so the results are the
// CPU's bit for bit; here the block maxima and the transform are spread over threads.
#pragma once

#include "backend/cuda/device.cuh"
#include "backend/shared/qat_math.h"

namespace dstar::backend::cuda {

// FP8 / FP4 round trip of value v of a block whose largest magnitude is amax.
__device__ __forceinline__ float fp8_block_value(float v, float amax) {
    return shared::fp8_round_value(v, shared::fp8_block_scale(amax));
}
__device__ __forceinline__ float fp4_block_value(float v, float amax) {
    return shared::fp4_round_value(v, shared::fp4_block_scale(amax));
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
    if (tid < 128) row[tid] *= shared::kHadamard128Scale;
    __syncthreads();
    if (tid < 128) {
        const float v = row[tid];
        const float amax = warp_max(fabsf(v));  // warps 0..3 are the four 32-blocks
        row[tid] = fp4_block_value(v, amax);
    }
    __syncthreads();
}

}  // namespace dstar::backend::cuda
