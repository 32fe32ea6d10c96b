// Bindings live exactly as long as the slot state they were made for.
#include "server/worker/slot_table.h"

#include <gtest/gtest.h>

namespace dstar::server::worker {
namespace {

TEST(SlotTableTest, BindingHoldsUntilTheSlotChanges) {
    SlotTable t(2);
    t.changed(0, 10);
    const LiveRef where = t.where(0);
    EXPECT_EQ(where.slot, 0);
    EXPECT_EQ(where.pos, 10u);
    EXPECT_TRUE(t.bind(where, Binding{Binding::Kind::Anthropic, "", {"b", "a", "a"}}));
    ASSERT_TRUE(t.binding(0).has_value());
    EXPECT_EQ(t.binding(0)->call_ids, (std::vector<std::string>{"a", "b"}));  // sorted, unique
    EXPECT_TRUE(t.has_call_id("a"));
    EXPECT_FALSE(t.binding(1).has_value());

    t.changed(0, 11);  // one more token: the binding no longer describes the slot
    EXPECT_FALSE(t.binding(0).has_value());
    EXPECT_FALSE(t.has_call_id("a"));
    EXPECT_FALSE(t.bind(where, Binding{}));
}

TEST(SlotTableTest, EpochsAreNeverReusedEvenAtTheSamePosition) {
    SlotTable t(2);
    const uint64_t e1 = t.changed(0, 5);
    const LiveRef old = t.where(0);
    t.changed(0, 0);
    const uint64_t e2 = t.changed(0, 5);  // same length, different conversation
    EXPECT_NE(e1, e2);
    EXPECT_FALSE(t.bind(old, Binding{}));
    EXPECT_NE(t.changed(1, 5), e2);
}

TEST(SlotTableTest, BindReplacesAndClearRemoves) {
    SlotTable t(1);
    t.changed(0, 3);
    EXPECT_TRUE(t.bind(t.where(0), Binding{Binding::Kind::Responses, "v1", {"x"}}));
    EXPECT_TRUE(t.bind(t.where(0), Binding{Binding::Kind::Thinking, "v2", {}}));
    EXPECT_EQ(t.binding(0)->visible_text, "v2");
    EXPECT_FALSE(t.has_call_id("x"));
    t.clear_binding(0);
    EXPECT_FALSE(t.binding(0).has_value());
}

TEST(SlotTableTest, RefsThatNameNoSlotAreRefused) {
    SlotTable t(1);
    EXPECT_FALSE(t.bind(LiveRef{}, Binding{}));
    EXPECT_FALSE(t.bind(LiveRef{3, 1, 0}, Binding{}));
}

}  // namespace
}  // namespace dstar::server::worker
