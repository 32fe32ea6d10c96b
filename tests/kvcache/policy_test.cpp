// kvcache.md §5.1 and §5.2 examples (and ds4-server's unit tests of the same rules).
#include <gtest/gtest.h>

#include <vector>

#include "kvcache/disk_cache.h"

namespace dstar::kvcache {
namespace {

constexpr int32_t kUser = 9001, kAssistant = 9002;

std::vector<int32_t> filler(size_t n) { return std::vector<int32_t>(n, 7); }

TEST(Policy, ColdTrimAndAlign) {
    Options o;  // min 512, cold max 30000, trim 32, align 2048
    EXPECT_EQ(cold_store_len(filler(11011), kUser, kAssistant, o), 10240u);
    EXPECT_EQ(cold_store_len(filler(1695), kUser, kAssistant, o), 1695u);  // 1663 aligns to 0 < 512
    o.boundary_trim = 0;
    o.boundary_align = 1000;
    EXPECT_EQ(cold_store_len(filler(3500), kUser, kAssistant, o), 3000u);
    o.boundary_align = 0;
    EXPECT_EQ(cold_store_len(filler(3500), kUser, kAssistant, o), 3500u);
    o.boundary_trim = 32;
    EXPECT_EQ(cold_store_len(filler(3500), kUser, kAssistant, o), 3468u);
}

TEST(Policy, ColdOnlyInsideMinAndColdMax) {
    Options o;
    EXPECT_EQ(cold_store_len(filler(511), kUser, kAssistant, o), 0u);
    EXPECT_EQ(cold_store_len(filler(512), kUser, kAssistant, o), 512u);
    EXPECT_EQ(cold_store_len(filler(30000), kUser, kAssistant, o), 28672u);
    EXPECT_EQ(cold_store_len(filler(30001), kUser, kAssistant, o), 0u);
    o.cold_max_tokens = 0;  // cold saves off
    EXPECT_EQ(cold_store_len(filler(5000), kUser, kAssistant, o), 0u);
}

TEST(Policy, ChatAnchorIsLastUserBeforeFirstAssistant) {
    Options o;
    o.min_tokens = 4;
    o.boundary_trim = 0;
    o.boundary_align = 0;
    // Codex: an environment-context user item, then the task: the second marker.
    const std::vector<int32_t> codex = {1, 2, kUser, 3, 4, kUser, 5, kAssistant};
    EXPECT_EQ(cold_store_len(codex, kUser, kAssistant, o), 5u);
    // Claude Code: reminders and task in one user turn.
    const std::vector<int32_t> claude = {1, 2, 3, 4, kUser, 5, kAssistant};
    EXPECT_EQ(cold_store_len(claude, kUser, kAssistant, o), 4u);
    // Later turns do not count: scanning stops at the first Assistant marker.
    const std::vector<int32_t> multi = {1, 2, kUser, 3, kAssistant, 4, kUser, 5, kAssistant};
    o.min_tokens = 2;
    EXPECT_EQ(cold_store_len(multi, kUser, kAssistant, o), 2u);
    // An anchor below min falls back to trim/align (here: the whole prompt).
    o.min_tokens = 3;
    EXPECT_EQ(cold_store_len(multi, kUser, kAssistant, o), 9u);
    EXPECT_EQ(cold_store_len(multi, -1, kAssistant, o), 9u);
    EXPECT_EQ(cold_store_len(multi, kUser, -1, o), 9u);
    // Real sizes: an anchor at 22600 in a 24300-token prompt (kvcache.md §13).
    o = Options{};
    std::vector<int32_t> big = filler(24300);
    big[0] = 1;
    big[3] = kUser;
    big[22600] = kUser;
    big[24000] = kAssistant;
    EXPECT_EQ(cold_store_len(big, kUser, kAssistant, o), 22600u);
}

TEST(Policy, ContinuedFrontiers) {
    Options o;
    EXPECT_EQ(continued_step(o), 10240u);  // 10000 rounded up to 2048
    EXPECT_FALSE(at_continued_frontier(10239, 0, o));
    EXPECT_TRUE(at_continued_frontier(10240, 0, o));
    EXPECT_TRUE(at_continued_frontier(10240, 4096, o));
    EXPECT_TRUE(at_continued_frontier(30720, 24576, o));
    EXPECT_FALSE(at_continued_frontier(18432, 10240, o));
    EXPECT_TRUE(at_continued_frontier(20480, 10240, o));
    EXPECT_FALSE(at_continued_frontier(20480, 20480, o));  // already stored there
    EXPECT_FALSE(at_continued_frontier(0, 0, o));
    o.boundary_align = 0;
    EXPECT_EQ(continued_step(o), 10000u);
    EXPECT_FALSE(at_continued_frontier(29999, 20480, o));
    EXPECT_TRUE(at_continued_frontier(30000, 20480, o));
    o.continued_interval = 0;  // off
    EXPECT_EQ(continued_step(o), 0u);
    EXPECT_FALSE(at_continued_frontier(30000, 0, o));
    o = Options{};
    o.min_tokens = 20000;
    EXPECT_FALSE(at_continued_frontier(10240, 0, o));  // below min
    EXPECT_TRUE(at_continued_frontier(20480, 0, o));
}

}  // namespace
}  // namespace dstar::kvcache
