// AVX2/F16C F16-row dot products.
//
// The reference is one sequential f32 chain per row (acc += f16(w[i]) * x[i]), which
// cannot be split along i.  So vector lanes hold different rows: 8 rows per register,
// each lane running its own chain in ascending i, with up to 4 registers (32 rows) in
// flight to hide the add latency.  F16C conversion is exact, like f16_to_f32.
#include "common/fp16.h"
#include "quant/avx2_util.h"
#include "quant/kernels.h"

namespace dstar::quant::detail::avx2 {

// One row: the products are formed 8 at a time, the sum stays a scalar chain.
DSTAR_AVX2 float dot_f16(const uint16_t *row, const float *x, uint64_t n) {
    float acc = 0.0f;
    uint64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 w = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(row + i)));
        alignas(32) float p[8];
        _mm256_store_ps(p, _mm256_mul_ps(w, _mm256_loadu_ps(x + i)));
        for (int k = 0; k < 8; k++) acc += p[k];
    }
    for (; i < n; i++) acc += f16_to_f32(row[i]) * x[i];
    return acc;
}

namespace {

// G groups of 8 rows (lane r of group g = row ptr[8g + r]); out[8g + r] for valid lanes only.
template <int G>
DSTAR_AVX2 void dot_f16_lanes(const uint16_t *const *ptr, const float *x, uint64_t n, float *acc_out) {
    __m256 acc[G];
    for (int g = 0; g < G; g++) acc[g] = _mm256_setzero_ps();
    uint64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 xb[8];
        for (int k = 0; k < 8; k++) xb[k] = _mm256_broadcast_ss(x + i + k);
        for (int g = 0; g < G; g++) {
            // 8x8 transpose of 16-bit values: t[k] = element i+k of the 8 rows.
            __m128i r[8];
            for (int l = 0; l < 8; l++) {
                r[l] = _mm_loadu_si128(reinterpret_cast<const __m128i *>(ptr[8 * g + l] + i));
            }
            const __m128i a0 = _mm_unpacklo_epi16(r[0], r[1]);
            const __m128i a1 = _mm_unpackhi_epi16(r[0], r[1]);
            const __m128i a2 = _mm_unpacklo_epi16(r[2], r[3]);
            const __m128i a3 = _mm_unpackhi_epi16(r[2], r[3]);
            const __m128i a4 = _mm_unpacklo_epi16(r[4], r[5]);
            const __m128i a5 = _mm_unpackhi_epi16(r[4], r[5]);
            const __m128i a6 = _mm_unpacklo_epi16(r[6], r[7]);
            const __m128i a7 = _mm_unpackhi_epi16(r[6], r[7]);
            const __m128i b0 = _mm_unpacklo_epi32(a0, a2);
            const __m128i b1 = _mm_unpackhi_epi32(a0, a2);
            const __m128i b2 = _mm_unpacklo_epi32(a1, a3);
            const __m128i b3 = _mm_unpackhi_epi32(a1, a3);
            const __m128i b4 = _mm_unpacklo_epi32(a4, a6);
            const __m128i b5 = _mm_unpackhi_epi32(a4, a6);
            const __m128i b6 = _mm_unpacklo_epi32(a5, a7);
            const __m128i b7 = _mm_unpackhi_epi32(a5, a7);
            const __m128i t[8] = {
                _mm_unpacklo_epi64(b0, b4), _mm_unpackhi_epi64(b0, b4),
                _mm_unpacklo_epi64(b1, b5), _mm_unpackhi_epi64(b1, b5),
                _mm_unpacklo_epi64(b2, b6), _mm_unpackhi_epi64(b2, b6),
                _mm_unpacklo_epi64(b3, b7), _mm_unpackhi_epi64(b3, b7),
            };
            for (int k = 0; k < 8; k++) {
                acc[g] = _mm256_add_ps(acc[g], _mm256_mul_ps(_mm256_cvtph_ps(t[k]), xb[k]));
            }
        }
    }
    for (int g = 0; g < G; g++) _mm256_storeu_ps(acc_out + 8 * g, acc[g]);
    // Element tail: each lane's chain continues in scalar code.
    for (; i < n; i++) {
        for (int l = 0; l < 8 * G; l++) acc_out[l] += f16_to_f32(ptr[l][i]) * x[i];
    }
}

}  // namespace

DSTAR_AVX2 void dot_f16_rows(const uint16_t *rows, uint64_t stride, uint64_t n_rows, const float *x,
                             uint64_t n, float *out) {
    uint64_t r0 = 0;
    while (r0 < n_rows) {
        const uint64_t left = n_rows - r0;
        const int groups = left >= 32 ? 4 : static_cast<int>((left + 7) / 8);
        const uint64_t take = left < 8u * groups ? left : 8u * groups;
        // Lanes past the last row repeat it (their results are dropped).
        const uint16_t *ptr[32];
        for (int l = 0; l < 8 * groups; l++) {
            const uint64_t r = r0 + (static_cast<uint64_t>(l) < take ? l : take - 1);
            ptr[l] = rows + r * stride;
        }
        alignas(32) float acc[32];
        switch (groups) {
        case 4: dot_f16_lanes<4>(ptr, x, n, acc); break;
        case 3: dot_f16_lanes<3>(ptr, x, n, acc); break;
        case 2: dot_f16_lanes<2>(ptr, x, n, acc); break;
        default: dot_f16_lanes<1>(ptr, x, n, acc); break;
        }
        for (uint64_t l = 0; l < take; l++) out[r0 + l] = acc[l];
        r0 += take;
    }
}

}  // namespace dstar::quant::detail::avx2
