// Dot products: every kernel set must return the bits of a straightforward test-local
// implementation of ds4's formulas (random blocks, extreme scales, zero activations,
// -128/127 codes), agree with a double-precision dequantize-then-dot, and agree across
// kernel sets.
#include "quant/dot.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "common/error.h"
#include "common/fp16.h"
#include "quant/act_quant.h"
#include "quant/dequant.h"
#include "quant_test_util.h"

namespace dstar::quant {
namespace {

using gguf::TensorType;
using testing::KernelIsaTest;
using testing::Rng;
using testing::same_bits;
using testing::with_isa;

// ---------------------------------------------------------------------------------------
// Reference implementations, written element by element from the format definitions
// (quants.md 5.x) and ds4's float operation order.

float ref_dot_q8_0(const BlockQ8_0 *w, const int8_t *xq, const float *xs, uint64_t n) {
    float acc = 0.0f;
    for (uint64_t b = 0; b * 32 < n; b++) {
        int isum = 0;
        for (uint64_t i = b * 32; i < n && i < b * 32 + 32; i++) isum += w[b].qs[i - b * 32] * xq[i];
        acc += (f16_to_f32(w[b].d) * xs[b]) * static_cast<float>(isum);
    }
    return acc;
}

int q2_code(const BlockQ2_K &x, int i, int *scale_byte) {
    const int h = i / 128, j = (i % 128) / 32, l = i % 32;
    *scale_byte = x.scales[8 * h + 2 * j + (l >= 16 ? 1 : 0)];
    return (x.qs[32 * h + l] >> (2 * j)) & 3;
}

float ref_dot_q2_k(const BlockQ2_K *x, const BlockQ8_K *y, uint64_t n) {
    float sumf = 0.0f;
    for (uint64_t b = 0; b < n / 256; b++) {
        int summs = 0;
        for (int j = 0; j < 16; j++) summs += y[b].bsums[j] * (x[b].scales[j] >> 4);
        int isum = 0;
        for (int i = 0; i < 256; i++) {
            int sc;
            const int q = q2_code(x[b], i, &sc);
            isum += (sc & 15) * q * y[b].qs[i];
        }
        const float dall = y[b].d * f16_to_f32(x[b].d);
        const float dmin = y[b].d * f16_to_f32(x[b].dmin);
        sumf = sumf + ((dall * static_cast<float>(isum)) - (dmin * static_cast<float>(summs)));
    }
    return sumf;
}

void q4_scale_min(const BlockQ4_K &x, int k, int *sc, int *m) {
    const uint8_t *S = x.scales;
    if (k < 4) {
        *sc = S[k] & 63;
        *m = S[k + 4] & 63;
    } else {
        *sc = (S[k + 4] & 15) | ((S[k - 4] >> 6) << 4);
        *m = (S[k + 4] >> 4) | ((S[k] >> 6) << 4);
    }
}

int q4_code(const BlockQ4_K &x, int i, int *k) {
    const int g = i / 64, u = i % 64;
    *k = u < 32 ? 2 * g : 2 * g + 1;
    return u < 32 ? (x.qs[32 * g + u] & 15) : (x.qs[32 * g + u - 32] >> 4);
}

float ref_dot_q4_k(const BlockQ4_K *x, const BlockQ8_K *y, uint64_t n) {
    float sumf = 0.0f;
    for (uint64_t b = 0; b < n / 256; b++) {
        int isum = 0, summs = 0;
        for (int i = 0; i < 256; i++) {
            int k, sc, m;
            const int q = q4_code(x[b], i, &k);
            q4_scale_min(x[b], k, &sc, &m);
            isum += sc * q * y[b].qs[i];
        }
        for (int k = 0; k < 8; k++) {
            int sc, m;
            q4_scale_min(x[b], k, &sc, &m);
            summs += m * (y[b].bsums[2 * k] + y[b].bsums[2 * k + 1]);
        }
        const float dall = y[b].d * f16_to_f32(x[b].d);
        const float dmin = y[b].d * f16_to_f32(x[b].dmin);
        sumf = sumf + ((dall * static_cast<float>(isum)) - (dmin * static_cast<float>(summs)));
    }
    return sumf;
}

// Signed grid value of element e (0..31) of group g, and the group's odd multiplier 2ls+1.
int iq2_value(const BlockIQ2_XXS &x, int g, int e, int *mult) {
    const auto *G = reinterpret_cast<const uint8_t *>(x.qs) + 8 * g;
    const uint32_t W = G[4] | (G[5] << 8) | (G[6] << 16) | (static_cast<uint32_t>(G[7]) << 24);
    *mult = 2 * static_cast<int>(W >> 28) + 1;
    const int l = e / 8, k = e % 8;
    const int mag = static_cast<int>((kIq2xxsGrid[G[l]] >> (8 * k)) & 0xff);
    const uint32_t code = (W >> (7 * l)) & 127;
    const bool odd = __builtin_popcount(code) & 1;
    const bool neg = k < 7 ? ((code >> k) & 1) : odd;  // the 8th sign is implied by parity
    return neg ? -mag : mag;
}

float ref_dot_iq2_xxs(const BlockIQ2_XXS *x, const BlockQ8_K *y, uint64_t n) {
    float sumf = 0.0f;
    for (uint64_t b = 0; b < n / 256; b++) {
        int bsum = 0;
        for (int g = 0; g < 8; g++) {
            int mult = 0, sumi = 0;
            for (int e = 0; e < 32; e++) sumi += iq2_value(x[b], g, e, &mult) * y[b].qs[32 * g + e];
            bsum += mult * sumi;
        }
        const float d = f16_to_f32(x[b].d) * y[b].d;
        sumf += d * static_cast<float>(bsum);
    }
    return 0.125f * sumf;
}

float ref_dot_f16(const uint16_t *w, const float *x, uint64_t n) {
    float acc = 0.0f;
    for (uint64_t i = 0; i < n; i++) acc = acc + f16_to_f32(w[i]) * x[i];
    return acc;
}

// ---------------------------------------------------------------------------------------
// Random data.

std::vector<BlockQ8_0> random_q8_0(Rng &rng, uint64_t nb, bool typical) {
    std::vector<BlockQ8_0> v(nb);
    for (auto &b : v) {
        b.d = typical ? f32_to_f16(rng.uniform(1e-3f, 2e-2f)) : rng.f16_scale();
        for (auto &q : b.qs) q = rng.i8();
    }
    return v;
}

template <typename Block>
std::vector<Block> random_k_blocks(Rng &rng, uint64_t nb, bool typical) {
    std::vector<Block> v(nb);
    for (auto &b : v) {
        auto *bytes = reinterpret_cast<uint8_t *>(&b);
        for (size_t i = 0; i < sizeof(Block); i++) bytes[i] = rng.u8();
        b.d = typical ? f32_to_f16(rng.uniform(1e-3f, 2e-2f)) : rng.f16_scale();
        if constexpr (requires { b.dmin; }) {
            b.dmin = typical ? f32_to_f16(rng.uniform(1e-3f, 2e-2f)) : rng.f16_scale();
        }
    }
    return v;
}

// Q8_K activations: mostly quantized from random floats (so bsums are consistent), with
// some blocks of arbitrary codes (incl. -128) and extreme or zero scales.
std::vector<BlockQ8_K> random_q8_k(Rng &rng, uint64_t nb, bool typical) {
    std::vector<float> x(nb * 256);
    for (auto &v : x) v = rng.normal();
    std::vector<BlockQ8_K> y(nb);
    quantize_q8_k_act(x.data(), y.data(), x.size());
    if (typical) return y;
    for (auto &b : y) {
        switch (rng.uniform_int(0, 5)) {
        case 0: {  // arbitrary codes
            for (auto &q : b.qs) q = rng.i8();
            for (int j = 0; j < 16; j++) {
                int s = 0;
                for (int i = 0; i < 16; i++) s += b.qs[16 * j + i];
                b.bsums[j] = static_cast<int16_t>(s);
            }
            b.d = rng.f32_scale();
            break;
        }
        case 1:  // all-zero activation block
            std::memset(&b, 0, sizeof b);
            break;
        case 2:
            b.d = rng.f32_scale();
            break;
        default:
            break;
        }
    }
    return y;
}

struct Q8_0Act {
    std::vector<int8_t> q;
    std::vector<float> scale;
};

Q8_0Act random_q8_0_act(Rng &rng, uint64_t n, bool typical) {
    const uint64_t nb = (n + 31) / 32;
    Q8_0Act a{std::vector<int8_t>(nb * 32), std::vector<float>(nb)};
    std::vector<float> x(n);
    for (auto &v : x) v = rng.normal();
    quantize_q8_0_act(x.data(), a.q.data(), a.scale.data(), n);
    if (typical) return a;
    for (uint64_t b = 0; b < nb; b++) {
        switch (rng.uniform_int(0, 5)) {
        case 0:
            for (int i = 0; i < 32 && b * 32 + i < n; i++) a.q[b * 32 + i] = rng.i8();
            a.scale[b] = rng.f32_scale();
            break;
        case 1:
            for (int i = 0; i < 32; i++) a.q[b * 32 + i] = 0;
            a.scale[b] = 0.0f;
            break;
        case 2:
            a.scale[b] = rng.f32_scale();
            break;
        default:
            break;
        }
    }
    return a;
}

constexpr int kRows = 200;

// ---------------------------------------------------------------------------------------
// Bit-exact agreement with the reference, for each kernel set.

class Dot : public KernelIsaTest {};

TEST_P(Dot, Q8_0MatchesReferenceBits) {
    Rng rng(1);
    for (uint64_t n : {4096u, 32u, 96u, 256u, 288u, 100u, 17u}) {
        for (int r = 0; r < (n == 4096 ? kRows : 20); r++) {
            const uint64_t nb = (n + 31) / 32;
            const auto w = random_q8_0(rng, nb, false);
            const auto a = random_q8_0_act(rng, n, r % 2 == 0);
            ASSERT_TRUE(same_bits(dot_q8_0(w.data(), a.q.data(), a.scale.data(), n),
                                  ref_dot_q8_0(w.data(), a.q.data(), a.scale.data(), n)))
                << "n " << n << " row " << r;
        }
    }
}

TEST_P(Dot, Q8_0ExtremeCodes) {
    // All -128 against all -128 (the case the maddubs/sign shortcut gets wrong) and 127.
    for (int8_t wq : {-128, 127, -127}) {
        for (int8_t xq : {-128, 127, -1}) {
            std::vector<BlockQ8_0> w(9);
            for (auto &b : w) {
                b.d = f32_to_f16(1.0f);
                for (auto &q : b.qs) q = wq;
            }
            std::vector<int8_t> x(9 * 32, xq);
            std::vector<float> s(9, 1.0f);
            const float got = dot_q8_0(w.data(), x.data(), s.data(), 9 * 32);
            EXPECT_EQ(got, 9.0f * 32.0f * wq * xq);
            EXPECT_TRUE(same_bits(got, ref_dot_q8_0(w.data(), x.data(), s.data(), 9 * 32)));
        }
    }
}

TEST_P(Dot, Q2_KMatchesReferenceBits) {
    Rng rng(2);
    for (int r = 0; r < kRows; r++) {
        const uint64_t nb = r < 10 ? 1 + r : 16;
        const auto w = random_k_blocks<BlockQ2_K>(rng, nb, false);
        const auto y = random_q8_k(rng, nb, r % 2 == 0);
        ASSERT_TRUE(same_bits(dot_q2_k(w.data(), y.data(), nb * 256), ref_dot_q2_k(w.data(), y.data(), nb * 256)))
            << "row " << r;
    }
}

TEST_P(Dot, Q4_KMatchesReferenceBits) {
    Rng rng(3);
    for (int r = 0; r < kRows; r++) {
        const uint64_t nb = r < 10 ? 1 + r : 16;
        const auto w = random_k_blocks<BlockQ4_K>(rng, nb, false);
        const auto y = random_q8_k(rng, nb, r % 2 == 0);
        ASSERT_TRUE(same_bits(dot_q4_k(w.data(), y.data(), nb * 256), ref_dot_q4_k(w.data(), y.data(), nb * 256)))
            << "row " << r;
    }
}

TEST_P(Dot, IQ2_XXSMatchesReferenceBits) {
    Rng rng(4);
    for (int r = 0; r < kRows; r++) {
        const uint64_t nb = r < 10 ? 1 + r : 16;
        const auto w = random_k_blocks<BlockIQ2_XXS>(rng, nb, false);
        const auto y = random_q8_k(rng, nb, r % 2 == 0);
        ASSERT_TRUE(same_bits(dot_iq2_xxs(w.data(), y.data(), nb * 256),
                              ref_dot_iq2_xxs(w.data(), y.data(), nb * 256)))
            << "row " << r;
    }
}

// Extreme codes: Q2_K/Q4_K codes all 3/15 with maximal scales, IQ2 all 43 negative,
// activations all -128 or 127.
TEST_P(Dot, KQuantsExtremeCodes) {
    for (int8_t xq : {-128, 127}) {
        BlockQ8_K y[2];
        for (auto &b : y) {
            b.d = 0.5f;
            for (auto &q : b.qs) q = xq;
            for (auto &s : b.bsums) s = static_cast<int16_t>(16 * xq);
        }
        BlockQ2_K q2[2];
        BlockQ4_K q4[2];
        BlockIQ2_XXS iq[2];
        for (int b = 0; b < 2; b++) {
            std::memset(&q2[b], 0xff, sizeof q2[b]);
            q2[b].d = q2[b].dmin = f32_to_f16(1.0f);
            std::memset(&q4[b], 0xff, sizeof q4[b]);
            q4[b].d = q4[b].dmin = f32_to_f16(1.0f);
            std::memset(&iq[b], 0xff, sizeof iq[b]);  // grid 255, all signs, scale 15
            iq[b].d = f32_to_f16(1.0f);
        }
        EXPECT_TRUE(same_bits(dot_q2_k(q2, y, 512), ref_dot_q2_k(q2, y, 512)));
        EXPECT_TRUE(same_bits(dot_q4_k(q4, y, 512), ref_dot_q4_k(q4, y, 512)));
        EXPECT_TRUE(same_bits(dot_iq2_xxs(iq, y, 512), ref_dot_iq2_xxs(iq, y, 512)));
        // Q2_K: 2 blocks * 0.5 * (15*3*xq*256 - 15*16*16*xq).
        EXPECT_EQ(dot_q2_k(q2, y, 512), 2.0f * 0.5f * (15.0f * 3 * xq * 256 - 15.0f * 256 * xq));
    }
}

TEST_P(Dot, F16MatchesReferenceBits) {
    Rng rng(5);
    for (uint64_t n : {0u, 1u, 7u, 8u, 9u, 31u, 100u, 4096u}) {
        for (int r = 0; r < 20; r++) {
            std::vector<uint16_t> w(n);
            std::vector<float> x(n);
            for (auto &h : w) h = static_cast<uint16_t>(rng.u32() & 0xfbff);  // finite halves
            for (auto &v : x) v = rng.normal();
            ASSERT_TRUE(same_bits(dot_f16(w.data(), x.data(), n), ref_dot_f16(w.data(), x.data(), n)))
                << "n " << n;
        }
    }
}

TEST_P(Dot, F16RowsEqualsF16PerRow) {
    Rng rng(6);
    for (uint64_t n : {0u, 5u, 8u, 24u, 100u, 1027u}) {
        for (uint64_t n_rows : {1u, 3u, 8u, 9u, 16u, 24u, 31u, 32u, 33u, 70u}) {
            const uint64_t stride = n + (n_rows % 3);
            std::vector<uint16_t> w(stride * n_rows + 1);
            std::vector<float> x(n), out(n_rows, -1.0f);
            for (auto &h : w) h = f32_to_f16(rng.normal());
            for (auto &v : x) v = rng.normal();
            dot_f16_rows(w.data(), stride, n_rows, x.data(), n, out.data());
            for (uint64_t r = 0; r < n_rows; r++) {
                ASSERT_TRUE(same_bits(out[r], ref_dot_f16(w.data() + r * stride, x.data(), n)))
                    << "n " << n << " rows " << n_rows << " row " << r;
                ASSERT_TRUE(same_bits(out[r], dot_f16(w.data() + r * stride, x.data(), n)));
            }
        }
    }
}

TEST_P(Dot, RejectsPartialSuperBlocks) {
    BlockQ2_K w2[2]{};
    BlockQ4_K w4[2]{};
    BlockIQ2_XXS wi[2]{};
    BlockQ8_K y[2]{};
    EXPECT_THROW(dot_q2_k(w2, y, 300), Error);
    EXPECT_THROW(dot_q4_k(w4, y, 128), Error);
    EXPECT_THROW(dot_iq2_xxs(wi, y, 257), Error);
}

INSTANTIATE_TEST_SUITE_P(Isa, Dot, ::testing::Values("scalar", "avx2"));

// ---------------------------------------------------------------------------------------
// Agreement with double-precision dequantize-then-dot.  With nb blocks the float chain
// (per block: a scale product, a product with the integer sum, at most a subtraction and
// the running add) stays within (nb + 5) * 2^-24 of S = sum |terms| * |x|.

void expect_close(double got, double exact, double s, uint64_t nb) {
    const double tol = static_cast<double>(nb + 5) * std::ldexp(1.0, -24) * s;
    EXPECT_LE(std::fabs(got - exact), tol) << "got " << got << " exact " << exact << " S " << s;
    EXPECT_GT(s, 0.0);
}

TEST(DotDouble, Q8_0) {
    Rng rng(7);
    for (int r = 0; r < 50; r++) {
        const uint64_t n = 4096, nb = n / 32;
        const auto w = random_q8_0(rng, nb, true);
        const auto a = random_q8_0_act(rng, n, true);
        std::vector<float> wf(n);
        dequantize_row(TensorType::Q8_0, w.data(), wf.data(), n);
        double exact = 0, s = 0;
        for (uint64_t i = 0; i < n; i++) {
            const double x = static_cast<double>(a.scale[i / 32]) * a.q[i];
            exact += wf[i] * x;
            s += std::fabs(wf[i] * x);
        }
        expect_close(dot_q8_0(w.data(), a.q.data(), a.scale.data(), n), exact, s, nb);
    }
}

TEST(DotDouble, KQuants) {
    Rng rng(8);
    const uint64_t nb = 16, n = nb * 256;
    std::vector<float> wf(n);
    for (int r = 0; r < 50; r++) {
        const auto y = random_q8_k(rng, nb, true);
        const auto x = [&](uint64_t i) { return static_cast<double>(y[i / 256].d) * y[i / 256].qs[i % 256]; };

        const auto q2 = random_k_blocks<BlockQ2_K>(rng, nb, true);
        dequantize_row(TensorType::Q2_K, q2.data(), wf.data(), n);
        double exact = 0, s = 0;
        for (uint64_t i = 0; i < n; i++) {
            int sc;
            const int q = q2_code(q2[i / 256], static_cast<int>(i % 256), &sc);
            const double a = static_cast<double>(f16_to_f32(q2[i / 256].d)) * (sc & 15) * q;
            const double m = static_cast<double>(f16_to_f32(q2[i / 256].dmin)) * (sc >> 4);
            exact += wf[i] * x(i);
            s += (std::fabs(a) + std::fabs(m)) * std::fabs(x(i));
        }
        expect_close(dot_q2_k(q2.data(), y.data(), n), exact, s, nb);

        const auto q4 = random_k_blocks<BlockQ4_K>(rng, nb, true);
        dequantize_row(TensorType::Q4_K, q4.data(), wf.data(), n);
        exact = s = 0;
        for (uint64_t i = 0; i < n; i++) {
            int k, sc, m;
            const int q = q4_code(q4[i / 256], static_cast<int>(i % 256), &k);
            q4_scale_min(q4[i / 256], k, &sc, &m);
            const double a = static_cast<double>(f16_to_f32(q4[i / 256].d)) * sc * q;
            const double mm = static_cast<double>(f16_to_f32(q4[i / 256].dmin)) * m;
            exact += wf[i] * x(i);
            s += (std::fabs(a) + std::fabs(mm)) * std::fabs(x(i));
        }
        expect_close(dot_q4_k(q4.data(), y.data(), n), exact, s, nb);

        const auto iq = random_k_blocks<BlockIQ2_XXS>(rng, nb, true);
        dequantize_row(TensorType::IQ2_XXS, iq.data(), wf.data(), n);
        exact = s = 0;
        for (uint64_t i = 0; i < n; i++) {
            exact += wf[i] * x(i);
            s += std::fabs(wf[i] * x(i));
        }
        expect_close(dot_iq2_xxs(iq.data(), y.data(), n), exact, s, nb);
    }
}

TEST(DotDouble, F32AndBf16) {
    Rng rng(9);
    const uint64_t n = 1000;
    std::vector<float> w(n), x(n);
    std::vector<uint16_t> wb(n);
    for (uint64_t i = 0; i < n; i++) {
        w[i] = rng.normal();
        x[i] = rng.normal();
        wb[i] = f32_to_bf16(w[i]);
    }
    double acc = 0;
    for (uint64_t i = 0; i < n; i++) acc += static_cast<double>(w[i]) * x[i];
    EXPECT_TRUE(same_bits(dot_f32(w.data(), x.data(), n), static_cast<float>(acc)));

    float accb = 0.0f;
    for (uint64_t i = 0; i < n; i++) accb = accb + bf16_to_f32(wb[i]) * x[i];
    EXPECT_TRUE(same_bits(dot_bf16(wb.data(), x.data(), n), accb));
}

// ---------------------------------------------------------------------------------------
// Kernel sets agree with each other directly (belt and braces over the reference tests).

TEST(DotIsa, Avx2EqualsScalar) {
    if (!testing::avx2_available()) GTEST_SKIP() << "no AVX2";
    Rng rng(10);
    for (int r = 0; r < 100; r++) {
        const uint64_t nb = 16, n = nb * 256;
        const auto q80 = random_q8_0(rng, n / 32, false);
        const auto a = random_q8_0_act(rng, n, false);
        const auto q2 = random_k_blocks<BlockQ2_K>(rng, nb, false);
        const auto q4 = random_k_blocks<BlockQ4_K>(rng, nb, false);
        const auto iq = random_k_blocks<BlockIQ2_XXS>(rng, nb, false);
        const auto y = random_q8_k(rng, nb, false);
        auto run = [&] {
            return std::vector<float>{dot_q8_0(q80.data(), a.q.data(), a.scale.data(), n),
                                      dot_q2_k(q2.data(), y.data(), n), dot_q4_k(q4.data(), y.data(), n),
                                      dot_iq2_xxs(iq.data(), y.data(), n)};
        };
        const auto s = with_isa("scalar", run);
        const auto v = with_isa("avx2", run);
        for (size_t k = 0; k < s.size(); k++) ASSERT_TRUE(same_bits(s[k], v[k])) << "kernel " << k;
    }
}

TEST(DotIsa, SelectionApi) {
    EXPECT_FALSE(set_kernel_isa_for_testing("neon"));
    EXPECT_TRUE(set_kernel_isa_for_testing("scalar"));
    EXPECT_STREQ(kernel_isa(), "scalar");
    EXPECT_TRUE(set_kernel_isa_for_testing("auto"));
    EXPECT_STREQ(kernel_isa(), testing::avx2_available() ? "avx2" : "scalar");
}

}  // namespace
}  // namespace dstar::quant
