// The model's QAT simulations per value (model.md §3.10): FP8 E4M3 and FP4 E2M1 round trips
// with power-of-two block scales, shared by the CPU reference (backend/cpu/qat.cpp) and the
// CUDA kernels (backend/cuda/qat.cuh).  A block's scale is computed once from its largest
// magnitude; each value then goes through the same float operations on both sides.
#pragma once

#include <cmath>

#include "backend/shared/hd.h"

namespace dstar::backend::shared {

// ceil(log2(x)) for x > 0.  The host takes glibc's log2f (correctly rounded in practice), as
// ds4's CPU code does; the device, whose log2f is not correctly rounded, takes the logarithm
// in double and rounds it to float once, which gives the same float.
DSTAR_HD int ceil_log2f(float x) {
#if defined(__CUDA_ARCH__)
    return static_cast<int>(ceilf(static_cast<float>(log2(static_cast<double>(x)))));
#else
    return static_cast<int>(ceilf(log2f(x)));
#endif
}

// Value of E4M3FN code i (0..126: the finite non-negative codes).
DSTAR_HD float e4m3_value(int i) {
    const int exp = (i >> 3) & 15, mant = i & 7;
    return exp == 0 ? static_cast<float>(mant) * 0.001953125f
                    : (1.0f + static_cast<float>(mant) * 0.125f) * ldexpf(1.0f, exp - 7);
}

// Nearest E4M3FN value of v (|v| clamped to 448), ties to the even code.  Codes are evenly
// spaced inside a binade: 2^-9 apart below 2^-6 (subnormals) and 2^(e-3) apart in
// [2^e, 2^(e+1)), so scaling by that power of two (exact), rintf (halves to even: a code's
// parity is its mantissa's, the integer's) and scaling back gives the nearest code's value.
// Checked against a search over the code table for every float of magnitude <= 600 (fminf
// turns NaN into 448, as before).  A few operations instead of a 7-step search
// matter on the GPU, where one warp may round a whole KV head.
DSTAR_HD float e4m3_round(float v) {
    const float sign = v < 0.0f ? -1.0f : 1.0f;
    const float ax = fminf(fabsf(v), 448.0f);
    int e = -6;  // the subnormal range's quantum is 2^(e-3)
    if (ax >= 0.015625f) {
        int k;
        frexpf(ax, &k);  // ax = f * 2^k, f in [0.5, 1)
        e = k - 1;
    }
    return sign * ldexpf(rintf(ldexpf(ax, 3 - e)), e - 3);
}

// Value of E2M1 code i (0..7: 0, 0.5, 1, 1.5, 2, 3, 4, 6).
DSTAR_HD float e2m1_value(int i) {
    return i < 4 ? 0.5f * static_cast<float>(i) : ldexpf(1.0f + 0.5f * static_cast<float>(i & 1), (i >> 1) - 1);
}

// Nearest E2M1 value of v (|v| clamped to 6), ties to the even code.
DSTAR_HD float e2m1_round(float v) {
    const float sign = v < 0.0f ? -1.0f : 1.0f;
    const float ax = fminf(fabsf(v), 6.0f);
    int best = 0;
    float best_diff = fabsf(ax - e2m1_value(0));
    for (int i = 1; i < 8; i++) {
        const float d = fabsf(ax - e2m1_value(i));
        if (d < best_diff || (d == best_diff && (i & 1) == 0 && (best & 1) != 0)) {
            best = i;
            best_diff = d;
        }
    }
    return sign * e2m1_value(best);
}

// FP8 (E4M3) round trip of 64-value blocks: the block scale from its largest magnitude, then
// each value.
DSTAR_HD float fp8_block_scale(float amax) {
    if (amax < 1.0e-4f) amax = 1.0e-4f;
    return ldexpf(1.0f, ceil_log2f(amax / 448.0f));
}
DSTAR_HD float fp8_round_value(float v, float scale) {
    float q = v / scale;
    q = fminf(fmaxf(q, -448.0f), 448.0f);
    return e4m3_round(q) * scale;
}

// FP4 (E2M1) round trip of 32-value blocks.  The magnitude floor (6 * 2^-126) keeps the
// scale a normal power of two.
DSTAR_HD float fp4_block_scale(float amax) {
    if (amax < 7.052966104933725e-38f) amax = 7.052966104933725e-38f;
    return ldexpf(1.0f, ceil_log2f(amax / 6.0f));
}
DSTAR_HD float fp4_round_value(float v, float scale) {
    float q = v / scale;
    q = fminf(fmaxf(q, -6.0f), 6.0f);
    return e2m1_round(q) * scale;
}

// 1/sqrt(128), the Hadamard-128 normalisation of the indexer QAT.
constexpr float kHadamard128Scale = 0.08838834764831845f;

}  // namespace dstar::backend::shared
