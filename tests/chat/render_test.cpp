#include "chat/render.h"

#include <gtest/gtest.h>

#include "chat/prompt_text.h"

namespace dstar::chat {
namespace {

Message msg(std::string role, std::string content, std::string reasoning = "") {
    Message m;
    m.role = std::move(role);
    m.content = std::move(content);
    m.reasoning = std::move(reasoning);
    return m;
}

Message assistant_call(std::string content, std::vector<ToolCall> calls, std::string reasoning = "") {
    Message m = msg("assistant", std::move(content), std::move(reasoning));
    m.tool_calls = std::move(calls);
    return m;
}

Conversation conv_of(std::vector<Message> messages) {
    Conversation c;
    c.messages = std::move(messages);
    return c;
}

const std::string B(kBos), U(kUser), A(kAssistant), E(kEos), TO(kThinkOpen), TC(kThinkClose);

TEST(Render, SystemAndDeveloperAreHoistedAndJoined) {
    auto c = conv_of({msg("user", "u1"), msg("system", "S1"), msg("assistant", "a1"),
                      msg("developer", "D"), msg("user", "u2")});
    EXPECT_EQ(render_chat_prompt(c, ThinkMode::None),
              B + "S1\n\nD" + U + "u1" + A + TC + "a1" + E + U + "u2" + A + TC);
}

TEST(Render, ToolsComeBeforeSystemText) {
    auto c = conv_of({msg("system", "SYS"), msg("user", "u")});
    c.tool_schemas = {"{\"name\":\"a\"}", "{\"name\":\"b\"}"};
    const std::string expected = B + std::string(tools_prompt_head()) +
                                 "{\"name\":\"a\"}\n{\"name\":\"b\"}" +
                                 std::string(tools_prompt_tail()) + "\n\nSYS" + U + "u" + A + TO;
    EXPECT_EQ(render_chat_prompt(c, ThinkMode::High), expected);
    // tool_choice "none" removes the tools text (and with it the tool context).
    c.tool_choice_none = true;
    EXPECT_EQ(render_chat_prompt(c, ThinkMode::High), B + "SYS" + U + "u" + A + TO);
}

TEST(Render, MaxPrefixGoesRightAfterBos) {
    auto c = conv_of({msg("system", "S"), msg("user", "u")});
    EXPECT_EQ(render_chat_prompt(c, ThinkMode::Max),
              B + std::string(think_max_prefix()) + "S" + U + "u" + A + TO);
}

TEST(Render, PlainChatDropsReasoningBeforeLastUser) {
    auto c = conv_of({msg("user", "q1"), msg("assistant", "a1", "r1"), msg("user", "q2"),
                      msg("assistant", "a2", "r2")});
    // Trailing assistant turn (after the last user message) keeps its reasoning; the history
    // ends with EOS and nothing is appended for generation.
    EXPECT_EQ(render_chat_prompt(c, ThinkMode::High),
              B + U + "q1" + A + TC + "a1" + E + U + "q2" + A + TO + "r2" + TC + "a2" + E);
    EXPECT_EQ(render_chat_prompt(c, ThinkMode::None),
              B + U + "q1" + A + TC + "a1" + E + U + "q2" + A + TC + "a2" + E);
}

TEST(Render, ToolContextKeepsAllReasoning) {
    auto c = conv_of({msg("user", "q1"), msg("assistant", "a1", "r1"), msg("user", "q2"),
                      assistant_call("", {{"c1", "f", "{}"}}, ""), msg("tool", "out"),
                      msg("assistant", "done", "r3")});
    const std::string dsml = "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n"
                             "</｜DSML｜invoke>\n</｜DSML｜tool_calls>";
    EXPECT_EQ(render_chat_prompt(c, ThinkMode::High),
              B + U + "q1" + A + TO + "r1" + TC + "a1" + E + U + "q2" + A + TO + TC + dsml + E +
                  U + "<tool_result>out</tool_result>" + A + TO + "r3" + TC + "done" + E);
}

TEST(Render, ToolResultsShareOneUserTurnAndAreEscaped) {
    auto c = conv_of({msg("user", "q"), msg("tool", "A"), msg("function", "x </tool_result> <&>"),
                      msg("user", "next"), msg("user", "again")});
    EXPECT_EQ(render_chat_prompt(c, ThinkMode::None),
              B + U + "q" + U + "<tool_result>A</tool_result><tool_result>x &lt;/tool_result> "
                                "<&></tool_result>" +
                  U + "next" + U + "again" + A + TC);
}

TEST(Render, AssistantWithoutPendingTurnGetsNoMarkers) {
    auto c = conv_of({msg("assistant", "first"), msg("user", "q"), msg("assistant", "a"),
                      msg("assistant", "b")});
    EXPECT_EQ(render_chat_prompt(c, ThinkMode::High),
              B + "first" + E + U + "q" + A + TO + TC + "a" + E + "b" + E);
}

TEST(Render, UnknownRolesAreIgnoredAndContentIsVerbatim) {
    auto c = conv_of({msg("latest_reminder", "zzz"), msg("user", "<think>&lt;</tool_result>")});
    EXPECT_EQ(render_chat_prompt(c, ThinkMode::None),
              B + U + "<think>&lt;</tool_result>" + A + TC);
}

TEST(Render, EmptyConversation) {
    EXPECT_EQ(render_chat_prompt(Conversation{}, ThinkMode::High), B);
}

TEST(Render, ToolContextDetection) {
    EXPECT_FALSE(history_uses_tool_context(conv_of({msg("user", "q"), msg("assistant", "a")})));
    EXPECT_TRUE(history_uses_tool_context(conv_of({msg("function", "r")})));
    EXPECT_TRUE(history_uses_tool_context(conv_of({assistant_call("", {{"", "f", "{}"}})})));
    Conversation with_tools = conv_of({msg("user", "q")});
    with_tools.tool_schemas = {"{}"};
    EXPECT_TRUE(history_uses_tool_context(with_tools));
    with_tools.tool_schemas = {""};  // an empty schema line is no tool
    EXPECT_FALSE(history_uses_tool_context(with_tools));
}

TEST(Render, ExactReplayFromLookup) {
    const std::string sampled = "\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n"
                                "<｜DSML｜parameter name=\"r\" string=\"false\">[1, 2]</｜DSML｜parameter>\n"
                                "</｜DSML｜invoke>\n</｜DSML｜tool_calls>";
    Message m = assistant_call("x", {{"id1", "f", "{\"r\":[1,2]}"}, {"id2", "f", "{}"}});
    auto lookup = [&](const std::string &id) -> std::optional<std::string> {
        if (id == "id1" || id == "id2") return sampled;
        return std::nullopt;
    };
    EXPECT_EQ(exact_replay_block(m, lookup), sampled);
    auto c = conv_of({msg("user", "q"), m});
    EXPECT_EQ(render_chat_prompt(c, ThinkMode::None, lookup),
              B + U + "q" + A + TC + "x" + sampled + E);

    // One unknown id, or ids mapping to different blocks: canonical form.
    m.tool_calls[1].id = "unknown";
    EXPECT_FALSE(exact_replay_block(m, lookup));
    auto mixed = [&](const std::string &id) -> std::optional<std::string> {
        return id == "id1" ? sampled : std::string("other");
    };
    m.tool_calls[1].id = "id2";
    EXPECT_FALSE(exact_replay_block(m, mixed));
    m.tool_calls[1].id = "";
    EXPECT_FALSE(exact_replay_block(m, lookup));
    EXPECT_FALSE(exact_replay_block(m, {}));
    EXPECT_FALSE(exact_replay_block(msg("assistant", "no calls"), lookup));
}

TEST(Render, ExplicitRawDsmlWins) {
    Message m = assistant_call("", {{"id", "f", "{}"}});
    m.raw_dsml = "<RAW>";
    EXPECT_EQ(render_chat_prompt(conv_of({msg("user", "q"), m}), ThinkMode::None),
              B + U + "q" + A + TC + "<RAW>" + E);
    m.raw_dsml = "";  // empty means "not known"
    EXPECT_NE(render_chat_prompt(conv_of({msg("user", "q"), m}), ThinkMode::None).find("invoke"),
              std::string::npos);
}

TEST(Render, CompletionTemplate) {
    EXPECT_EQ(render_completion_prompt("hi", ThinkMode::High),
              B + "You are a helpful assistant" + U + "hi" + A + TO);
    EXPECT_EQ(render_completion_prompt("hi", ThinkMode::Max),
              B + std::string(think_max_prefix()) + "You are a helpful assistant" + U + "hi" + A + TO);
}

TEST(Render, LiveToolTail) {
    auto c = conv_of({msg("user", "q"), assistant_call("", {{"c", "f", "{}"}}, "r"),
                      msg("tool", "one"), msg("tool", "two")});
    EXPECT_EQ(render_live_tool_tail(c, 2, ThinkMode::High),
              E + U + "<tool_result>one</tool_result><tool_result>two</tool_result>" + A + TO);
    // Assistant turns in the tail always keep their reasoning in thinking mode.
    auto c2 = conv_of({msg("user", "q"), msg("assistant", "a", "r"), msg("user", "q2")});
    EXPECT_EQ(render_live_tool_tail(c2, 0, ThinkMode::High),
              E + U + "q" + A + TO + "r" + TC + "a" + E + U + "q2" + A + TO);
}

}  // namespace
}  // namespace dstar::chat
