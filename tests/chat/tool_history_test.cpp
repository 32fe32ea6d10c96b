#include "chat/tool_history.h"

#include <gtest/gtest.h>

#include "chat/request.h"

namespace dstar::chat {
namespace {

TEST(ToolHistory, AnthropicResultNeedsReplayedOrLiveCall) {
    auto replayed = parse_anthropic_messages_body(R"({"messages":[
        {"role":"user","content":"q"},
        {"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"f","input":{}}]},
        {"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"r"}]}]})");
    ToolResultCheck c = check_anthropic_tool_results(replayed);
    EXPECT_TRUE(c.ok);
    EXPECT_FALSE(c.requires_live_tool_state);

    auto tail_only = parse_anthropic_messages_body(R"({"messages":[
        {"role":"user","content":[{"type":"tool_result","tool_use_id":"t9","content":"r"}]}]})");
    c = check_anthropic_tool_results(tail_only);
    EXPECT_FALSE(c.ok);
    EXPECT_EQ(c.missing_id, "t9");
    EXPECT_EQ(c.error, "Anthropic continuation state is not available for tool_use_id t9; retry by "
                       "replaying the full messages history");
    c = check_anthropic_tool_results(tail_only, [](const std::string &id) { return id == "t9"; });
    EXPECT_TRUE(c.ok);
    EXPECT_TRUE(c.requires_live_tool_state);
}

TEST(ToolHistory, ResponsesOutputs) {
    auto conv = parse_openai_responses_body(R"({"input":[
        {"role":"user","content":"q"},
        {"type":"function_call","call_id":"c1","name":"f","arguments":"{}"},
        {"type":"function_call_output","call_id":"c1","output":"o"}]})");
    ToolResultCheck c = check_responses_tool_outputs(conv, ThinkMode::High);
    EXPECT_TRUE(c.ok);
    EXPECT_TRUE(c.requires_live_reasoning);  // replayed call without its reasoning
    c = check_responses_tool_outputs(conv, ThinkMode::None);
    EXPECT_FALSE(c.requires_live_reasoning);

    auto orphan = parse_openai_responses_body(
        R"({"input":[{"type":"function_call_output","call_id":"cX","output":"o"}]})");
    c = check_responses_tool_outputs(orphan, ThinkMode::None);
    EXPECT_FALSE(c.ok);
    EXPECT_EQ(c.error, "Responses continuation state is not available for call_id cX; retry by "
                       "replaying the full input history");
    // A call that comes *after* the output does not count.
    auto late = parse_openai_responses_body(R"({"input":[
        {"type":"function_call_output","call_id":"c1","output":"o"},
        {"type":"function_call","call_id":"c1","name":"f","arguments":"{}"}]})");
    EXPECT_FALSE(check_responses_tool_outputs(late, ThinkMode::None).ok);
}

}  // namespace
}  // namespace dstar::chat
