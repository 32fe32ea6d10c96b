#include <gtest/gtest.h>

#include "chat/render.h"
#include "chat/request.h"
#include "request_test_util.h"

namespace dstar::chat {
namespace {

using test::expect_error;

Conversation parse(const std::string &body) { return parse_openai_responses_body(body); }

TEST(RequestResponses, StringInputAndInstructions) {
    auto c = parse(R"({"input":"hello","instructions":"Be nice"})");
    ASSERT_EQ(c.messages.size(), 2u);
    EXPECT_EQ(c.messages[0].role, "system");
    EXPECT_EQ(c.messages[0].content, "Be nice");
    EXPECT_EQ(c.messages[1].role, "user");
    EXPECT_EQ(c.messages[1].content, "hello");
    auto no_instr = parse(R"({"input":"hello","instructions":null})");
    EXPECT_EQ(no_instr.messages.size(), 1u);
}

TEST(RequestResponses, MessagesReasoningAndCalls) {
    auto c = parse(R"({"input":[
      {"type":"message","role":"user","content":[{"type":"input_text","text":"q"}]},
      {"type":"reasoning","summary":[{"type":"summary_text","text":"s1"}],"content":[{"type":"reasoning_text","text":"c1"}]},
      {"type":"message","role":"assistant","content":[{"type":"output_text","text":"Let me look."}]},
      {"type":"function_call","call_id":"call_1","name":"read","arguments":"{\"path\":\"a\"}","status":"completed"},
      {"type":"function_call","id":"fc_2","namespace":"fs__","name":"list","arguments":"{}"},
      {"type":"function_call_output","call_id":"call_1","output":"data"},
      {"type":"function_call_output","call_id":"fc_2","output":[{"type":"input_text","text":"x"},"y"]},
      {"type":"custom_tool_call_output","call_id":"c3","output":{"ok" : true}},
      {"role":"user","content":"thanks"}]})");
    ASSERT_EQ(c.messages.size(), 6u);
    const Message &a = c.messages[1];
    EXPECT_EQ(a.role, "assistant");
    EXPECT_EQ(a.content, "Let me look.");
    EXPECT_EQ(a.reasoning, "s1\nc1");
    ASSERT_EQ(a.tool_calls.size(), 2u);
    EXPECT_EQ(a.tool_calls[0].id, "call_1");
    EXPECT_EQ(a.tool_calls[0].name, "read");
    EXPECT_EQ(a.tool_calls[1].id, "fc_2");
    EXPECT_EQ(a.tool_calls[1].name, "fs__list");
    EXPECT_EQ(c.messages[2].content, "data");
    EXPECT_EQ(c.messages[2].tool_call_id, "call_1");
    EXPECT_EQ(c.messages[3].content, "xy");
    EXPECT_EQ(c.messages[4].content, R"({"ok" : true})");  // raw bytes of a non-string output
    EXPECT_EQ(c.messages[5].content, "thanks");
}

TEST(RequestResponses, PendingReasoning) {
    // Reasoning before a user item becomes an empty assistant turn in place; trailing
    // reasoning becomes a final assistant turn; bookkeeping items are transparent.
    auto c = parse(R"({"input":[
      {"type":"reasoning","summary":[{"type":"summary_text","text":"r0"}]},
      {"type":"compaction","encrypted_content":"..."},
      {"role":"user","content":"q"},
      {"type":"reasoning","summary":[],"content":[{"type":"reasoning_text","text":"r1"}]},
      {"type":"custom_tool_call","call_id":"p1","name":"apply_patch","input":"*** Begin Patch"},
      {"type":"reasoning","summary":[{"type":"summary_text","text":"tail"}]}]})");
    ASSERT_EQ(c.messages.size(), 4u);
    EXPECT_EQ(c.messages[0].role, "assistant");
    EXPECT_EQ(c.messages[0].reasoning, "r0");
    EXPECT_EQ(c.messages[1].role, "user");
    EXPECT_EQ(c.messages[2].reasoning, "r1");
    ASSERT_EQ(c.messages[2].tool_calls.size(), 1u);
    EXPECT_EQ(c.messages[2].tool_calls[0].arguments, "*** Begin Patch");
    EXPECT_EQ(c.messages[3].reasoning, "tail");
    EXPECT_TRUE(c.messages[3].tool_calls.empty());
}

TEST(RequestResponses, ReasoningStaysPendingWhenTurnAlreadyHasOne) {
    auto c = parse(R"({"input":[
      {"role":"user","content":"q"},
      {"type":"reasoning","summary":[{"type":"summary_text","text":"a"}]},
      {"type":"message","role":"assistant","content":"m"},
      {"type":"reasoning","summary":[{"type":"summary_text","text":"b"}]},
      {"type":"function_call","call_id":"x","name":"f","arguments":"{}"},
      {"type":"function_call_output","call_id":"x","output":"o"}]})");
    ASSERT_EQ(c.messages.size(), 4u);
    EXPECT_EQ(c.messages[1].reasoning, "a");
    EXPECT_EQ(c.messages[1].tool_calls.size(), 1u);
    EXPECT_EQ(c.messages[2].role, "assistant");  // "b" flushed before the tool output
    EXPECT_EQ(c.messages[2].reasoning, "b");
    EXPECT_EQ(c.messages[3].role, "tool");
}

TEST(RequestResponses, HostedCalls) {
    auto c = parse(R"({"input":[
      {"type":"local_shell_call","call_id":"l1","action":{"type":"exec","command":["ls"]}},
      {"type":"local_shell_call_output","call_id":"l1","output":"files"},
      {"type":"web_search_call","id":"w1","status":"completed"},
      {"type":"tool_search_call","call_id":"t1","arguments":{"query":"x"}},
      {"type":"tool_search_output","call_id":"t1","tools":[{"type":"function","function":{"name":"found"}}]}]})");
    ASSERT_EQ(c.messages.size(), 4u);
    EXPECT_EQ(c.messages[0].tool_calls[0].name, "local_shell");
    EXPECT_EQ(c.messages[0].tool_calls[0].arguments, R"({"type":"exec","command":["ls"]})");
    EXPECT_EQ(c.messages[1].content, "files");
    ASSERT_EQ(c.messages[2].tool_calls.size(), 2u);
    EXPECT_EQ(c.messages[2].tool_calls[0].name, "web_search_call");
    EXPECT_EQ(c.messages[2].tool_calls[0].arguments, "{}");
    EXPECT_EQ(c.messages[2].tool_calls[1].name, "tool_search");
    EXPECT_EQ(c.messages[3].content, R"([{"type":"function","function":{"name":"found"}}])");
    ASSERT_EQ(c.tool_schemas.size(), 1u);  // loaded by tool_search_output
    EXPECT_EQ(c.tool_schemas[0], R"({"name":"found"})");
}

TEST(RequestResponses, ToolSchemas) {
    auto c = parse(R"({"input":"q","tools":[
      {"type":"function","name":"flat","parameters":{"type":"object"}},
      {"type":"namespace","name":"mcp__fs__","tools":[
         {"type":"function","name":"read","description":"Read \"it\"","parameters":{"a" : 1}},
         {"name":"stat"},
         {"type":"custom","name":"skip"}]},
      {"type":"tool_search","description":"Find tools"},
      {"type":"custom","name":"apply_patch","format":{}}]})");
    ASSERT_EQ(c.tool_schemas.size(), 5u);
    EXPECT_EQ(c.tool_schemas[0], R"({"type":"function","name":"flat","parameters":{"type":"object"}})");
    EXPECT_EQ(c.tool_schemas[1],
              R"({"name":"mcp__fs__read","description":"Read \"it\"","parameters":{"a" : 1}})");
    EXPECT_EQ(c.tool_schemas[2],
              R"({"name":"mcp__fs__stat","description":"","parameters":{"type":"object","properties":{}}})");
    EXPECT_EQ(c.tool_schemas[3],
              R"({"name":"tool_search","description":"Find tools","parameters":{"type":"object","properties":{}}})");
    EXPECT_EQ(c.tool_schemas[4], R"({"type":"custom","name":"apply_patch","format":{}})");
    ASSERT_EQ(c.tool_specs.size(), 5u);
    EXPECT_EQ(c.tool_specs[1].prompt_name, "mcp__fs__read");
    EXPECT_EQ(c.tool_specs[1].wire_name, "read");
    EXPECT_EQ(c.tool_specs[1].ns, "mcp__fs__");
    EXPECT_TRUE(c.tool_specs[3].tool_search);
}

TEST(RequestResponses, ToolChoiceAndReasoning) {
    EXPECT_FALSE(parse(R"({"input":"q","tools":[{"name":"a"}],"tool_choice":"none"})").has_tools());
    EXPECT_TRUE(parse(R"({"input":"q","tools":[{"name":"a"}],"tool_choice":"auto"})").has_tools());
    expect_error([] { parse(R"({"input":"q","tool_choice":"required"})"); },
                 "tool_choice=required not supported");
    expect_error([] { parse(R"({"input":"q","tool_choice":{"type":"function","name":"a"}})"); },
                 "forced tool_choice not supported");

    EXPECT_EQ(parse(R"({"input":"q","reasoning":{"effort":"max"}})").think_mode, ThinkMode::Max);
    EXPECT_EQ(parse(R"({"input":"q","reasoning":{"effort":"none"}})").think_mode, ThinkMode::None);
    EXPECT_EQ(parse(R"({"input":"q","reasoning":{"effort":"minimal"}})").think_mode, ThinkMode::High);
    EXPECT_EQ(parse(R"({"input":"q","model":"deepseek-chat","reasoning":{"summary":"auto"}})").think_mode,
              ThinkMode::None);  // summary alone is not a thinking control
    EXPECT_EQ(parse(R"({"input":"q","model":"deepseek-chat","reasoning":{"effort":"high"}})").think_mode,
              ThinkMode::High);
    EXPECT_TRUE(parse(R"({"input":"q","reasoning":{"summary":"detailed"}})").reasoning_summary);
    EXPECT_FALSE(parse(R"({"input":"q","reasoning":{"summary":"none"}})").reasoning_summary);
}

TEST(RequestResponses, Errors) {
    expect_error([] { parse(R"({"instructions":"x"})"); }, "missing input");
    expect_error([] { parse(R"({"input":5})"); }, "input: expected a string or an array");
    expect_error([] { parse(R"({"input":[{"type":"function_call","status":"in_progress"}]})"); },
                 "input[0].status");
    expect_error([] { parse(R"({"input":[{"type":"mystery"}]})"); },
                 "input[0].type: unsupported input item type \"mystery\"");
    expect_error([] { parse(R"({"input":[{"role":"user","content":[{"type":"input_image","image_url":"x"}]}]})"); },
                 "input[0].content[0]: unsupported content part type \"input_image\"");
    expect_error([] { parse(R"({"input":[{"role":"user","content":[{"type":"input_text"}]}]})"); },
                 "input[0].content[0]: missing text");
    expect_error([] { parse(R"({"input":[{"role":"user","content":[5]}]})"); },
                 "input[0].content[0]: expected a string or a text part");
    expect_error([] { parse(R"({"input":[],"previous_response_id":"resp_1"})"); },
                 "previous_response_id is not supported");
    expect_error([] { parse(R"({"input":[{"type":"tool_search_output","tools":5}]})"); },
                 "input[0].tools: expected an array or null");
    EXPECT_NO_THROW(parse(R"({"input":[],"previous_response_id":null,"conversation":null})"));
}

TEST(RequestResponses, RendersMergedTurn) {
    auto c = parse(R"({"input":[{"role":"user","content":"q"},
      {"type":"message","role":"assistant","content":"m"},
      {"type":"function_call","call_id":"x","name":"f","arguments":"{\"a\":\"b\"}"},
      {"type":"function_call_output","call_id":"x","output":"o"}],"reasoning":{"effort":"none"}})");
    EXPECT_EQ(render_chat_prompt(c, c.think_mode),
              "<｜begin▁of▁sentence｜><｜User｜>q<｜Assistant｜></think>m\n\n<｜DSML｜tool_calls>\n"
              "<｜DSML｜invoke name=\"f\">\n<｜DSML｜parameter name=\"a\" string=\"true\">b</｜DSML｜parameter>\n"
              "</｜DSML｜invoke>\n</｜DSML｜tool_calls><｜end▁of▁sentence｜><｜User｜><tool_result>o</tool_result>"
              "<｜Assistant｜></think>");
}

}  // namespace
}  // namespace dstar::chat
