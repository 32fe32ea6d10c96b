#include "kvcache/tool_memory.h"

#include <gtest/gtest.h>

#include <thread>

namespace dstar::kvcache {
namespace {

std::string block(const std::string &command) {
    std::string b = "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"bash\">\n<｜DSML｜parameter name=\"command\" "
                    "string=\"true\">";
    b += command;
    b += "</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>";
    return b;
}

TEST(ToolMemory, RemembersLooksUpAndSharesBlocks) {
    ToolMemory m;
    const std::string b = block("pwd");
    m.remember({"call_1", "call_2"}, b);
    EXPECT_EQ(m.size(), 2u);
    EXPECT_EQ(m.bytes(), 6 + 6 + b.size());  // the shared block is counted once
    const auto found = m.lookup("call_2");
    ASSERT_TRUE(found);
    EXPECT_EQ(found->block, b);
    EXPECT_EQ(found->origin, ToolMemory::Origin::Ram);
    EXPECT_TRUE(m.contains("call_1"));
    EXPECT_FALSE(m.lookup("call_3"));
    m.remember({"", "call_3"}, "");  // empty block: ignored
    m.remember({""}, b);             // empty id: ignored
    EXPECT_EQ(m.size(), 2u);
    // Re-mapping an id to another block moves it; the old block stays while call_2 uses it.
    const std::string b2 = block("ls");
    m.remember({"call_1"}, b2);
    EXPECT_EQ(m.lookup("call_1")->block, b2);
    EXPECT_EQ(m.bytes(), 6 + 6 + b.size() + b2.size());
    m.remember({"call_2"}, b2);  // last user of b gone: b is freed
    EXPECT_EQ(m.bytes(), 6 + 6 + b2.size());
}

TEST(ToolMemory, OriginRamOutranksDisk) {
    ToolMemory m;
    const std::string b = block("pwd");
    m.remember({"d"}, b, ToolMemory::Origin::Disk);
    EXPECT_EQ(m.lookup("d")->origin, ToolMemory::Origin::Disk);
    m.remember({"d"}, b, ToolMemory::Origin::Ram);
    EXPECT_EQ(m.lookup("d")->origin, ToolMemory::Origin::Ram);
    m.remember({"d"}, b, ToolMemory::Origin::Disk);  // a restore does not demote it
    EXPECT_EQ(m.lookup("d")->origin, ToolMemory::Origin::Ram);
}

TEST(ToolMemory, LeastRecentlyUsedIdsGoFirstByCount) {
    ToolMemory m(3);
    EXPECT_EQ(m.max_ids(), 3u);
    m.remember({"a"}, block("1"));
    m.remember({"b"}, block("2"));
    m.remember({"c"}, block("3"));
    ASSERT_TRUE(m.lookup("a"));  // refreshes a: b is now the oldest
    m.remember({"d"}, block("4"));
    EXPECT_FALSE(m.contains("b"));
    EXPECT_TRUE(m.contains("a"));
    EXPECT_TRUE(m.contains("c"));
    EXPECT_TRUE(m.contains("d"));
    m.remember({"c"}, block("3"));  // remembering again refreshes too: a is the oldest now
    m.remember({"e"}, block("5"));
    EXPECT_FALSE(m.contains("a"));
    EXPECT_EQ(m.size(), 3u);
}

TEST(ToolMemory, LeastRecentlyUsedIdsGoFirstByBytes) {
    const std::string b1 = block("one"), b2 = block("two"), b3 = block("three");
    // Room for two turns of two ids each, not three.
    const size_t limit = 4 * 2 + b1.size() + b2.size() + 2;
    ToolMemory m(100, limit);
    m.remember({"a1", "a2"}, b1);
    m.remember({"b1", "b2"}, b2);
    EXPECT_EQ(m.size(), 4u);
    EXPECT_LE(m.bytes(), limit);
    m.remember({"c1"}, b3);
    // a1 goes first; a2 alone still holds b1, so a2 must go as well before c1 fits.
    EXPECT_FALSE(m.contains("a1"));
    EXPECT_FALSE(m.contains("a2"));
    EXPECT_TRUE(m.contains("b1"));
    EXPECT_TRUE(m.contains("c1"));
    EXPECT_EQ(m.bytes(), 4 + b2.size() + 2 + b3.size());
    EXPECT_LE(m.bytes(), limit);
    ToolMemory tiny(100, 10);  // a block larger than the whole budget cannot stay
    tiny.remember({"x"}, b1);
    EXPECT_EQ(tiny.size(), 0u);
    EXPECT_EQ(tiny.bytes(), 0u);
}

TEST(ToolMemory, EntriesInTextFindsEachBlockOnceInAllSyntaxes) {
    ToolMemory m;
    const std::string full = block("pwd");
    const std::string bare = "<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"a\">\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>";
    const std::string shortf = "\n\n<DSML｜tool_calls><DSML｜invoke name=\"s\"></DSML｜invoke></DSML｜tool_calls>";
    const std::string xml = "\n\n<tool_calls><invoke name=\"x\"></invoke></tool_calls>";
    const std::string absent = block("not in the text");
    m.remember({"f1", "f2"}, full);
    m.remember({"b"}, bare);
    m.remember({"s"}, shortf);
    m.remember({"x"}, xml);
    m.remember({"gone"}, absent);
    const std::string eos = "<｜end▁of▁sentence｜>";
    // `bare` is remembered without the separator but written after one in the transcript.
    const std::string text = "<｜User｜>do it<｜Assistant｜></think>" + full + eos + "<｜User｜>r<｜Assistant｜>" + "\n\n" +
                             bare + eos + "x" + shortf + eos + xml + eos + full + eos;
    auto e = m.entries_in_text(text);
    std::vector<std::pair<std::string, std::string>> want = {
        {"f1", full}, {"f2", full}, {"b", bare}, {"s", shortf}, {"x", xml}};
    EXPECT_EQ(e, want);
    EXPECT_TRUE(m.entries_in_text("no tool calls here").empty());
    EXPECT_TRUE(m.entries_in_text(full.substr(0, full.size() - 3)).empty());  // unterminated
    ToolMemory empty;
    EXPECT_TRUE(empty.entries_in_text(text).empty());
}

TEST(ToolMemory, ConcurrentUseIsSafe) {
    ToolMemory m(50);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; t++)
        threads.emplace_back([&m, t] {
            for (int i = 0; i < 500; i++) {
                std::string id = "t";
                id += std::to_string(t) + "_" + std::to_string(i % 80);
                m.remember({id}, block(std::to_string(i % 7)));
                std::string other = "t0_";
                other += std::to_string(i % 80);
                m.lookup(other);
                m.entries_in_text(block(std::to_string(i % 7)));
            }
        });
    for (auto &th : threads) th.join();
    EXPECT_EQ(m.size(), 50u);
}

}  // namespace
}  // namespace dstar::kvcache
