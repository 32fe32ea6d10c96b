#include "chat/think_mode.h"

#include <gtest/gtest.h>

namespace dstar::chat {
namespace {

TEST(ThinkMode, NamesRoundTrip) {
    for (ThinkMode m : {ThinkMode::None, ThinkMode::High, ThinkMode::Max}) {
        EXPECT_EQ(think_mode_from_name(think_mode_name(m)), m);
    }
    EXPECT_STREQ(think_mode_name(ThinkMode::Max), "max");
    EXPECT_FALSE(think_mode_from_name("xhigh"));
}

TEST(ThinkMode, Enabled) {
    EXPECT_FALSE(think_enabled(ThinkMode::None));
    EXPECT_TRUE(think_enabled(ThinkMode::High));
    EXPECT_TRUE(think_enabled(ThinkMode::Max));
}

TEST(ThinkMode, MaxNeedsLargeContext) {
    EXPECT_EQ(think_mode_for_context(ThinkMode::Max, 393215), ThinkMode::High);
    EXPECT_EQ(think_mode_for_context(ThinkMode::Max, 393216), ThinkMode::Max);
    EXPECT_EQ(think_mode_for_context(ThinkMode::Max, 1 << 20), ThinkMode::Max);
    EXPECT_EQ(think_mode_for_context(ThinkMode::Max, -5), ThinkMode::High);
    EXPECT_EQ(think_mode_for_context(ThinkMode::High, 10), ThinkMode::High);
    EXPECT_EQ(think_mode_for_context(ThinkMode::None, 1 << 20), ThinkMode::None);
}

TEST(ThinkMode, ReasoningEffortNames) {
    EXPECT_EQ(parse_reasoning_effort("max"), ThinkMode::Max);
    for (const char *s : {"xhigh", "high", "medium", "low", "minimal"}) {
        EXPECT_EQ(parse_reasoning_effort(s), ThinkMode::High) << s;
    }
    EXPECT_EQ(parse_reasoning_effort("none"), ThinkMode::None);
    EXPECT_FALSE(parse_reasoning_effort("extreme"));
    EXPECT_FALSE(parse_reasoning_effort("MAX"));
    EXPECT_FALSE(parse_reasoning_effort(""));
}

TEST(ThinkMode, ControlsResolve) {
    ThinkControls tc;
    EXPECT_EQ(tc.resolve("whatever"), ThinkMode::High);  // default: thinking, HIGH
    EXPECT_EQ(tc.resolve("deepseek-chat"), ThinkMode::None);
    EXPECT_EQ(tc.resolve("deepseek-reasoner"), ThinkMode::High);

    tc.effort = ThinkMode::Max;
    EXPECT_EQ(tc.resolve("x"), ThinkMode::Max);
    EXPECT_EQ(tc.resolve("deepseek-chat"), ThinkMode::None);  // alias applies without control

    tc.explicit_control = true;  // e.g. "thinking": true
    EXPECT_EQ(tc.resolve("deepseek-chat"), ThinkMode::Max);

    tc.enabled = false;
    EXPECT_EQ(tc.resolve("deepseek-reasoner"), ThinkMode::None);

    ThinkControls none;
    none.effort = ThinkMode::None;  // reasoning_effort "none" wins over the reasoner alias
    EXPECT_EQ(none.resolve("deepseek-reasoner"), ThinkMode::None);
}

}  // namespace
}  // namespace dstar::chat
