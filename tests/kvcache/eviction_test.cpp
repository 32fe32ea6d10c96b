#include "kvcache/eviction.h"

#include <gtest/gtest.h>

#include <cmath>

namespace dstar::kvcache {
namespace {

constexpr uint64_t kNow = 1'800'000'000;
constexpr uint64_t kHour = 3600;

CacheFile file(const std::string &sha, uint32_t tokens, uint64_t size, uint32_t hits = 0, uint64_t last_used = kNow,
               uint64_t created = kNow) {
    CacheFile f;
    f.sha = sha;
    f.path = "/cache/" + sha + ".kv";
    f.header.tokens = tokens;
    f.header.hits = hits;
    f.header.last_used = last_used;
    f.header.created = created;
    f.file_size = size;
    return f;
}

TEST(Eviction, EffectiveHitsHalveEverySixHours) {
    EXPECT_DOUBLE_EQ(effective_hits(file("a", 1, 1, 8).header, kNow), 8.0);
    EXPECT_DOUBLE_EQ(effective_hits(file("a", 1, 1, 8, kNow - 6 * kHour).header, kNow), 4.0);
    EXPECT_DOUBLE_EQ(effective_hits(file("a", 1, 1, 8, kNow - 18 * kHour).header, kNow), 1.0);
    // last_used 0: the creation time counts; both 0: no hits at all.
    EXPECT_DOUBLE_EQ(effective_hits(file("a", 1, 1, 8, 0, kNow - 12 * kHour).header, kNow), 2.0);
    EXPECT_DOUBLE_EQ(effective_hits(file("a", 1, 1, 8, 0, 0).header, kNow), 0.0);
    // Below 0.01 is noise: 1 hit 2 days ago is 2^-8 = 0.0039.
    EXPECT_DOUBLE_EQ(effective_hits(file("a", 1, 1, 1, kNow - 48 * kHour).header, kNow), 0.0);
    EXPECT_DOUBLE_EQ(effective_hits(file("a", 1, 1, 3, kNow + 100).header, kNow), 3.0);  // clock skew: no decay
}

TEST(Eviction, ScoreIsHitsPlusOneTimesTokensPerByte) {
    EXPECT_DOUBLE_EQ(eviction_score(file("a", 1000, 4000), kNow), 0.25);
    EXPECT_DOUBLE_EQ(eviction_score(file("a", 1000, 4000, 3), kNow), 1.0);
    EXPECT_DOUBLE_EQ(eviction_score(file("a", 1000, 0), kNow), 0.0);
}

TEST(Eviction, Ds4FreshSnapshotsKeepTheDenserFile) {
    // ds4's test: 512 tokens in 4 KiB loses to 2048 tokens in 2 KiB.
    const std::vector<CacheFile> files = {file("1111", 512, 52 + 4096), file("2222", 2048, 52 + 2048)};
    EXPECT_EQ(plan_eviction(files, 52 + 2048 + 16, "", kNow), (std::vector<size_t>{0}));
}

TEST(Eviction, TheJustWrittenFileIsProtectedUnlessItAloneIsTooBig) {
    // ds4's tests: the new file has the lower score but survives...
    std::vector<CacheFile> files = {file("old", 4096, 52 + 2048), file("new", 2048, 52 + 4096)};
    EXPECT_EQ(plan_eviction(files, 52 + 4096 + 16, "new", kNow), (std::vector<size_t>{0}));
    EXPECT_EQ(plan_eviction(files, 52 + 4096 + 16, "", kNow), (std::vector<size_t>{1}));
    // ...unless it alone exceeds the budget, then it goes (and the old one fits).
    files = {file("old", 4096, 52 + 1024), file("new", 4096, 52 + 4096)};
    EXPECT_EQ(plan_eviction(files, 52 + 1024 + 16, "new", kNow), (std::vector<size_t>{1}));
}

TEST(Eviction, OrderFollowsScoreThenLastUseThenName) {
    const std::vector<CacheFile> files = {
        file("a", 100, 1000, 0, kNow - 10),     // 0.1, older
        file("b", 100, 1000, 0, kNow),          // 0.1
        file("c", 100, 1000, 0, kNow - 10),     // 0.1, same age as a: a goes first (name)
        file("d", 100, 500),                    // 0.2
        file("e", 100, 1000, 9),                // 1.0 (hits)
        file("f", 100, 1000, 9, kNow - 36 * kHour),  // 9 / 64 = 0.14 -> 0.114
    };
    EXPECT_EQ(plan_eviction(files, 0, "", kNow), (std::vector<size_t>{0, 2, 1, 5, 3, 4}));
    // Stops as soon as the rest fits: total 5500, budget 3500 -> two files.
    EXPECT_EQ(plan_eviction(files, 3500, "", kNow), (std::vector<size_t>{0, 2}));
    EXPECT_TRUE(plan_eviction(files, 5500, "", kNow).empty());
    EXPECT_TRUE(plan_eviction({}, 0, "", kNow).empty());
}

TEST(Eviction, BudgetSlackIsOnePercentRoundedUp) {
    // ds4's test: a 1100-byte budget fits 52 + 100 + 930 (1082 + 11) but not 52 + 100 + 938.
    EXPECT_EQ(with_budget_slack(1082), 1093u);
    EXPECT_LE(with_budget_slack(52 + 100 + 930), 1100u);
    EXPECT_GT(with_budget_slack(52 + 100 + 938), 1100u);
    EXPECT_GT(with_budget_slack(52 + 100 + 900 + 40), 1100u);
    EXPECT_EQ(with_budget_slack(100), 101u);
    EXPECT_EQ(with_budget_slack(0), 0u);
    EXPECT_EQ(with_budget_slack(UINT64_MAX), UINT64_MAX);
}

}  // namespace
}  // namespace dstar::kvcache
