// kvcache.md §2 rules 1-6 and the live fork on hand-built sessions and requests.
#include "server/worker/live_reuse.h"

#include <gtest/gtest.h>

#include "worker_test_util.h"

namespace dstar::server::worker {
namespace {

class LiveReuseTest : public test::TinyTokenizerTest {
protected:
    static JobRequest request(const std::string &text, Api api = Api::Chat) { return job(text, 1, 1, api); }
};

TEST_F(LiveReuseTest, EmptySessionReusesNothing) {
    const LiveMatch m = match_live(request(chat_text("hi")), {}, nullptr, tok());
    EXPECT_EQ(m.rule, LiveRule::None);
    EXPECT_EQ(m.cached, 0u);
    EXPECT_STREQ(live_rule_label(m.rule), "none");
}

TEST_F(LiveReuseTest, TokenPrefixIsMemoryTokenWithTheFullPrompt) {
    const std::string t1 = chat_text("hi");
    const std::vector<int32_t> live = tok().encode_rendered(t1);
    const JobRequest req = request(t1 + "more" + eos());
    const LiveMatch m = match_live(req, live, nullptr, tok());
    EXPECT_EQ(m.rule, LiveRule::MemoryToken);
    EXPECT_EQ(m.cached, live.size());
    EXPECT_EQ(m.effective, req.prompt_tokens);
    // A prompt shorter than the live tokens is not a continuation.
    EXPECT_EQ(match_live(request(bos()), live, nullptr, tok()).rule, LiveRule::None);
}

TEST_F(LiveReuseTest, TextPrefixKeepsTheLiveTokensAndTokenizesOnlyTheSuffix) {
    const std::string t1 = chat_text("hi");
    // The live session spelled its last word byte by byte, as a sampler may have.
    std::vector<int32_t> live = tok().encode_rendered(t1);
    for (char ch : std::string("hello")) live.push_back(tok().encode_text(std::string(1, ch)).at(0));
    const JobRequest req = request(t1 + "hello world" + eos());
    ASSERT_FALSE(std::equal(live.begin(), live.end(), req.prompt_tokens.begin()));
    const LiveMatch m = match_live(req, live, nullptr, tok());
    EXPECT_EQ(m.rule, LiveRule::MemoryText);
    EXPECT_EQ(m.cached, live.size());
    std::vector<int32_t> expected = live;
    tok().encode_rendered(" world" + eos(), expected);
    EXPECT_EQ(m.effective, expected);
}

TEST_F(LiveReuseTest, VisibleBindingsNeedAStrictPrefixAndTheRightApi) {
    const std::string t1 = chat_text("question", true);
    std::vector<int32_t> live = tok().encode_rendered(t1 + "hidden reasoning");
    const std::string visible = chat_text("question") + "answer" + eos();
    const std::string t2 = visible + user() + "next" + assistant() + think_open();
    const Binding thinking{Binding::Kind::Thinking, visible, {}};

    for (Api api : {Api::Chat, Api::Messages}) {
        const LiveMatch m = match_live(request(t2, api), live, &thinking, tok());
        EXPECT_EQ(m.rule, LiveRule::ThinkingVisible);
        EXPECT_EQ(m.cached, live.size());
        std::vector<int32_t> expected = live;
        tok().encode_rendered(std::string_view(t2).substr(visible.size()), expected);
        EXPECT_EQ(m.effective, expected);
        EXPECT_TRUE(live_rule_uses_binding(m.rule));
        EXPECT_FALSE(live_rule_is_tool_binding(m.rule));
    }
    // Not for Responses or legacy completions; not when V is the whole prompt.
    EXPECT_EQ(match_live(request(t2, Api::Responses), live, &thinking, tok()).rule, LiveRule::None);
    EXPECT_EQ(match_live(request(t2, Api::Completions), live, &thinking, tok()).rule, LiveRule::None);
    EXPECT_EQ(match_live(request(visible), live, &thinking, tok()).rule, LiveRule::None);

    const Binding responses{Binding::Kind::Responses, visible, {}};
    EXPECT_EQ(match_live(request(t2, Api::Responses), live, &responses, tok()).rule, LiveRule::ResponsesVisible);
    EXPECT_EQ(match_live(request(t2, Api::Chat), live, &responses, tok()).rule, LiveRule::None);
}

TEST_F(LiveReuseTest, ResponsesVisibleComesBeforeMemoryToken) {
    const std::string t1 = chat_text("q");
    const std::vector<int32_t> live = tok().encode_rendered(t1);
    const Binding b{Binding::Kind::Responses, t1, {}};
    const LiveMatch m = match_live(request(t1 + "x", Api::Responses), live, &b, tok());
    EXPECT_EQ(m.rule, LiveRule::ResponsesVisible);
    // Without the binding the same request is a token continuation.
    EXPECT_EQ(match_live(request(t1 + "x", Api::Responses), live, nullptr, tok()).rule, LiveRule::MemoryToken);
}

TEST_F(LiveReuseTest, ToolOutputsMustAnswerExactlyTheBindingsCalls) {
    const std::vector<int32_t> live = tok().encode_rendered(chat_text("use tools") + "calls");
    const std::string tail = eos() + user() + "<tool_result>1</tool_result>" + assistant() + think_close();
    const Binding responses{Binding::Kind::Responses, "", {"a", "b"}};
    const Binding anthropic{Binding::Kind::Anthropic, "", {"a", "b"}};

    JobRequest req = request(chat_text("unrelated"), Api::Responses);
    req.tool_tail = ToolOutputTail{{"a", "b"}, tail};
    LiveMatch m = match_live(req, live, &responses, tok());
    EXPECT_EQ(m.rule, LiveRule::ResponsesToolOutput);
    EXPECT_EQ(m.matched_ids, 2u);
    std::vector<int32_t> expected = live;
    tok().encode_rendered(tail, expected);
    EXPECT_EQ(m.effective, expected);
    EXPECT_TRUE(live_rule_is_tool_binding(m.rule));
    // Wrong binding kind for the API, or a different id set: no match.
    EXPECT_EQ(match_live(req, live, &anthropic, tok()).rule, LiveRule::None);
    req.tool_tail->call_ids = {"a"};
    EXPECT_EQ(match_live(req, live, &responses, tok()).rule, LiveRule::None);

    JobRequest areq = request(chat_text("unrelated"), Api::Messages);
    areq.tool_tail = ToolOutputTail{{"a", "b"}, tail};
    EXPECT_EQ(match_live(areq, live, &anthropic, tok()).rule, LiveRule::AnthropicToolOutput);
    EXPECT_EQ(match_live(areq, live, &responses, tok()).rule, LiveRule::None);
}

TEST_F(LiveReuseTest, ForkNeedsAPrefixOfTheMinimumLength) {
    const std::string t1 = chat_text("shared " + words(20));
    const std::vector<int32_t> live = tok().encode_rendered(t1);
    const JobRequest req = request(t1 + "more");
    auto f = match_fork(req, live, static_cast<uint32_t>(live.size()), tok());
    ASSERT_TRUE(f.has_value());
    EXPECT_EQ(f->cached, live.size());
    EXPECT_EQ(f->effective, req.prompt_tokens);
    EXPECT_FALSE(match_fork(req, live, static_cast<uint32_t>(live.size()) + 1, tok()).has_value());
    EXPECT_FALSE(match_fork(request(chat_text("other")), live, 1, tok()).has_value());
    // A byte prefix with a different tokenization also forks, keeping the live tokens.
    std::vector<int32_t> bytes = live;
    for (char ch : std::string("mo")) bytes.push_back(tok().encode_text(std::string(1, ch)).at(0));
    auto g = match_fork(req, bytes, 1, tok());
    ASSERT_TRUE(g.has_value());
    EXPECT_EQ(g->cached, bytes.size());
    EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), g->effective.begin()));
}

TEST_F(LiveReuseTest, CommonPrefix) {
    const std::vector<int32_t> a{1, 2, 3, 4}, b{1, 2, 9}, e;
    EXPECT_EQ(common_prefix(a, b), 2u);
    EXPECT_EQ(common_prefix(a, a), 4u);
    EXPECT_EQ(common_prefix(a, e), 0u);
}

}  // namespace
}  // namespace dstar::server::worker
