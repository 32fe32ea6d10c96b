#include <gtest/gtest.h>

#include "chat/render.h"
#include "chat/request.h"
#include "request_test_util.h"

namespace dstar::chat {
namespace {

using test::expect_error;

Conversation parse(const std::string &body) { return parse_anthropic_messages_body(body); }

TEST(RequestAnthropic, SystemForms) {
    auto system_of = [](const std::string &sys) {
        auto c = parse(R"({"messages":[],"system":)" + sys + "}");
        for (const auto &m : c.messages) {
            if (m.role == "system") return m.content;
        }
        return std::string("<none>");
    };
    EXPECT_EQ(system_of(R"("plain")"), "plain");
    EXPECT_EQ(system_of(R"(null)"), "<none>");
    EXPECT_EQ(system_of(R"("")"), "<none>");
    EXPECT_EQ(system_of(R"("x-anthropic-billing")"), "<none>");
    EXPECT_EQ(system_of(R"(["a",{"type":"text","text":"b\n"},{"text":"c"},{"cache_control":{}},5,"",{"text":"x-anthropic-z"}])"),
              "a\nb\nc");
    EXPECT_EQ(system_of(R"(42)"), "<none>");
}

TEST(RequestAnthropic, SystemMessageIsAppendedLast) {
    auto c = parse(R"({"system":"S","messages":[{"role":"user","content":"q"}]})");
    ASSERT_EQ(c.messages.size(), 2u);
    EXPECT_EQ(c.messages[1].role, "system");
    EXPECT_EQ(render_chat_prompt(c, ThinkMode::None),
              "<｜begin▁of▁sentence｜>S<｜User｜>q<｜Assistant｜></think>");
}

TEST(RequestAnthropic, ContentBlocks) {
    auto c = parse(R"({"messages":[
      {"role":"user","content":["raw ",{"type":"text","text":"a"},{"type":"image","source":{}},{"type":"text","text":"b"}]},
      {"content":[{"type":"thinking","thinking":"t1","signature":"s"},{"type":"redacted_thinking","data":"x"},
                  {"type":"text","text":"answer"},
                  {"type":"tool_use","id":"tu1","name":"f","input":{"k" :  "v"}},
                  {"type":"tool_use","name":"g"}],
       "role":"assistant"},
      {"role":"user","content":[{"type":"tool_result","tool_use_id":"tu1","content":[{"type":"text","text":"x </tool_result>"},{"type":"text","text":"y"}]},
                                {"type":"tool_result","tool_use_id":"tu2","content":"z","is_error":true},
                                {"type":"text","text":"thanks"}]}]})");
    ASSERT_EQ(c.messages.size(), 3u);
    EXPECT_EQ(c.messages[0].content, "raw ab");
    const Message &a = c.messages[1];
    EXPECT_EQ(a.role, "assistant");
    EXPECT_EQ(a.reasoning, "t1");
    EXPECT_EQ(a.content, "answer");
    ASSERT_EQ(a.tool_calls.size(), 2u);
    EXPECT_EQ(a.tool_calls[0].id, "tu1");
    EXPECT_EQ(a.tool_calls[0].arguments, R"({"k" :  "v"})");  // raw input bytes
    EXPECT_EQ(a.tool_calls[1].id, "");
    EXPECT_EQ(a.tool_calls[1].arguments, "{}");
    const Message &u = c.messages[2];
    EXPECT_EQ(u.content,
              "<tool_result>x &lt;/tool_result>y</tool_result><tool_result>z</tool_result>thanks");
    EXPECT_EQ(u.tool_call_ids, (std::vector<std::string>{"tu1", "tu2"}));
    EXPECT_EQ(u.tool_call_id, "tu1");
}

TEST(RequestAnthropic, ToolResultsRenderLikeOpenAIToolMessages) {
    auto anth = parse(R"({"thinking":{"type":"disabled"},"messages":[{"role":"user","content":"q"},
        {"role":"assistant","content":[{"type":"tool_use","id":"a","name":"f","input":{}}]},
        {"role":"user","content":[{"type":"tool_result","tool_use_id":"a","content":"r1"},
                                  {"type":"tool_result","tool_use_id":"b","content":"r2"}]}]})");
    auto oai = parse_openai_chat_body(R"({"thinking":false,"messages":[{"role":"user","content":"q"},
        {"role":"assistant","content":"","tool_calls":[{"id":"a","function":{"name":"f","arguments":"{}"}}]},
        {"role":"tool","tool_call_id":"a","content":"r1"},{"role":"tool","tool_call_id":"b","content":"r2"}]})");
    EXPECT_EQ(anth.think_mode, ThinkMode::None);
    EXPECT_EQ(render_chat_prompt(anth, anth.think_mode), render_chat_prompt(oai, oai.think_mode));
}

TEST(RequestAnthropic, ToolsAndChoice) {
    auto c = parse(R"({"messages":[],"tools":[{"name":"Bash","input_schema":{"type":"object"}}],
                       "tool_choice":{"type":"auto"}})");
    EXPECT_TRUE(c.has_tools());
    EXPECT_EQ(c.tool_schemas[0], R"({"name":"Bash","input_schema":{"type":"object"}})");
    auto none = parse(R"({"messages":[],"tools":[{"name":"Bash"}],"tool_choice":{"type":"none"}})");
    EXPECT_FALSE(none.has_tools());
    auto string_choice = parse(R"({"messages":[],"tools":[{"name":"Bash"}],"tool_choice":"none"})");
    EXPECT_TRUE(string_choice.has_tools());  // Anthropic's choice is an object
}

TEST(RequestAnthropic, ThinkingControls) {
    auto mode = [](const std::string &extra) {
        return parse(R"({"messages":[])" + extra + "}").think_mode;
    };
    EXPECT_EQ(mode(""), ThinkMode::High);
    EXPECT_EQ(mode(R"(,"thinking":{"type":"enabled","budget_tokens":1024})"), ThinkMode::High);
    EXPECT_EQ(mode(R"(,"thinking":{"type":"disabled"})"), ThinkMode::None);
    EXPECT_EQ(mode(R"(,"output_config":{"effort":"max"})"), ThinkMode::Max);
    EXPECT_EQ(mode(R"(,"output_config":{"effort":null})"), ThinkMode::High);
    EXPECT_EQ(mode(R"(,"output_config":"ignored")"), ThinkMode::High);
    EXPECT_EQ(mode(R"(,"reasoning_effort":"none")"), ThinkMode::None);
    EXPECT_EQ(mode(R"(,"model":"deepseek-chat")"), ThinkMode::None);
    expect_error([&] { mode(R"(,"output_config":{"effort":"huge"})"); },
                 "output_config.effort: unknown reasoning effort");
}

TEST(RequestAnthropic, Errors) {
    expect_error([] { parse(R"({"system":"x"})"); }, "missing messages");
    expect_error([] { parse(R"({"messages":[{"content":[{"type":7}]}]})"); },
                 "messages[0].content[0].type: expected a string");
    expect_error([] { parse(R"({"messages":[{"content":[{"type":"tool_use","name":1}]}]})"); },
                 "messages[0].content[0].name: expected a string");
    expect_error([] { parse(R"({"messages":[],"system":[{"text":1}]})"); },
                 "system[0].text: expected a string");
}

}  // namespace
}  // namespace dstar::chat
