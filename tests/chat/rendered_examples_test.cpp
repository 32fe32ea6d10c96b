// Acceptance tests: every request in spec/data/rendered_examples, parsed and rendered, must
// give ds4's prompt byte for byte.
#include <gtest/gtest.h>

#include "chat/render.h"
#include "chat/request.h"
#include "test_util.h"

namespace dstar::chat {
namespace {

std::string example(const std::string &name) {
    bool ok = false;
    std::string bytes = test::read_bytes(test::spec_data_path("rendered_examples/" + name), &ok);
    if (!ok) ADD_FAILURE() << "missing spec example " << name;
    return bytes;
}

// The examples do not all carry their thinking flag in the request (spec section 9 states it),
// so each test names the requested mode; the session context decides whether MAX survives.
std::string render_openai(const std::string &request, ThinkMode requested, int64_t ctx = 65536) {
    Conversation conv = parse_openai_chat_body(example(request));
    return render_chat_prompt(conv, think_mode_for_context(requested, ctx));
}

TEST(RenderedExamples, Ex1NonThinkingSystem) {
    EXPECT_EQ(render_openai("ex1_request.json", ThinkMode::None),
              example("ex1_nonthinking_system.txt"));
}

TEST(RenderedExamples, Ex2ThinkingMultiTurnDropsOldReasoning) {
    Conversation conv = parse_openai_chat_body(example("ex2_request.json"));
    EXPECT_EQ(conv.think_mode, ThinkMode::High);  // the default
    EXPECT_EQ(render_chat_prompt(conv, conv.think_mode), example("ex2_thinking_multiturn.txt"));
}

TEST(RenderedExamples, Ex3ThinkMax) {
    EXPECT_EQ(render_openai("ex3_request.json", ThinkMode::Max, kThinkMaxMinContext),
              example("ex3_think_max.txt"));
    // With a smaller context the prefix disappears and plain thinking is rendered.
    const std::string high = render_openai("ex3_request.json", ThinkMode::Max, 100000);
    EXPECT_EQ(high.find("Reasoning Effort"), std::string::npos);
    EXPECT_EQ(high, render_openai("ex3_request.json", ThinkMode::High));
}

TEST(RenderedExamples, Ex4ToolsThinking) {
    EXPECT_EQ(render_openai("ex4_request.json", ThinkMode::High), example("ex4_tools_thinking.txt"));
}

TEST(RenderedExamples, Ex5ParallelToolsNonThinking) {
    EXPECT_EQ(render_openai("ex5_request.json", ThinkMode::None),
              example("ex5_parallel_tools_nonthinking.txt"));
}

TEST(RenderedExamples, Ex6Anthropic) {
    Conversation conv = parse_anthropic_messages_body(example("ex6_anthropic_request.json"));
    EXPECT_EQ(render_chat_prompt(conv, think_mode_for_context(conv.think_mode, 65536)),
              example("ex6_anthropic_tools_thinking.txt"));
}

TEST(RenderedExamples, Ex7Completions) {
    const std::string body =
        R"({"model":"deepseek-v4-flash","prompt":"Write a haiku about Redis.","thinking":false})";
    Conversation conv = parse_completions_body(body);
    EXPECT_EQ(conv.think_mode, ThinkMode::None);
    EXPECT_EQ(render_chat_prompt(conv, conv.think_mode), example("ex7_completions_nonthinking.txt"));
    EXPECT_EQ(render_completion_prompt("Write a haiku about Redis.", ThinkMode::None),
              example("ex7_completions_nonthinking.txt"));
}

// The schemas in ex4/ex5 must be the client's bytes: a pretty-printed schema stays pretty.
TEST(RenderedExamples, SchemaBytesAreKeptVerbatim) {
    const std::string body =
        "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"tools\":[{\"type\":\"function\","
        "\"function\": {\n  \"name\" : \"f\",\n  \"parameters\": {\"x\": 1.50, \"s\": \"\\u00e9\"}\n}}]}";
    const std::string out = render_chat_prompt(parse_openai_chat_body(body), ThinkMode::None);
    EXPECT_NE(out.find("### Available Tool Schemas\n\n{\n  \"name\" : \"f\",\n  \"parameters\": "
                       "{\"x\": 1.50, \"s\": \"\\u00e9\"}\n}\n\nYou MUST"),
              std::string::npos)
        << out;
}

}  // namespace
}  // namespace dstar::chat
