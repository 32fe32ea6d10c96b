#include "engine/sampler.h"

#include <cmath>
#include <gtest/gtest.h>
#include <map>

namespace dstar::engine {
namespace {

std::vector<float> logits_of(const std::vector<double> &probs) {
    std::vector<float> l;
    for (double p : probs) l.push_back(static_cast<float>(std::log(p)));
    return l;
}

std::map<int32_t, int> histogram(Sampler &s, const std::vector<float> &l, int n) {
    std::map<int32_t, int> h;
    for (int i = 0; i < n; i++) h[s.sample(l.data(), static_cast<uint32_t>(l.size()))]++;
    return h;
}

TEST(Sampler, GreedyPicksTheLowestIdOfTheMaximum) {
    Sampler s({0.0f, 0, 1.0f, 0.0f, 1});
    const std::vector<float> l = {1, 3, 3, 2};
    EXPECT_EQ(s.sample(l.data(), 4), 1);
    EXPECT_EQ(argmax(l.data(), 4), 1);
}

TEST(Sampler, SameSeedSameSequence) {
    const std::vector<float> l = logits_of({0.2, 0.3, 0.1, 0.4});
    Sampler a({1.0f, 0, 1.0f, 0.0f, 42}), b({1.0f, 0, 1.0f, 0.0f, 42}), c({1.0f, 0, 1.0f, 0.0f, 43});
    std::vector<int32_t> sa, sb, sc;
    for (int i = 0; i < 50; i++) {
        sa.push_back(a.sample(l.data(), 4));
        sb.push_back(b.sample(l.data(), 4));
        sc.push_back(c.sample(l.data(), 4));
    }
    EXPECT_EQ(sa, sb);
    EXPECT_NE(sa, sc);
}

TEST(Sampler, FollowsTheDistribution) {
    Sampler s({1.0f, 0, 1.0f, 0.0f, 7});
    const auto h = histogram(s, logits_of({0.1, 0.2, 0.7}), 20000);
    EXPECT_NEAR(h.at(0) / 20000.0, 0.1, 0.015);
    EXPECT_NEAR(h.at(1) / 20000.0, 0.2, 0.015);
    EXPECT_NEAR(h.at(2) / 20000.0, 0.7, 0.015);
}

TEST(Sampler, TopKTopPMinPCutTheTail) {
    const std::vector<float> l = logits_of({0.5, 0.3, 0.15, 0.05});
    Sampler k2({1.0f, 2, 1.0f, 0.0f, 3});
    for (auto [id, n] : histogram(k2, l, 2000)) EXPECT_LT(id, 2) << "top-k 2 sampled id " << id;
    Sampler p({1.0f, 0, 0.75f, 0.0f, 3});  // 0.5 + 0.3 reaches 0.75
    for (auto [id, n] : histogram(p, l, 2000)) EXPECT_LT(id, 2) << "top-p 0.75 sampled id " << id;
    Sampler m({1.0f, 0, 1.0f, 0.25f, 3});  // keeps p >= 0.125
    for (auto [id, n] : histogram(m, l, 2000)) EXPECT_LT(id, 3) << "min-p sampled id " << id;
}

TEST(Sampler, TemperatureSharpens) {
    const std::vector<float> l = logits_of({0.4, 0.6});
    Sampler cold({0.25f, 0, 1.0f, 0.0f, 9});
    const auto h = histogram(cold, l, 10000);
    // p ∝ p^4: 0.6^4 / (0.4^4 + 0.6^4) = 0.835
    EXPECT_NEAR(h.at(1) / 10000.0, 0.835, 0.02);
}

TEST(Sampler, TopLogprobsAreSortedAndNormalised) {
    const std::vector<float> l = {0.0f, 2.0f, 2.0f, -1.0f, INFINITY - INFINITY};
    const auto top = top_logprobs(l.data(), 5, 3);
    ASSERT_EQ(top.size(), 3u);
    EXPECT_EQ(top[0].id, 1);
    EXPECT_EQ(top[1].id, 2);
    EXPECT_EQ(top[2].id, 0);
    const double z = std::log(std::exp(0.0) + 2 * std::exp(2.0) + std::exp(-1.0));
    EXPECT_NEAR(top[0].logprob, 2.0 - z, 1e-6);
}

}  // namespace
}  // namespace dstar::engine
