// AVX2 activation quantizers, bit-identical to the scalar ones in act_quant.cpp.
//
// Why the vector forms are exact:
//  * max_ps(ax, amax) computes "ax > amax ? ax : amax" per lane, the scalar update rule
//    (NaN inputs never win); the lane maxima then combine order-independently.
//  * The scale divisions stay scalar; x * id is an elementwise IEEE multiply.
//  * cvtps_epi32 rounds half to even like lrintf in the default rounding mode, and equals
//    (int)lrintf(v) whenever |v| < 2^31; a block with a larger or NaN product (only
//    possible when 1/d overflows) is redone by the scalar code.
//  * Saturating packs to int8 are the clamp to [-128, 127].
#include <cstring>

#include "quant/avx2_util.h"
#include "quant/kernels.h"

namespace dstar::quant::detail::avx2 {

namespace {

DSTAR_AVX2_INLINE __m256 abs_ps(__m256 v) {
    return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v);
}

DSTAR_AVX2_INLINE float hmax_ps(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

// All 8 lanes satisfy |v| < 2^31 (false for NaN).
DSTAR_AVX2_INLINE bool in_int32_range(__m256 v) {
    const __m256 ok = _mm256_cmp_ps(abs_ps(v), _mm256_set1_ps(2147483648.0f), _CMP_LT_OQ);
    return _mm256_movemask_ps(ok) == 0xff;
}

// 32 products -> 32 int8 codes clamped to [-128, 127], in order.
DSTAR_AVX2_INLINE __m256i pack_codes(__m256 v0, __m256 v1, __m256 v2, __m256 v3) {
    const __m256i i01 = _mm256_packs_epi32(_mm256_cvtps_epi32(v0), _mm256_cvtps_epi32(v1));
    const __m256i i23 = _mm256_packs_epi32(_mm256_cvtps_epi32(v2), _mm256_cvtps_epi32(v3));
    // Dword k of b holds codes 4(k/4)..4(k/4)+3 of v(k%4): restore element order.
    const __m256i b = _mm256_packs_epi16(i01, i23);
    return _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// Quantizes 32 values with multiplier `mul`; false if the scalar code must redo them.
DSTAR_AVX2_INLINE bool quantize_32(const float *x, float mul, int8_t *q) {
    const __m256 m = _mm256_set1_ps(mul);
    const __m256 v0 = _mm256_mul_ps(_mm256_loadu_ps(x), m);
    const __m256 v1 = _mm256_mul_ps(_mm256_loadu_ps(x + 8), m);
    const __m256 v2 = _mm256_mul_ps(_mm256_loadu_ps(x + 16), m);
    const __m256 v3 = _mm256_mul_ps(_mm256_loadu_ps(x + 24), m);
    if (!(in_int32_range(v0) && in_int32_range(v1) && in_int32_range(v2) && in_int32_range(v3))) {
        return false;
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i *>(q), pack_codes(v0, v1, v2, v3));
    return true;
}

}  // namespace

DSTAR_AVX2 void quantize_q8_0_act(const float *x, int8_t *q, float *scale, uint64_t n) {
    const uint64_t full = n / kQK8_0;
    for (uint64_t b = 0; b < full; b++) {
        const float *xb = x + b * kQK8_0;
        __m256 amax = _mm256_setzero_ps();
        for (int k = 0; k < 4; k++) amax = _mm256_max_ps(abs_ps(_mm256_loadu_ps(xb + 8 * k)), amax);
        const float d = hmax_ps(amax) / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        scale[b] = d;
        if (!quantize_32(xb, id, q + b * kQK8_0)) {
            quantize_q8_0_block_scalar(xb, kQK8_0, q + b * kQK8_0, scale + b);
        }
    }
    if (full * kQK8_0 < n) {
        quantize_q8_0_block_scalar(x + full * kQK8_0, n - full * kQK8_0, q + full * kQK8_0,
                                   scale + full);
    }
}

DSTAR_AVX2 void quantize_q8_k_act(const float *x, BlockQ8_K *y, uint64_t nb) {
    for (uint64_t b = 0; b < nb; b++, x += kQK_K) {
        __m256 vmax = _mm256_setzero_ps();
        for (int k = 0; k < kQK_K; k += 8) vmax = _mm256_max_ps(abs_ps(_mm256_loadu_ps(x + k)), vmax);
        const float amax = hmax_ps(vmax);
        if (amax == 0.0f) {
            y[b].d = 0.0f;
            std::memset(y[b].qs, 0, sizeof y[b].qs);
            std::memset(y[b].bsums, 0, sizeof y[b].bsums);
            continue;
        }
        // The scalar code keeps the first element whose magnitude equals the maximum.
        float max = 0.0f;
        const __m256 target = _mm256_set1_ps(amax);
        for (int k = 0; k < kQK_K; k += 8) {
            const int hit = _mm256_movemask_ps(
                _mm256_cmp_ps(abs_ps(_mm256_loadu_ps(x + k)), target, _CMP_EQ_OQ));
            if (hit) {
                max = x[k + __builtin_ctz(static_cast<unsigned>(hit))];
                break;
            }
        }
        const float iscale = -127.0f / max;
        bool ok = true;
        for (int k = 0; k < kQK_K && ok; k += 32) ok = quantize_32(x + k, iscale, y[b].qs + k);
        if (!ok) {
            quantize_q8_k_block_scalar(x, y + b);
            continue;
        }
        for (int j = 0; j < kQK_K / 16; j++) {
            int sum = 0;
            for (int i = 0; i < 16; i++) sum += y[b].qs[16 * j + i];
            y[b].bsums[j] = static_cast<int16_t>(sum);
        }
        y[b].d = 1.0f / iscale;
    }
}

}  // namespace dstar::quant::detail::avx2
