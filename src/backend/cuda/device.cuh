// Device-side helpers shared by the CUDA kernels: warp reductions, half conversions, f16
// rounding and activation codes with the CPU reference's exact recipe.  The scalar math the
// CPU reference shares with the kernels (activations, QAT, HC) is in backend/shared/.  Kernels are compiled with --fmad=false, so `a * b + c` rounds twice here
// exactly as in the CPU code (built with -ffp-contract=off).
#pragma once

#include <cstdint>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "backend/cuda/kernels.h"

namespace dstar::backend::cuda {

constexpr unsigned kFullMask = 0xffffffffu;

// Butterfly reductions: every lane ends with the same value, combined in a fixed order
// (so results do not depend on timing).
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFullMask, v, o);
    return v;
}
__device__ __forceinline__ double warp_sum(double v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFullMask, v, o);
    return v;
}
__device__ __forceinline__ int warp_sum(int v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFullMask, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(kFullMask, v, o));
    return v;
}
// Sum over aligned groups of `width` lanes (width a power of two <= 32).
// Butterfly arg-max over a warp: afterwards every lane holds the largest value and, among
// equal values, the lowest index (the CPU's first-wins scans).  `at` < 0 marks a lane with
// no candidate.
__device__ __forceinline__ void warp_argmax_lowest(float &best, int32_t &at) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float ob = __shfl_xor_sync(kFullMask, best, o);
        const int32_t oa = __shfl_xor_sync(kFullMask, at, o);
        if (oa >= 0 && (at < 0 || ob > best || (ob == best && oa < at))) {
            best = ob;
            at = oa;
        }
    }
}

template <int width>
__device__ __forceinline__ int group_sum(int v) {
#pragma unroll
    for (int o = width / 2; o > 0; o >>= 1) v += __shfl_xor_sync(kFullMask, v, o);
    return v;
}

// Sum of a double over the whole block (blockDim.x a multiple of 32, <= 1024); `scratch`
// holds 32 doubles.  Every thread gets the result.
__device__ __forceinline__ double block_sum(double v, double *scratch) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads();  // scratch may still be read by a previous call
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    double s = 0.0;
    for (int w = 0; w < warps; w++) s += scratch[w];
    return s;
}

__device__ __forceinline__ float half_bits_to_float(uint16_t h) { return __half2float(__ushort_as_half(h)); }
__device__ __forceinline__ float bf16_bits_to_float(uint16_t h) { return __uint_as_float(uint32_t{h} << 16); }
// The value an f16 store of x gives back (round to nearest even; the CPU's f16_round).
__device__ __forceinline__ float f16_round(float x) { return __half2float(__float2half_rn(x)); }

// The position a kernel works at (kernels.h, DevPos).
__device__ __forceinline__ uint32_t load_pos(const DevPos &p) { return p.dev ? *p.dev : p.value; }

// The CPU's activation code: lrint (half to even), non-finite -> 0, clamped to int8.
__device__ __forceinline__ int8_t quant_code(float v) {
    if (!isfinite(v)) return 0;
    int q = __float2int_rn(v);
    q = q > 127 ? 127 : q;
    q = q < -128 ? -128 : q;
    return static_cast<int8_t>(q);
}

// Q8_0 codes of the float4 number `quad` of a row, held by this lane, where each aligned
// group of 8 lanes holds the 8 float4 of one 32-value block (a producer's epilogue: norms
// that write float4 i on thread i % blockDim).  quantize_q8_0_kernel's formulas (act_quant.cu):
// the max is order-free (fmaxf drops NaN whatever the order), so codes and scales equal the
// CPU's.  All 32 lanes must call it; `valid` must be the same across each group of 8 (whole
// blocks), q gets the row's codes and d its scales.
__device__ __forceinline__ void store_q8_0_quad(const float4 &v, bool valid, uint64_t quad, int8_t *q, float *d) {
    float amax = fmaxf(fmaxf(fabsf(v.x), fabsf(v.y)), fmaxf(fabsf(v.z), fabsf(v.w)));
#pragma unroll
    for (int o = 1; o < 8; o <<= 1) amax = fmaxf(amax, __shfl_xor_sync(kFullMask, amax, o));
    const float dd = amax / 127.0f;
    const float id = dd != 0.0f ? 1.0f / dd : 0.0f;
    if (!valid) return;
    char4 c;
    c.x = quant_code(v.x * id);
    c.y = quant_code(v.y * id);
    c.z = quant_code(v.z * id);
    c.w = quant_code(v.w * id);
    *reinterpret_cast<char4 *>(q + 4 * quad) = c;
    if ((quad & 7) == 0) d[quad / 8] = dd;
}

// Read-only 16-byte load (weights, activations written by earlier kernels).
__device__ __forceinline__ uint4 ldg16(const void *p) { return __ldg(reinterpret_cast<const uint4 *>(p)); }

// Blocks for `n` items of `per_block` each (at least one).
inline unsigned grid_for(size_t n, unsigned per_block) {
    const size_t b = (n + per_block - 1) / per_block;
    return static_cast<unsigned>(b ? b : 1);
}

}  // namespace dstar::backend::cuda
