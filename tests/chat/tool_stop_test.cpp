#include "chat/tool_stop.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace dstar::chat {
namespace {

const std::string kThinkingPrompt = "<｜begin▁of▁sentence｜><｜User｜>q<｜Assistant｜><think>";
const std::string kPlainPrompt = "<｜begin▁of▁sentence｜><｜User｜>q<｜Assistant｜></think>";

// Feeds tokens one by one; returns the index of the token after which saw_end() first held.
int stop_index(ToolStopWatch &w, const std::vector<std::string> &tokens) {
    std::string text;
    for (size_t i = 0; i < tokens.size(); i++) {
        text += tokens[i];
        w.feed(tokens[i], text);
        if (w.saw_end()) return static_cast<int>(i);
    }
    return -1;
}

TEST(ToolStopWatch, StopsAtClosingMarkerAfterReasoning) {
    ToolStopWatch w(kThinkingPrompt, ThinkMode::High);
    EXPECT_TRUE(w.inside_reasoning());
    const std::vector<std::string> tokens = {
        "I quote <｜DSML｜tool_calls>", " and </｜DSML｜tool_calls> here", "</think>", "Ok.\n\n",
        "<｜DSML｜tool_calls>", "\n<｜DSML｜invoke name=\"f\">\n</｜DSML｜invoke>\n</｜DSML｜tool",
        "_calls>", "tail"};
    EXPECT_EQ(stop_index(w, tokens), 6);
    EXPECT_TRUE(w.saw_start());
    EXPECT_FALSE(w.unterminated());
    EXPECT_FALSE(w.saw_orphan_end());
}

TEST(ToolStopWatch, NonThinkingDoesNotGate) {
    ToolStopWatch w(kPlainPrompt, ThinkMode::None);
    EXPECT_EQ(stop_index(w, {"<think>x", "<｜DSML｜tool_calls>", "</｜DSML｜tool_calls>"}), 2);
}

TEST(ToolStopWatch, UnterminatedAndOrphan) {
    ToolStopWatch w(kPlainPrompt, ThinkMode::None);
    EXPECT_EQ(stop_index(w, {"</｜DSML｜tool_calls>", "text"}), -1);
    EXPECT_TRUE(w.saw_orphan_end());
    EXPECT_EQ(stop_index(w, {"<｜DSML｜tool_calls>", "\n<｜DSML｜invoke name=\"f\">"}), -1);
    EXPECT_TRUE(w.unterminated());
}

TEST(ToolStopWatch, MarkerSplitAcrossTokensAfterLongText) {
    ToolStopWatch w(kPlainPrompt, ThinkMode::High);
    std::vector<std::string> tokens = {std::string(300, 'a'), "<｜DS", "ML｜tool_", "calls>",
                                       std::string(200, 'b'), "</｜DSML｜tool_c", "alls>"};
    EXPECT_EQ(stop_index(w, tokens), 6);
}

// A write_file whose content is itself a DSML document: the markers inside the string value are
// payload, so generation goes on until the real end of the block (ds4 would stop inside it).
TEST(ToolStopWatch, MarkerInsideStringValueIsPayload) {
    ToolStopWatch w(kPlainPrompt, ThinkMode::None);
    const std::vector<std::string> tokens = {
        "<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"write_file\">\n",
        "<｜DSML｜parameter name=\"content\" string=\"true\">Example:\n<｜DSML｜tool_calls>\n",
        "</｜DSML｜tool_calls>\n",                                         // 2: inside the value
        "<think>more text",                                                   // 3: payload too
        "</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>"};  // 4: the real end
    EXPECT_EQ(stop_index(w, tokens), 4);
    EXPECT_FALSE(w.unterminated());
}

TEST(ToolStopWatch, MarkerInsideJsonStringIsPayload) {
    ToolStopWatch w(kPlainPrompt, ThinkMode::None);
    const std::vector<std::string> tokens = {
        "<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n",
        "<｜DSML｜parameter name=\"a\" string=\"false\">{\"x\": \"</｜DSML｜tool_calls>\"",
        "}</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>"};
    EXPECT_EQ(stop_index(w, tokens), 2);
}

}  // namespace
}  // namespace dstar::chat
