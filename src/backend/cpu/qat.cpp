#include "backend/cpu/qat.h"

#include <cmath>

#include "common/error.h"

namespace dstar::backend::cpu {

namespace {

// Value of E4M3FN code i (0..126 are the finite non-negative codes).
float e4m3_value(int i) {
    static const float exp_scale[16] = {0.0f,    0.015625f, 0.03125f, 0.0625f, 0.125f, 0.25f,
                                        0.5f,    1.0f,      2.0f,     4.0f,    8.0f,   16.0f,
                                        32.0f,   64.0f,     128.0f,   256.0f};
    const int exp = (i >> 3) & 0x0f;
    const int mant = i & 0x07;
    return exp == 0 ? static_cast<float>(mant) * 0.001953125f
                    : (1.0f + static_cast<float>(mant) * 0.125f) * exp_scale[exp];
}

const float kE2m1[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};

}  // namespace

float e4m3_round(float v) {
    const float sign = v < 0.0f ? -1.0f : 1.0f;
    const float ax = fminf(fabsf(v), 448.0f);
    // Largest code whose value is <= ax (values increase with the code).
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

float e2m1_round(float v) {
    const float sign = v < 0.0f ? -1.0f : 1.0f;
    const float ax = fminf(fabsf(v), 6.0f);
    int best = 0;
    float best_diff = fabsf(ax - kE2m1[0]);
    for (int i = 1; i < 8; i++) {
        const float d = fabsf(ax - kE2m1[i]);
        if (d < best_diff || (d == best_diff && (i & 1) == 0 && (best & 1) != 0)) {
            best = i;
            best_diff = d;
        }
    }
    return sign * kE2m1[best];
}

void fp8_round_row(float *x, uint32_t n_nope) {
    for (uint32_t off = 0; off < n_nope; off += 64) {
        float amax = 0.0f;
        for (uint32_t i = 0; i < 64; i++) amax = fmaxf(amax, fabsf(x[off + i]));
        if (amax < 1.0e-4f) amax = 1.0e-4f;
        const float scale = ldexpf(1.0f, static_cast<int>(ceilf(log2f(amax / 448.0f))));
        for (uint32_t i = 0; i < 64; i++) {
            float v = x[off + i] / scale;
            v = fminf(fmaxf(v, -448.0f), 448.0f);
            x[off + i] = e4m3_round(v) * scale;
        }
    }
}

void fp4_round_row(float *x, uint32_t n) {
    if (n % 32 != 0) fail("FP4 activation rounding needs rows of whole 32-value blocks (got %u)", n);
    for (uint32_t off = 0; off < n; off += 32) {
        float amax = 0.0f;
        for (uint32_t i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(x[off + i]));
        // Floor at 6 * 2^-126 so the scale stays a normal power of two.
        if (amax < 7.052966104933725e-38f) amax = 7.052966104933725e-38f;
        const float scale = ldexpf(1.0f, static_cast<int>(ceilf(log2f(amax / 6.0f))));
        for (uint32_t i = 0; i < 32; i++) {
            float v = x[off + i] / scale;
            v = fminf(fmaxf(v, -6.0f), 6.0f);
            x[off + i] = e2m1_round(v) * scale;
        }
    }
}

void hadamard128(float *x) {
    for (uint32_t stride = 1; stride < 128; stride <<= 1) {
        for (uint32_t base = 0; base < 128; base += 2 * stride) {
            for (uint32_t i = 0; i < stride; i++) {
                const float a = x[base + i], b = x[base + stride + i];
                x[base + i] = a + b;
                x[base + stride + i] = a - b;
            }
        }
    }
    for (uint32_t i = 0; i < 128; i++) x[i] *= 0.08838834764831845f;
}

void indexer_qat_row(float *x) {
    hadamard128(x);
    fp4_round_row(x, 128);
}

}  // namespace dstar::backend::cpu
