// IEEE half / bfloat16 <-> float conversions (exact, round-to-nearest-even).
#pragma once

#include <cstdint>
#include <cstring>

namespace dstar {

inline float f32_from_bits(uint32_t b) {
    float f;
    std::memcpy(&f, &b, sizeof f);
    return f;
}

inline uint32_t f32_bits(float f) {
    uint32_t b;
    std::memcpy(&b, &f, sizeof b);
    return b;
}

// Half -> float.  Every half value (subnormals, infinities, NaN payloads) is exact in f32.
inline float f16_to_f32(uint16_t h) {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    if (exp == 0) {
        if (mant == 0) return f32_from_bits(sign);
        // Subnormal: normalise the mantissa.
        exp = 1;
        while ((mant & 0x400u) == 0) {
            mant <<= 1;
            exp--;
        }
        mant &= 0x3ffu;
        return f32_from_bits(sign | ((exp + 127 - 15) << 23) | (mant << 13));
    }
    if (exp == 31) return f32_from_bits(sign | 0x7f800000u | (mant << 13));
    return f32_from_bits(sign | ((exp + 127 - 15) << 23) | (mant << 13));
}

// Float -> half, round to nearest even; overflow gives infinity, NaN stays NaN.
inline uint16_t f32_to_f16(float f) {
    const uint32_t bits = f32_bits(f);
    const uint32_t sign = (bits >> 16) & 0x8000u;
    const uint32_t fexp = (bits >> 23) & 0xffu;
    uint32_t mant = bits & 0x7fffffu;
    if (fexp == 0xffu) return static_cast<uint16_t>(sign | (mant ? 0x7e00u : 0x7c00u));
    const int32_t exp = static_cast<int32_t>(fexp) - 127 + 15;
    if (exp >= 31) return static_cast<uint16_t>(sign | 0x7c00u);
    if (exp <= 0) {
        if (exp < -10) return static_cast<uint16_t>(sign);
        mant |= 0x800000u;
        const uint32_t shift = static_cast<uint32_t>(14 - exp);
        uint32_t half_mant = mant >> shift;
        const uint32_t round_bit = (mant >> (shift - 1)) & 1u;
        const uint32_t sticky = mant & ((1u << (shift - 1)) - 1u);
        if (round_bit && (sticky || (half_mant & 1u))) half_mant++;
        return static_cast<uint16_t>(sign | half_mant);
    }
    uint32_t half = sign | (static_cast<uint32_t>(exp) << 10) | (mant >> 13);
    const uint32_t rest = mant & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) half++;  // may carry into exp: correct
    return static_cast<uint16_t>(half);
}

// f16 round trip: the value an f16 store of x would give back.
inline float f16_round(float x) { return f16_to_f32(f32_to_f16(x)); }

inline float bf16_to_f32(uint16_t b) { return f32_from_bits(static_cast<uint32_t>(b) << 16); }

// Float -> bfloat16, round to nearest even (NaN kept quiet).
inline uint16_t f32_to_bf16(float f) {
    const uint32_t bits = f32_bits(f);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40u);
    const uint32_t lsb = (bits >> 16) & 1u;
    return static_cast<uint16_t>((bits + 0x7fffu + lsb) >> 16);
}

}  // namespace dstar
