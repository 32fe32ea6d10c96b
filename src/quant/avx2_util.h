// Internal: small AVX2 helpers shared by the *_avx2.cpp kernel files.
//
// Everything here is compiled for AVX2/F16C through target attributes (the rest of the
// binary stays baseline x86-64); include only from files whose kernels are reached via
// avx2_kernels().  No FMA: float products and sums must round exactly like scalar code.
#pragma once

#include <immintrin.h>

#include <cstdint>

#define DSTAR_AVX2 __attribute__((target("avx2,f16c")))
#define DSTAR_AVX2_INLINE __attribute__((target("avx2,f16c"), always_inline)) inline

namespace dstar::quant::detail::avx2 {

// Sum of the 8 int32 lanes (exact; integer order does not matter).
DSTAR_AVX2_INLINE int32_t hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

// Lane k of the result = sum of the 8 lanes of v[k].
DSTAR_AVX2_INLINE __m256i hsum_i32_x8(const __m256i v[8]) {
    const __m256i t0 = _mm256_hadd_epi32(v[0], v[1]);
    const __m256i t1 = _mm256_hadd_epi32(v[2], v[3]);
    const __m256i t2 = _mm256_hadd_epi32(v[4], v[5]);
    const __m256i t3 = _mm256_hadd_epi32(v[6], v[7]);
    const __m256i u0 = _mm256_hadd_epi32(t0, t1);  // [v0..v3 low-half sums | high-half sums]
    const __m256i u1 = _mm256_hadd_epi32(t2, t3);  // [v4..v7 ...]
    return _mm256_add_epi32(_mm256_permute2x128_si256(u0, u1, 0x20),
                            _mm256_permute2x128_si256(u0, u1, 0x31));
}

// Exact int8 x int8 products of 32 bytes, summed pairwise into 8 int32 lanes.  Widens to
// int16 first: the faster maddubs/sign trick is wrong when an operand is -128.
DSTAR_AVX2_INLINE __m256i dot_i8x32(const int8_t *a, const int8_t *b) {
    const __m128i a0 = _mm_loadu_si128(reinterpret_cast<const __m128i *>(a));
    const __m128i a1 = _mm_loadu_si128(reinterpret_cast<const __m128i *>(a + 16));
    const __m128i b0 = _mm_loadu_si128(reinterpret_cast<const __m128i *>(b));
    const __m128i b1 = _mm_loadu_si128(reinterpret_cast<const __m128i *>(b + 16));
    const __m256i p0 = _mm256_madd_epi16(_mm256_cvtepi8_epi16(a0), _mm256_cvtepi8_epi16(b0));
    const __m256i p1 = _mm256_madd_epi16(_mm256_cvtepi8_epi16(a1), _mm256_cvtepi8_epi16(b1));
    return _mm256_add_epi32(p0, p1);
}

}  // namespace dstar::quant::detail::avx2
