#include <gtest/gtest.h>

#include "chat/prompt_text.h"
#include "chat/render.h"
#include "chat/request.h"
#include "request_test_util.h"

namespace dstar::chat {
namespace {

using test::expect_error;

Conversation parse(const std::string &body) { return parse_openai_chat_body(body); }

TEST(RequestOpenAI, BasicMessages) {
    auto c = parse(R"({"model":"m","messages":[{"role":"system","content":"S"},{"content":"hi"}]})");
    ASSERT_EQ(c.messages.size(), 2u);
    EXPECT_EQ(c.messages[0].role, "system");
    EXPECT_EQ(c.messages[1].role, "user");  // default role
    EXPECT_EQ(c.messages[1].content, "hi");
    EXPECT_EQ(c.model, "m");
    EXPECT_EQ(c.think_mode, ThinkMode::High);
    EXPECT_FALSE(c.has_tools());
}

TEST(RequestOpenAI, ContentForms) {
    auto c = parse(R"({"messages":[
        {"role":"user","content":null},
        {"role":"user","content":["a",{"type":"text","text":"b"},{"type":"image_url","image_url":{}},7,"c"]},
        {"role":"user","content":42},
        {"role":"assistant","content":"x","reasoning_content":[{"text":"r1"},{"text":"r2"}]}]})");
    ASSERT_EQ(c.messages.size(), 4u);
    EXPECT_EQ(c.messages[0].content, "");
    EXPECT_EQ(c.messages[1].content, "abc");
    EXPECT_EQ(c.messages[2].content, "");
    EXPECT_EQ(c.messages[3].reasoning, "r1r2");
}

TEST(RequestOpenAI, ToolCallsAndIds) {
    auto c = parse(R"({"messages":[
        {"role":"assistant","content":"","tool_calls":[
            {"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\": 1}"}},
            {"id":"c2","function":{"name":"g","arguments":{"b" : [1, 2]}}},
            {"id":"c3","function":{"name":"no_args"}},
            {"id":"c4","function":{"arguments":"{}"}}]},
        {"role":"tool","tool_call_id":"c1","content":"r"}]})");
    ASSERT_EQ(c.messages[0].tool_calls.size(), 2u);
    EXPECT_EQ(c.messages[0].tool_calls[0].id, "c1");
    EXPECT_EQ(c.messages[0].tool_calls[0].arguments, "{\"a\": 1}");
    EXPECT_EQ(c.messages[0].tool_calls[1].arguments, "{\"b\" : [1, 2]}");  // raw bytes
    EXPECT_EQ(c.messages[1].tool_call_id, "c1");
    EXPECT_EQ(c.messages[1].tool_call_ids, std::vector<std::string>{"c1"});
}

TEST(RequestOpenAI, RawArgumentsWithoutBodyAreReserialised) {
    const auto j = nlohmann::json::parse(
        R"({"messages":[{"role":"assistant","tool_calls":[{"function":{"name":"g","arguments":{"b" : [1, 2]}}}]}]})");
    auto c = parse_openai_chat(j);
    EXPECT_EQ(c.messages[0].tool_calls[0].arguments, "{\"b\":[1,2]}");
}

TEST(RequestOpenAI, ToolsAndToolChoice) {
    const std::string body = R"({"messages":[{"role":"user","content":"q"}],
        "tools":[{"type":"function","function":{"name":"a", "parameters":{}}},
                 {"name":"direct","input_schema":{}}],
        "tool_choice":"auto"})";
    auto c = parse(body);
    ASSERT_EQ(c.tool_schemas.size(), 2u);
    EXPECT_EQ(c.tool_schemas[0], R"({"name":"a", "parameters":{}})");
    EXPECT_EQ(c.tool_schemas[1], R"({"name":"direct","input_schema":{}})");
    ASSERT_EQ(c.tool_specs.size(), 2u);
    EXPECT_EQ(c.tool_specs[0].prompt_name, "a");
    EXPECT_EQ(c.tool_specs[1].prompt_name, "direct");
    EXPECT_TRUE(c.has_tools());

    auto none = parse(R"({"messages":[],"tools":[{"type":"function","function":{"name":"a"}}],"tool_choice":"none"})");
    EXPECT_FALSE(none.has_tools());
    EXPECT_EQ(none.tool_schemas.size(), 1u);
    auto null_tools = parse(R"({"messages":[],"tools":null})");
    EXPECT_TRUE(null_tools.tool_schemas.empty());
    auto object_choice = parse(R"({"messages":[],"tools":[{"type":"function","function":{}}],
                                   "tool_choice":{"type":"none"}})");
    EXPECT_TRUE(object_choice.has_tools());  // only the string "none" counts here
}

TEST(RequestOpenAI, ThinkingControls) {
    auto mode = [](const std::string &extra) {
        return parse(R"({"messages":[])" + extra + "}").think_mode;
    };
    EXPECT_EQ(mode(""), ThinkMode::High);
    EXPECT_EQ(mode(R"(,"thinking":false)"), ThinkMode::None);
    EXPECT_EQ(mode(R"(,"thinking":{"type":"disabled","budget_tokens":5})"), ThinkMode::None);
    EXPECT_EQ(mode(R"(,"thinking":{"type":"enabled"})"), ThinkMode::High);
    EXPECT_EQ(mode(R"(,"think":false)"), ThinkMode::None);
    EXPECT_EQ(mode(R"(,"reasoning_effort":"max")"), ThinkMode::Max);
    EXPECT_EQ(mode(R"(,"reasoning_effort":"low")"), ThinkMode::High);
    EXPECT_EQ(mode(R"(,"reasoning_effort":"none")"), ThinkMode::None);
    EXPECT_EQ(mode(R"(,"reasoning_effort":null)"), ThinkMode::High);
    EXPECT_EQ(mode(R"(,"model":"deepseek-chat")"), ThinkMode::None);
    EXPECT_EQ(mode(R"(,"model":"deepseek-chat","thinking":true)"), ThinkMode::High);
    // Any "thinking" field, even null, counts as an explicit control and disables the alias.
    EXPECT_EQ(mode(R"(,"model":"deepseek-chat","thinking":null)"), ThinkMode::High);
    EXPECT_EQ(mode(R"(,"model":"deepseek-reasoner","reasoning_effort":"max")"), ThinkMode::Max);
    EXPECT_EQ(mode(R"(,"thinking":false,"reasoning_effort":"max")"), ThinkMode::None);
}

TEST(RequestOpenAI, Errors) {
    expect_error([] { parse("{"); }, "invalid JSON request");
    expect_error([] { parse("[]"); }, "expected a JSON object");
    expect_error([] { parse(R"({"model":"x"})"); }, "missing messages");
    expect_error([] { parse(R"({"messages":{}})"); }, "messages: expected an array");
    expect_error([] { parse(R"({"messages":[1]})"); }, "messages[0]: expected an object");
    expect_error([] { parse(R"({"messages":[{"role":1}]})"); }, "messages[0].role: expected a string");
    expect_error([] { parse(R"({"messages":[{},{"content":[{"text":5}]}]})"); },
                 "messages[1].content[0].text: expected a string");
    expect_error([] { parse(R"({"messages":[{"tool_calls":{}}]})"); },
                 "messages[0].tool_calls: expected an array or null");
    expect_error([] { parse(R"({"messages":[{"tool_calls":[{"function":"f"}]}]})"); },
                 "messages[0].tool_calls[0].function: expected an object");
    expect_error([] { parse(R"({"messages":[],"reasoning_effort":"extreme"})"); },
                 "reasoning_effort: unknown reasoning effort \"extreme\"");
    expect_error([] { parse(R"({"messages":[],"reasoning_effort":3})"); },
                 "reasoning_effort: expected a string or null");
    expect_error([] { parse(R"({"messages":[],"think":"yes"})"); }, "think: expected a boolean");
    expect_error([] { parse(R"({"messages":[],"tools":{}})"); }, "tools: expected an array or null");
    expect_error([] { parse(R"({"messages":[],"model":null})"); }, "model: expected a string");
}

TEST(RequestOpenAI, EndToEndRender) {
    auto c = parse(R"({"messages":[{"role":"developer","content":"D"},{"role":"user","content":"q"}],
                       "reasoning_effort":"max"})");
    EXPECT_EQ(render_chat_prompt(c, think_mode_for_context(c.think_mode, 1000000)),
              "<｜begin▁of▁sentence｜>" + std::string(think_max_prefix()) +
                  "D<｜User｜>q<｜Assistant｜><think>");
}

}  // namespace
}  // namespace dstar::chat
