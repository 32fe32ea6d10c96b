// Live tool-output tails (kvcache.md §3.2-§3.3) and the bindings a finished turn leaves
// (§3.1-§3.3).
#include "server/api/tool_tail.h"

#include <gtest/gtest.h>

#include "chat/prompt_text.h"
#include "server/api/bindings.h"

namespace dstar::server::api {
namespace {

using chat::Message;

Message msg(std::string role, std::string content) {
    Message m;
    m.role = std::move(role);
    m.content = std::move(content);
    return m;
}
Message calls(std::vector<std::string> ids) {
    Message m = msg("assistant", "");
    for (const std::string &id : ids) m.tool_calls.push_back({id, "run", "{}"});
    return m;
}
Message output(std::string role, std::vector<std::string> ids, std::string content) {
    Message m = msg(std::move(role), std::move(content));
    for (const std::string &id : ids) m.add_tool_call_id(id);
    return m;
}
chat::Conversation conv(std::vector<Message> messages) {
    chat::Conversation c;
    c.messages = std::move(messages);
    return c;
}

const std::string U(chat::kUser), A(chat::kAssistant), EOS(chat::kEos);

TEST(ToolTail, ResponsesOutputsAfterTheirCalls) {
    const chat::Conversation c = conv({msg("system", "s"), msg("user", "go"), calls({"call_b", "call_a"}),
                                       output("tool", {"call_a"}, "A"), output("tool", {"call_b"}, "B")});
    const auto tail = tool_output_tail(Api::Responses, c, chat::ThinkMode::None);
    ASSERT_TRUE(tail);
    EXPECT_EQ(tail->call_ids, (std::vector<std::string>{"call_a", "call_b"})) << "sorted, from the calls";
    EXPECT_EQ(tail->text, EOS + U + "<tool_result>A</tool_result><tool_result>B</tool_result>" + A + "</think>");
    const auto thinking = tool_output_tail(Api::Responses, c, chat::ThinkMode::High);
    EXPECT_EQ(thinking->text.substr(thinking->text.size() - 7), "<think>");
}

TEST(ToolTail, ResponsesOnlyOutputsUseTheirOwnIds) {
    const auto tail = tool_output_tail(Api::Responses, conv({output("tool", {"c2"}, "x"), output("tool", {"c1"}, "y")}),
                                       chat::ThinkMode::None);
    ASSERT_TRUE(tail);
    EXPECT_EQ(tail->call_ids, (std::vector<std::string>{"c1", "c2"}));
}

TEST(ToolTail, NoTailWhenTheRequestDoesNotEndInOutputs) {
    EXPECT_FALSE(tool_output_tail(Api::Responses, conv({msg("user", "a"), calls({"c"}), output("tool", {"c"}, "x"),
                                                        msg("user", "more")}),
                                  chat::ThinkMode::None));
    // Outputs after a user message (not after the calls) cannot continue a live turn.
    EXPECT_FALSE(tool_output_tail(Api::Responses, conv({msg("user", "a"), output("tool", {"c"}, "x")}), chat::ThinkMode::None));
    EXPECT_FALSE(tool_output_tail(Api::Chat, conv({calls({"c"}), output("tool", {"c"}, "x")}), chat::ThinkMode::None));
    EXPECT_FALSE(tool_output_tail(Api::Completions, conv({msg("user", "a")}), chat::ThinkMode::None));
}

TEST(ToolTail, AnthropicResultMessagesSkippingTrailingSystem) {
    const chat::Conversation c = conv({msg("user", "go"), calls({"toolu_1", "toolu_2", "toolu_3"}),
                                       output("user", {"toolu_2", "toolu_1"}, "<tool_result>r</tool_result>"),
                                       output("user", {"toolu_3"}, "<tool_result>s</tool_result>"), msg("system", "late")});
    const auto tail = tool_output_tail(Api::Messages, c, chat::ThinkMode::None);
    ASSERT_TRUE(tail);
    EXPECT_EQ(tail->call_ids, (std::vector<std::string>{"toolu_1", "toolu_2", "toolu_3"}));
    EXPECT_EQ(tail->text, EOS + U + "<tool_result>r</tool_result>" + U + "<tool_result>s</tool_result>" + A + "</think>");
    EXPECT_FALSE(tool_output_tail(Api::Messages, conv({msg("user", "plain")}), chat::ThinkMode::None));
}

// ---- bindings ----

JobRequest job(Api api, chat::ThinkMode mode, std::string prompt, chat::Conversation c = {}) {
    JobRequest j;
    j.api = api;
    j.mode = mode;
    j.prompt_text = std::move(prompt);
    j.conv = std::move(c);
    return j;
}

FinalReply reply(Finish f, std::string text, std::string reasoning, std::string content, std::vector<std::string> ids = {},
                 std::string block = "") {
    FinalReply r;
    r.finish = f;
    r.text = std::move(text);
    r.reasoning = std::move(reasoning);
    r.has_reasoning = !r.reasoning.empty();
    r.content = std::move(content);
    for (const std::string &id : ids) r.calls.push_back({id, "run", "{}"});
    r.raw_block = std::move(block);
    return r;
}

TEST(Bindings, ResponsesVisibleTranscript) {
    const std::string prompt = "P" + A + "<think>";
    const std::string block = "\n\n<｜DSML｜tool_calls>...</｜DSML｜tool_calls>";
    chat::Conversation c;
    c.reasoning_summary = true;
    auto b = binding_after(job(Api::Responses, chat::ThinkMode::High, prompt, c),
                           reply(Finish::ToolCalls, "r</think>hi" + block, "r", "hi", {"call_z", "call_y"}, block));
    ASSERT_TRUE(b);
    EXPECT_EQ(b->kind, Binding::Kind::Responses);
    EXPECT_EQ(b->visible_text, prompt + "r</think>hi" + block + EOS) << "summary replayed with tool calls";
    EXPECT_EQ(b->call_ids, (std::vector<std::string>{"call_y", "call_z"}));
    // Without the summary opt-in, or without tool calls, the reasoning is not part of it.
    b = binding_after(job(Api::Responses, chat::ThinkMode::High, prompt), reply(Finish::Stop, "r</think>hi", "r", "hi"));
    EXPECT_EQ(b->visible_text, prompt + "</think>hi" + EOS);
    EXPECT_TRUE(b->call_ids.empty());
    b = binding_after(job(Api::Responses, chat::ThinkMode::None, "P" + A + "</think>"), reply(Finish::Stop, "hi", "", "hi"));
    EXPECT_EQ(b->visible_text, "P" + A + "</think>hi" + EOS);
    EXPECT_FALSE(binding_after(job(Api::Responses, chat::ThinkMode::None, "P"), reply(Finish::Length, "h", "", "h")));
    EXPECT_FALSE(binding_after(job(Api::Responses, chat::ThinkMode::None, "P"), reply(Finish::Error, "h", "", "h")));
}

TEST(Bindings, AnthropicCallIds) {
    auto b = binding_after(job(Api::Messages, chat::ThinkMode::None, "P"),
                           reply(Finish::ToolCalls, "x", "", "", {"toolu_b", "toolu_a"}, "blk"));
    ASSERT_TRUE(b);
    EXPECT_EQ(b->kind, Binding::Kind::Anthropic);
    EXPECT_EQ(b->call_ids, (std::vector<std::string>{"toolu_a", "toolu_b"}));
    EXPECT_FALSE(binding_after(job(Api::Messages, chat::ThinkMode::None, "P"),
                               reply(Finish::Length, "x", "", "", {"toolu_a"}, "blk")));
}

TEST(Bindings, ToollessThinkingChat) {
    const std::string prompt = "BOS sys" + U + "hi" + A + "<think>";
    for (Api api : {Api::Chat, Api::Messages}) {
        auto b = binding_after(job(api, chat::ThinkMode::High, prompt), reply(Finish::Stop, "mull</think>Hello", "mull", "Hello"));
        ASSERT_TRUE(b);
        EXPECT_EQ(b->kind, Binding::Kind::Thinking);
        EXPECT_EQ(b->visible_text, "BOS sys" + U + "hi" + A + "</think>Hello" + EOS) << "as the next prompt renders it";
    }
    // Not when the reasoning never closed, not without thinking, not with tools in the history,
    // not for legacy completions.
    EXPECT_FALSE(binding_after(job(Api::Chat, chat::ThinkMode::High, prompt), reply(Finish::Stop, "mull", "", "mull")));
    EXPECT_FALSE(binding_after(job(Api::Chat, chat::ThinkMode::None, "P" + A + "</think>"), reply(Finish::Stop, "x", "", "x")));
    chat::Conversation tools;
    tools.messages = {msg("user", "a"), calls({"c"}), output("tool", {"c"}, "r")};
    EXPECT_FALSE(binding_after(job(Api::Chat, chat::ThinkMode::High, prompt, tools), reply(Finish::Stop, "m</think>x", "m", "x")));
    EXPECT_FALSE(binding_after(job(Api::Completions, chat::ThinkMode::High, prompt), reply(Finish::Stop, "m</think>x", "m", "x")));
}

}  // namespace
}  // namespace dstar::server::api
