#include "common/fp16.h"

#include <cmath>
#include <gtest/gtest.h>

namespace dstar {
namespace {

TEST(Fp16, EveryHalfRoundTripsExactly) {
    for (uint32_t h = 0; h < 0x10000u; h++) {
        const uint16_t bits = static_cast<uint16_t>(h);
        const float f = f16_to_f32(bits);
        if (std::isnan(f)) continue;  // NaN payloads are not required to survive
        EXPECT_EQ(f32_to_f16(f), bits) << "half bits 0x" << std::hex << h;
    }
}

TEST(Fp16, KnownValues) {
    EXPECT_EQ(f16_to_f32(0x3c00), 1.0f);
    EXPECT_EQ(f16_to_f32(0xc000), -2.0f);
    EXPECT_EQ(f16_to_f32(0x7bff), 65504.0f);
    EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
    EXPECT_TRUE(std::isinf(f16_to_f32(0x7c00)));
    EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);                // rounds up to infinity
    EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0x0000);   // tie to even: zero
    EXPECT_EQ(f32_to_f16(std::ldexp(1.5f, -25)), 0x0001);
}

TEST(Fp16, RoundsHalfToEven) {
    // 1 + 2^-11 is halfway between 1 and the next half (1 + 2^-10): ties to even (1).
    EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
    // 1 + 3*2^-11 is halfway between 1+2^-10 (odd) and 1+2^-9 (even).
    EXPECT_EQ(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
}

TEST(Bf16, RoundTripAndRounding) {
    EXPECT_EQ(bf16_to_f32(0x3f80), 1.0f);
    EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
    EXPECT_EQ(f32_to_bf16(f32_from_bits(0x3f808000u)), 0x3f80);  // tie -> even
    EXPECT_EQ(f32_to_bf16(f32_from_bits(0x3f818000u)), 0x3f82);  // tie -> even (up)
    EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
}

}  // namespace
}  // namespace dstar
