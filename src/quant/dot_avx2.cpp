// AVX2 dot products of quantized rows with quantized activations (Q8_0, Q2_K, Q4_K, IQ2_XXS).
//
// Only the exact integer part of each block is vectorised.  The float operations are the
// scalar kernel's, in the same order: per-block products may be formed in vector lanes
// (a lane multiply rounds exactly like a scalar one), but the running sum is always a
// scalar chain over blocks in ascending order.
#include <cstring>

#include "common/fp16.h"
#include "quant/avx2_util.h"
#include "quant/dequant.h"
#include "quant/kernels.h"

namespace dstar::quant::detail::avx2 {

DSTAR_AVX2 float dot_q8_0(const BlockQ8_0 *row, const int8_t *xq, const float *xscale, uint64_t n) {
    const uint64_t full = n / kQK8_0;
    float acc = 0.0f;
    uint64_t b = 0;
    // Eight blocks at a time: integer sums, a transposed reduction, and the eight scale
    // products (f16(d) * xscale) * (float)isum in one vector; then eight ordered adds.
    for (; b + 8 <= full; b += 8) {
        __m256i s[8];
        for (int k = 0; k < 8; k++) s[k] = dot_i8x32(row[b + k].qs, xq + (b + k) * kQK8_0);
        const __m256i isum = hsum_i32_x8(s);
        const __m128i dh = _mm_setr_epi16(
            static_cast<int16_t>(row[b].d), static_cast<int16_t>(row[b + 1].d),
            static_cast<int16_t>(row[b + 2].d), static_cast<int16_t>(row[b + 3].d),
            static_cast<int16_t>(row[b + 4].d), static_cast<int16_t>(row[b + 5].d),
            static_cast<int16_t>(row[b + 6].d), static_cast<int16_t>(row[b + 7].d));
        const __m256 scale = _mm256_mul_ps(_mm256_cvtph_ps(dh), _mm256_loadu_ps(xscale + b));
        const __m256 prod = _mm256_mul_ps(scale, _mm256_cvtepi32_ps(isum));
        alignas(32) float p[8];
        _mm256_store_ps(p, prod);
        for (int k = 0; k < 8; k++) acc += p[k];
    }
    for (; b < full; b++) {
        const int32_t isum = hsum_i32(dot_i8x32(row[b].qs, xq + b * kQK8_0));
        const float scale = f16_to_f32(row[b].d) * xscale[b];
        acc += scale * static_cast<float>(isum);
    }
    if (full * kQK8_0 < n) {
        // Partial last block: continue the same chain in scalar code.
        const uint64_t i0 = full * kQK8_0;
        int32_t isum = 0;
        for (uint64_t i = i0; i < n; i++) isum += int32_t{row[full].qs[i - i0]} * xq[i];
        const float scale = f16_to_f32(row[full].d) * xscale[full];
        acc += scale * static_cast<float>(isum);
    }
    return acc;
}

DSTAR_AVX2 float dot_q2_k(const BlockQ2_K *row, const BlockQ8_K *y, uint64_t nb) {
    const __m256i m3 = _mm256_set1_epi8(3);
    const __m128i m4 = _mm_set1_epi8(15);
    // pshufb selectors that widen scale byte 2k (low 128-bit lane) and 2k+1 (high lane)
    // to int16 in every position; 0x80 bytes produce zeros.
    const __m256i sel0 = _mm256_set_m128i(_mm_set1_epi16(static_cast<int16_t>(0x8001)),
                                          _mm_set1_epi16(static_cast<int16_t>(0x8000)));
    const __m256i sel_step = _mm256_set1_epi16(2);
    float sumf = 0.0f;
    for (uint64_t b = 0; b < nb; b++) {
        const BlockQ2_K &x = row[b];
        const __m128i sc = _mm_loadu_si128(reinterpret_cast<const __m128i *>(x.scales));

        // summs = sum_j bsums[j] * (scales[j] >> 4)
        const __m256i mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sc, 4), m4));
        const __m256i bsums = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(y[b].bsums));
        const int32_t summs = hsum_i32(_mm256_madd_epi16(mins, bsums));

        // isum: element 128h + 32j + l = bits 2j of qs[32h + l], scale scales[8h + 2j + (l>=16)].
        const __m256i scales = _mm256_broadcastsi128_si256(_mm_and_si128(sc, m4));
        __m256i sel = sel0;
        __m256i acc = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i bits = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(x.qs + 32 * h));
            for (int j = 0; j < 4; j++) {
                const __m256i q2 = _mm256_and_si256(bits, m3);
                bits = _mm256_srli_epi16(bits, 2);
                const __m256i q8 = _mm256_loadu_si256(
                    reinterpret_cast<const __m256i *>(y[b].qs + 128 * h + 32 * j));
                const __m256i p = _mm256_maddubs_epi16(q2, q8);  // |p| <= 2*3*128: no saturation
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, _mm256_shuffle_epi8(scales, sel)));
                sel = _mm256_add_epi16(sel, sel_step);
            }
        }
        const int32_t isum = hsum_i32(acc);

        const float dall = y[b].d * f16_to_f32(x.d);
        const float dmin = y[b].d * f16_to_f32(x.dmin);
        const float pos = dall * static_cast<float>(isum);
        const float neg = dmin * static_cast<float>(summs);
        sumf += pos - neg;
    }
    return sumf;
}

DSTAR_AVX2 float dot_q4_k(const BlockQ4_K *row, const BlockQ8_K *y, uint64_t nb) {
    const __m256i m4 = _mm256_set1_epi8(15);
    float sumf = 0.0f;
    for (uint64_t b = 0; b < nb; b++) {
        const BlockQ4_K &x = row[b];
        uint8_t sc[8], m[8];
        unpack_q4_k_scales(x.scales, sc, m);

        __m256i acc = _mm256_setzero_si256();
        for (int g = 0; g < 4; g++) {
            const __m256i bits = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(x.qs + 32 * g));
            const __m256i lo = _mm256_and_si256(bits, m4);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
            const __m256i q8lo = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(y[b].qs + 64 * g));
            const __m256i q8hi =
                _mm256_loadu_si256(reinterpret_cast<const __m256i *>(y[b].qs + 64 * g + 32));
            // |maddubs| <= 2*15*128: no saturation.
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(lo, q8lo),
                                                          _mm256_set1_epi16(sc[2 * g])));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(hi, q8hi),
                                                          _mm256_set1_epi16(sc[2 * g + 1])));
        }
        const int32_t isum = hsum_i32(acc);
        int32_t summs = 0;
        for (int k = 0; k < 8; k++) {
            summs += m[k] * (int32_t{y[b].bsums[2 * k]} + y[b].bsums[2 * k + 1]);
        }

        const float dall = y[b].d * f16_to_f32(x.d);
        const float dmin = y[b].d * f16_to_f32(x.dmin);
        const float pos = dall * static_cast<float>(isum);
        const float neg = dmin * static_cast<float>(summs);
        sumf += pos - neg;
    }
    return sumf;
}

namespace {

// Sign code c -> 8 bytes of +1 / -1 for _mm256_sign_epi8.  kIq2xsSigns[c] is c with bit 7
// set when popcount(c) is odd (quants.md 5.4; the test checks the table against that rule).
struct Iq2SignTable {
    uint64_t v[128];
    constexpr Iq2SignTable() : v() {
        for (int c = 0; c < 128; c++) {
            const int mask = c | ((__builtin_popcount(c) & 1) << 7);
            uint64_t w = 0;
            for (int k = 0; k < 8; k++) w |= uint64_t{(mask >> k) & 1 ? 0xffu : 0x01u} << (8 * k);
            v[c] = w;
        }
    }
};
constexpr Iq2SignTable kIq2SignPm;

}  // namespace

DSTAR_AVX2 float dot_iq2_xxs(const BlockIQ2_XXS *row, const BlockQ8_K *y, uint64_t nb) {
    float sumf = 0.0f;
    for (uint64_t b = 0; b < nb; b++) {
        const auto *bytes = reinterpret_cast<const uint8_t *>(row[b].qs);
        __m256i acc = _mm256_setzero_si256();
        for (int g = 0; g < 8; g++) {
            const uint8_t *grp = bytes + 8 * g;
            uint32_t w;
            std::memcpy(&w, grp + 4, sizeof w);
            const __m256i grid = _mm256_setr_epi64x(
                static_cast<int64_t>(kIq2xxsGrid[grp[0]]), static_cast<int64_t>(kIq2xxsGrid[grp[1]]),
                static_cast<int64_t>(kIq2xxsGrid[grp[2]]), static_cast<int64_t>(kIq2xxsGrid[grp[3]]));
            const __m256i sign = _mm256_setr_epi64x(static_cast<int64_t>(kIq2SignPm.v[w & 127]),
                                                    static_cast<int64_t>(kIq2SignPm.v[(w >> 7) & 127]),
                                                    static_cast<int64_t>(kIq2SignPm.v[(w >> 14) & 127]),
                                                    static_cast<int64_t>(kIq2SignPm.v[(w >> 21) & 127]));
            const __m256i sgrid = _mm256_sign_epi8(grid, sign);  // +-8/25/43
            const __m256i q8 = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(y[b].qs + 32 * g));
            // sgrid*q8 = |q8| * (sgrid*sign(q8)); |q8| <= 128 is a valid u8 even for -128,
            // and negating sgrid cannot overflow.  |pair sum| <= 2*128*43: no saturation.
            const __m256i p = _mm256_maddubs_epi16(_mm256_abs_epi8(q8), _mm256_sign_epi8(sgrid, q8));
            const int16_t ls = static_cast<int16_t>(2 * (w >> 28) + 1);
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, _mm256_set1_epi16(ls)));
        }
        const int32_t bsum = hsum_i32(acc);
        const float d = f16_to_f32(row[b].d) * y[b].d;
        sumf += d * static_cast<float>(bsum);
    }
    return 0.125f * sumf;
}

}  // namespace dstar::quant::detail::avx2
