// Helpers shared by the quant tests: random data and running a test under each kernel set.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>

#include "common/fp16.h"
#include "quant/dot.h"

namespace dstar::quant::testing {

// Value-parameterised fixture: the parameter names the kernel set ("scalar" / "avx2");
// a set this CPU lacks is skipped.  The best set is restored afterwards.
class KernelIsaTest : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        if (!set_kernel_isa_for_testing(GetParam().c_str())) {
            GTEST_SKIP() << "kernel set " << GetParam() << " not available on this CPU";
        }
    }
    void TearDown() override { set_kernel_isa_for_testing("auto"); }
};

// Runs `fn` under the named kernel set and restores the best one.
template <typename Fn>
auto with_isa(const char *isa, Fn fn) {
    struct Restore {
        ~Restore() { set_kernel_isa_for_testing("auto"); }
    } restore;
    if (!set_kernel_isa_for_testing(isa)) ADD_FAILURE() << "kernel set " << isa << " unavailable";
    return fn();
}

inline bool avx2_available() {
    const bool ok = set_kernel_isa_for_testing("avx2");
    set_kernel_isa_for_testing("auto");
    return ok;
}

// Bitwise float equality; every NaN counts as equal to every NaN.
inline ::testing::AssertionResult same_bits(float a, float b) {
    if (f32_bits(a) == f32_bits(b) || (a != a && b != b)) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << a << " (0x" << std::hex << f32_bits(a) << ") vs " << b
                                         << " (0x" << f32_bits(b) << ")";
}

class Rng {
public:
    explicit Rng(uint64_t seed) : gen_(seed) {}

    uint32_t u32() { return static_cast<uint32_t>(gen_()); }
    uint8_t u8() { return static_cast<uint8_t>(gen_()); }
    int uniform_int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(gen_); }
    float uniform(float lo, float hi) { return std::uniform_real_distribution<float>(lo, hi)(gen_); }
    float normal() { return std::normal_distribution<float>(0.0f, 1.0f)(gen_); }
    bool chance(double p) { return std::bernoulli_distribution(p)(gen_); }

    // int8 with extra weight on the extremes -128, -127, 127 and 0.
    int8_t i8() {
        switch (uniform_int(0, 15)) {
        case 0: return -128;
        case 1: return -127;
        case 2: return 127;
        case 3: return 0;
        default: return static_cast<int8_t>(u8());
        }
    }

    // A finite f16 scale: usually a typical magnitude, sometimes zero, subnormal, the
    // largest half, or negative.
    uint16_t f16_scale() {
        switch (uniform_int(0, 19)) {
        case 0: return 0x0000;
        case 1: return 0x0001;                                      // smallest subnormal
        case 2: return static_cast<uint16_t>(u32() & 0x03ff);        // subnormal
        case 3: return 0x7bff;                                      // 65504
        case 4: return static_cast<uint16_t>(0x8000 | f16_typical());  // negative
        default: return f16_typical();
        }
    }

    // A float scale spanning many binades (2^-40 .. 2^10), sometimes 0 or negative.
    float f32_scale() {
        if (chance(0.03)) return 0.0f;
        const float m = uniform(1.0f, 2.0f) * std::ldexp(1.0f, uniform_int(-40, 10));
        return chance(0.1) ? -m : m;
    }

private:
    uint16_t f16_typical() { return f32_to_f16(uniform(1.0f, 2.0f) * std::ldexp(1.0f, uniform_int(-16, 2))); }

    std::mt19937_64 gen_;
};

}  // namespace dstar::quant::testing
