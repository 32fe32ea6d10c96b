// The QAT round trips shared by the CPU reference and the CUDA kernels: E4M3 rounding by
// scaling and rintf against the definition (nearest value in the code table, ties to the
// even code), on every code, every midpoint between neighbours, their neighbouring floats,
// and random magnitudes.
#include "backend/shared/qat_math.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

namespace dstar::backend::shared {
namespace {

// The definition: the code whose value is nearest |v| (clamped to 448), ties to the even code.
float e4m3_by_table(float v) {
    const float sign = v < 0.0f ? -1.0f : 1.0f;
    const float ax = std::fmin(std::fabs(v), 448.0f);
    int best = 0;
    float best_d = std::fabs(ax - e4m3_value(0));
    for (int i = 1; i <= 126; i++) {
        const float d = std::fabs(ax - e4m3_value(i));
        if (d < best_d || (d == best_d && (i & 1) == 0)) {
            best = i;
            best_d = d;
        }
    }
    return sign * e4m3_value(best);
}

uint32_t bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    return u;
}

void expect_same(float v) {
    EXPECT_EQ(bits(e4m3_round(v)), bits(e4m3_by_table(v))) << "v = " << std::hexfloat << v;
}

TEST(QatMath, E4m3RoundMatchesTheCodeTable) {
    std::vector<float> probes;
    for (int i = 0; i <= 126; i++) {
        const float a = e4m3_value(i);
        probes.push_back(a);
        if (i < 126) {
            const float mid = 0.5f * (a + e4m3_value(i + 1));  // exact: a tie
            probes.push_back(mid);
            probes.push_back(std::nextafter(mid, 0.0f));
            probes.push_back(std::nextafter(mid, 1000.0f));
        }
    }
    for (float p : {448.0f, 449.0f, 464.0f, 1e30f, 1e-30f, 0.0f, 1e-45f, 0.015625f, 0.0156249f})
        probes.push_back(p);
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> lg(-14.0f, 9.5f);
    for (int i = 0; i < 20000; i++) probes.push_back(std::exp2(lg(rng)));
    for (float p : probes) {
        expect_same(p);
        expect_same(-p);
    }
    EXPECT_EQ(e4m3_round(NAN), 448.0f) << "fminf drops the NaN";
    EXPECT_EQ(e4m3_round(0.90625f), 0.875f) << "tie between codes 54 (0.875) and 55 (0.9375)";
    EXPECT_EQ(e4m3_round(0.96875f), 1.0f) << "tie between codes 55 (0.9375) and 56 (1.0)";
}

}  // namespace
}  // namespace dstar::backend::shared
