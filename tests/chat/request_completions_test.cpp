#include <gtest/gtest.h>

#include "chat/render.h"
#include "chat/request.h"
#include "request_test_util.h"

namespace dstar::chat {
namespace {

using test::expect_error;

std::string user_prompt(const std::string &body) {
    auto c = parse_completions_body(body);
    EXPECT_EQ(c.messages.size(), 2u);
    return c.messages.back().content;
}

TEST(RequestCompletions, PromptForms) {
    EXPECT_EQ(user_prompt(R"({"prompt":"p"})"), "p");
    EXPECT_EQ(user_prompt(R"({"prompt":["first","second"]})"), "first");
    EXPECT_EQ(user_prompt(R"({"prompt":[[1,2],"x"]})"), "");
    EXPECT_EQ(user_prompt(R"({"prompt":[]})"), "");
    EXPECT_EQ(user_prompt(R"({"prompt":null})"), "");
    expect_error([] { parse_completions_body(R"({"model":"m"})"); }, "missing prompt");
}

TEST(RequestCompletions, ModesAndTemplate) {
    auto c = parse_completions_body(R"({"prompt":"p","reasoning_effort":"max"})");
    EXPECT_EQ(c.think_mode, ThinkMode::Max);
    for (ThinkMode m : {ThinkMode::None, ThinkMode::High, ThinkMode::Max}) {
        EXPECT_EQ(render_chat_prompt(c, m), render_completion_prompt("p", m));
    }
    EXPECT_EQ(parse_completions_body(R"({"prompt":"p","think":false})").think_mode, ThinkMode::None);
    EXPECT_EQ(parse_completions_body(R"({"prompt":"p","model":"deepseek-chat"})").think_mode,
              ThinkMode::None);
    expect_error([] { parse_completions_body(R"({"prompt":"p","reasoning_effort":"big"})"); },
                 "unknown reasoning effort");
}

}  // namespace
}  // namespace dstar::chat
