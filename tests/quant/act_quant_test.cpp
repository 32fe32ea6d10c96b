// Activation quantizers: hand-checked cases (ties, maximum positions, zero blocks, padding)
// and random data against test-local reference code written from ds4's rules, under each
// kernel set.
#include "quant/act_quant.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "common/error.h"
#include "quant_test_util.h"

namespace dstar::quant {
namespace {

using testing::KernelIsaTest;
using testing::Rng;
using testing::same_bits;

int8_t ref_code(float v) {
    int q = static_cast<int>(lrintf(v));
    if (q > 127) q = 127;
    if (q < -128) q = -128;
    return static_cast<int8_t>(q);
}

// ds4 quantize_q8_0_activation.
void ref_q8_0(const float *x, int8_t *q, float *scale, uint64_t n) {
    for (uint64_t i0 = 0, b = 0; i0 < n; i0 += 32, b++) {
        const uint64_t bn = n - i0 < 32 ? n - i0 : 32;
        float amax = 0.0f;
        for (uint64_t i = 0; i < bn; i++) {
            if (std::fabs(x[i0 + i]) > amax) amax = std::fabs(x[i0 + i]);
        }
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        scale[b] = d;
        for (uint64_t i = 0; i < 32; i++) q[i0 + i] = i < bn ? ref_code(x[i0 + i] * id) : 0;
    }
}

// ds4_quantize_row_q8_K.
void ref_q8_k(const float *x, BlockQ8_K *y, uint64_t n) {
    for (uint64_t b = 0; b < n / 256; b++, x += 256) {
        float max = 0.0f, amax = 0.0f;
        for (int j = 0; j < 256; j++) {
            if (std::fabs(x[j]) > amax) {
                amax = std::fabs(x[j]);
                max = x[j];
            }
        }
        BlockQ8_K &o = y[b];
        if (amax == 0.0f) {
            o.d = 0.0f;
            for (auto &v : o.qs) v = 0;
            for (auto &v : o.bsums) v = 0;
            continue;
        }
        const float iscale = -127.0f / max;
        for (int j = 0; j < 256; j++) o.qs[j] = ref_code(iscale * x[j]);
        for (int j = 0; j < 16; j++) {
            int s = 0;
            for (int i = 0; i < 16; i++) s += o.qs[16 * j + i];
            o.bsums[j] = static_cast<int16_t>(s);
        }
        o.d = 1.0f / iscale;
    }
}

void expect_q8_0_matches_ref(const std::vector<float> &x) {
    const uint64_t n = x.size(), nb = (n + 31) / 32;
    std::vector<int8_t> q(nb * 32, 0x55), rq(nb * 32, 0x33);
    std::vector<float> s(nb, -1.0f), rs(nb, -2.0f);
    quantize_q8_0_act(x.data(), q.data(), s.data(), n);
    ref_q8_0(x.data(), rq.data(), rs.data(), n);
    for (uint64_t b = 0; b < nb; b++) EXPECT_TRUE(same_bits(s[b], rs[b])) << "block " << b;
    for (uint64_t i = 0; i < nb * 32; i++) ASSERT_EQ(q[i], rq[i]) << "element " << i;
}

void expect_q8_k_matches_ref(const std::vector<float> &x) {
    const uint64_t nb = x.size() / 256;
    std::vector<BlockQ8_K> y(nb), ry(nb);
    std::memset(y.data(), 0x55, nb * sizeof(BlockQ8_K));
    quantize_q8_k_act(x.data(), y.data(), x.size());
    ref_q8_k(x.data(), ry.data(), x.size());
    for (uint64_t b = 0; b < nb; b++) {
        EXPECT_TRUE(same_bits(y[b].d, ry[b].d)) << "block " << b;
        for (int i = 0; i < 256; i++) ASSERT_EQ(y[b].qs[i], ry[b].qs[i]) << "block " << b << " el " << i;
        for (int j = 0; j < 16; j++) ASSERT_EQ(y[b].bsums[j], ry[b].bsums[j]) << "block " << b;
    }
}

// Random activations: normal values with outliers, exact ties, zero and tiny blocks.
std::vector<float> random_activation(Rng &rng, uint64_t n) {
    std::vector<float> x(n);
    for (uint64_t i = 0; i < n; i++) x[i] = rng.normal() * (rng.chance(0.02) ? 50.0f : 1.0f);
    for (uint64_t b0 = 0; b0 < n; b0 += 32) {
        const uint64_t e = std::min<uint64_t>(n, b0 + 32);
        switch (rng.uniform_int(0, 9)) {
        case 0:  // all zero
            for (uint64_t i = b0; i < e; i++) x[i] = 0.0f;
            break;
        case 1:  // max 127 * 2^k: d = 2^k, so half-integers * 2^k are exact ties
            for (uint64_t i = b0; i < e; i++) {
                x[i] = std::ldexp(static_cast<float>(rng.uniform_int(-254, 254)) * 0.5f, 3);
            }
            x[b0 + rng.uniform_int(0, static_cast<int>(e - b0 - 1))] = std::ldexp(rng.chance(0.5) ? 127.0f : -127.0f, 3);
            break;
        case 2:  // very small and denormal values
            for (uint64_t i = b0; i < e; i++) x[i] *= std::ldexp(1.0f, -rng.uniform_int(100, 148));
            break;
        case 3:  // equal magnitudes of both signs
            for (uint64_t i = b0; i < e; i++) x[i] = rng.chance(0.5) ? 3.0f : -3.0f;
            break;
        default:
            break;
        }
    }
    return x;
}

class ActQuant : public KernelIsaTest {};

TEST_P(ActQuant, Q8_0TiesRoundHalfToEven) {
    // amax = 127 gives d = 1 and id = 1, so x * id = x exactly.
    std::vector<float> x(32, 0.0f);
    x[0] = 127.0f;
    const float ties[] = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 125.5f, -126.5f, 3.25f, -3.75f};
    const int8_t expect[] = {0, 2, 2, 0, -2, -2, 126, -126, 3, -4};
    for (int i = 0; i < 10; i++) x[1 + i] = ties[i];
    int8_t q[32];
    float d;
    quantize_q8_0_act(x.data(), q, &d, 32);
    EXPECT_EQ(d, 1.0f);
    EXPECT_EQ(q[0], 127);
    for (int i = 0; i < 10; i++) EXPECT_EQ(q[1 + i], expect[i]) << ties[i];
    expect_q8_0_matches_ref(x);
}

TEST_P(ActQuant, Q8_0MaximumAtAnyPositionAndSign) {
    for (int pos : {0, 1, 7, 8, 15, 16, 24, 31}) {
        for (float sign : {1.0f, -1.0f}) {
            std::vector<float> x(32);
            for (int i = 0; i < 32; i++) x[i] = 0.01f * static_cast<float>(i - 16);
            x[pos] = sign * 2.0f;
            int8_t q[32];
            float d;
            quantize_q8_0_act(x.data(), q, &d, 32);
            EXPECT_EQ(d, 2.0f / 127.0f);
            EXPECT_EQ(q[pos], sign > 0 ? 127 : -127) << pos;
            expect_q8_0_matches_ref(x);
        }
    }
}

TEST_P(ActQuant, Q8_0ZeroBlockAndPartialPadding) {
    std::vector<float> x(40, 0.0f);
    for (int i = 32; i < 40; i++) x[i] = static_cast<float>(i - 36);  // -4..3
    std::vector<int8_t> q(64, 0x55);
    float d[2] = {-1.0f, -1.0f};
    quantize_q8_0_act(x.data(), q.data(), d, 40);
    EXPECT_EQ(d[0], 0.0f);
    for (int i = 0; i < 32; i++) EXPECT_EQ(q[i], 0);
    EXPECT_EQ(d[1], 4.0f / 127.0f);
    EXPECT_EQ(q[32], -127);
    for (int i = 40; i < 64; i++) EXPECT_EQ(q[i], 0) << "padding " << i;
    expect_q8_0_matches_ref(x);
    for (uint64_t n : {1u, 31u, 33u, 63u, 65u, 100u}) {
        Rng rng(n);
        expect_q8_0_matches_ref(random_activation(rng, n));
    }
}

// A denormal block maximum makes 1/d overflow: the products are +-inf or NaN, which
// (int)lrintf turns into 0 on x86-64; both kernel sets must agree with that.  A NaN input
// never becomes the maximum and quantizes the same way.
TEST_P(ActQuant, Q8_0OverflowingInverseScaleAndNaN) {
    std::vector<float> x(96, 0.0f);
    x[3] = std::ldexp(1.0f, -140);
    x[4] = -std::ldexp(1.0f, -141);
    x[32] = std::numeric_limits<float>::denorm_min();
    for (int i = 64; i < 96; i++) x[i] = static_cast<float>(i - 80);
    x[70] = std::numeric_limits<float>::quiet_NaN();
    expect_q8_0_matches_ref(x);
    int8_t q[96];
    float d[3];
    quantize_q8_0_act(x.data(), q, d, 96);
    EXPECT_EQ(d[2], 16.0f / 127.0f);
}

TEST_P(ActQuant, Q8_0RandomMatchesReference) {
    Rng rng(1234);
    for (int rep = 0; rep < 50; rep++) expect_q8_0_matches_ref(random_activation(rng, 4096));
}

TEST_P(ActQuant, Q8_KTiesAndSignConvention) {
    // max = -127 gives iscale = 1 exactly: x quantizes to lrint(x).
    std::vector<float> x(256, 0.0f);
    x[5] = -127.0f;
    x[6] = 2.5f;
    x[7] = -3.5f;
    x[8] = 127.0f;  // same magnitude later: the first one (negative) defines the scale
    BlockQ8_K y;
    quantize_q8_k_act(x.data(), &y, 256);
    EXPECT_EQ(y.d, 1.0f);
    EXPECT_EQ(y.qs[5], -127);
    EXPECT_EQ(y.qs[6], 2);
    EXPECT_EQ(y.qs[7], -4);
    EXPECT_EQ(y.qs[8], 127);
    EXPECT_EQ(y.bsums[0], -127 + 2 - 4 + 127);
    expect_q8_k_matches_ref(x);

    // Positive maximum first: iscale = -127/max < 0, so codes flip sign and d < 0.
    x[5] = 127.0f;
    x[8] = -127.0f;
    quantize_q8_k_act(x.data(), &y, 256);
    EXPECT_EQ(y.d, -1.0f);
    EXPECT_EQ(y.qs[5], -127);
    EXPECT_EQ(y.qs[6], -2);
    EXPECT_EQ(y.qs[7], 4);
    EXPECT_EQ(y.qs[8], 127);
    expect_q8_k_matches_ref(x);
}

TEST_P(ActQuant, Q8_KMaximumPositionsZeroBlocksAndBsums) {
    for (int pos : {0, 1, 15, 16, 100, 128, 200, 255}) {
        std::vector<float> x(512);
        Rng rng(static_cast<uint64_t>(pos));
        for (auto &v : x) v = rng.uniform(-1.0f, 1.0f);
        x[pos] = -5.0f;
        for (int i = 256; i < 512; i++) x[i] = 0.0f;  // second block all zero
        std::vector<BlockQ8_K> y(2);
        std::memset(y.data(), 0x55, sizeof(BlockQ8_K) * 2);
        quantize_q8_k_act(x.data(), y.data(), 512);
        EXPECT_EQ(y[0].qs[pos], -127);  // iscale = 127/5 > 0
        EXPECT_TRUE(same_bits(y[0].d, 1.0f / (-127.0f / -5.0f)));
        for (int j = 0; j < 16; j++) {
            int s = 0;
            for (int i = 0; i < 16; i++) s += y[0].qs[16 * j + i];
            EXPECT_EQ(y[0].bsums[j], s);
        }
        EXPECT_TRUE(same_bits(y[1].d, 0.0f));
        for (int i = 0; i < 256; i++) ASSERT_EQ(y[1].qs[i], 0);
        for (int j = 0; j < 16; j++) ASSERT_EQ(y[1].bsums[j], 0);
        expect_q8_k_matches_ref(x);
    }
}

TEST_P(ActQuant, Q8_KRandomAndExtremeMatchReference) {
    Rng rng(99);
    for (int rep = 0; rep < 30; rep++) {
        std::vector<float> x = random_activation(rng, 4096);
        // Whole tiny blocks (iscale overflows for denormal maxima) and a NaN.
        for (int i = 0; i < 256; i++) x[i] = std::ldexp(rng.uniform(-1.0f, 1.0f), -135);
        if (rep % 3 == 0) x[700] = std::numeric_limits<float>::quiet_NaN();
        expect_q8_k_matches_ref(x);
    }
}

TEST_P(ActQuant, Q8_KRejectsPartialBlocks) {
    std::vector<float> x(300, 1.0f);
    BlockQ8_K y[2];
    EXPECT_THROW(quantize_q8_k_act(x.data(), y, 300), Error);
}

INSTANTIATE_TEST_SUITE_P(Isa, ActQuant, ::testing::Values("scalar", "avx2"));

}  // namespace
}  // namespace dstar::quant
