// RoPE frequencies against the reference values of model.md §3.0.
#include "model/rope.h"

#include <cmath>
#include <gtest/gtest.h>

namespace dstar::model {
namespace {

TEST(Rope, CompressedLayerYarnFrequencies) {
    const RopeParams p = rope_params(ModelConfig::flash(), 2);
    EXPECT_EQ(p.corr_lo, 15.0f);
    EXPECT_EQ(p.corr_hi, 25.0f);
    const std::pair<uint32_t, double> ref[] = {{0, 1.0},           {1, 0.687656022},     {8, 0.05},
                                               {15, 0.00363553858}, {16, 0.002265625},   {20, 0.000296977778},
                                               {24, 1.953125e-05},  {25, 5.37231267e-06}, {31, 5.68052904e-07}};
    for (auto [j, f] : ref) EXPECT_NEAR(p.frequency(j), f, f * 2e-6) << "pair " << j;
}

TEST(Rope, RawLayerAndMtpUsePlainBase) {
    for (const RopeParams &p : {rope_params(ModelConfig::flash(), 0), rope_params(ModelConfig::flash(), 7, true)}) {
        EXPECT_EQ(p.ext_factor, 0.0f);
        EXPECT_NEAR(p.frequency(1), 0.749894209, 1e-6);
        EXPECT_NEAR(p.frequency(16), 0.01, 1e-8);
        EXPECT_NEAR(p.frequency(31), 0.000133352143, 1e-9);
    }
}

TEST(Rope, NoNetMagnitudeAndInverseUndoes) {
    const RopeParams p = rope_params(ModelConfig::flash(), 4);
    std::vector<float> x(512), y;
    for (size_t i = 0; i < x.size(); i++) x[i] = std::sin(static_cast<float>(i) * 0.37f);
    y = x;
    rope_tail(y.data(), 1, 512, p, 12345, false);
    for (size_t i = 0; i < 448; i++) EXPECT_EQ(y[i], x[i]);  // position-free dims untouched
    double n0 = 0, n1 = 0;
    for (size_t i = 448; i < 512; i++) {
        n0 += x[i] * x[i];
        n1 += y[i] * y[i];
    }
    EXPECT_NEAR(n1, n0, n0 * 1e-5);  // YaRN has no mscale here: rotation only
    rope_tail(y.data(), 1, 512, p, 12345, true);
    for (size_t i = 448; i < 512; i++) EXPECT_NEAR(y[i], x[i], 1e-5);
}

}  // namespace
}  // namespace dstar::model
