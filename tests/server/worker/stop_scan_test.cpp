// Stop sequences: earliest match over the growing text, and the hold-back length.
#include "server/worker/stop_scan.h"

#include <gtest/gtest.h>

namespace dstar::server::worker {
namespace {

TEST(StopScanTest, FindsTheEarliestMatchAsTheTextGrows) {
    StopScanner s({"", "END", "xy"});
    EXPECT_EQ(s.max_len(), 3u);
    std::string text = "abc";
    EXPECT_FALSE(s.scan(text).has_value());
    text += "E";
    EXPECT_FALSE(s.scan(text).has_value());
    text += "Nx";
    EXPECT_FALSE(s.scan(text).has_value());
    text += "yD";  // "END" never completed; "xy" did
    const auto hit = s.scan(text);
    ASSERT_TRUE(hit.has_value());
    EXPECT_EQ(*hit, 5u);
    // Two sequences completing in the same growth: the earlier start wins.
    EXPECT_EQ(*StopScanner({"cd", "bcde"}).scan("abcdef"), 1u);
}

TEST(StopScanTest, MatchesSplitAcrossGrowthSteps) {
    StopScanner s({"STOP"});
    std::string text;
    for (const char *piece : {"hello S", "T", "O", "P!"}) {
        text += piece;
        const auto hit = s.scan(text);
        if (std::string(piece) == "P!") {
            ASSERT_TRUE(hit.has_value());
            EXPECT_EQ(*hit, 6u);
        } else {
            EXPECT_FALSE(hit.has_value());
        }
    }
}

TEST(StopScanTest, HoldsBackLongestMinusOneBytes) {
    EXPECT_EQ(StopScanner({"abcd"}).safe_len(10), 7u);
    EXPECT_EQ(StopScanner({"abcd"}).safe_len(2), 0u);
    EXPECT_EQ(StopScanner({"a"}).safe_len(10), 10u);
    EXPECT_EQ(StopScanner({}).safe_len(10), 10u);
    EXPECT_TRUE(StopScanner({"", ""}).empty());
}

}  // namespace
}  // namespace dstar::server::worker
