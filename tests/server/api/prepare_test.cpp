// From a request body to a JobRequest (spec server.md §5.5-§7, kvcache.md §3, §9): rendering,
// thinking modes, sampling override, every rejection, tool-output validation, live tails and
// exact tool-call replay.
#include "server/api/prepare.h"

#include <gtest/gtest.h>

#include "chat/prompt_text.h"
#include "engine/engine.h"
#include "server/api/tiny_model.h"

namespace dstar::server::api {
namespace {

class PrepareTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        engine::EngineOptions eo;
        eo.model_path = test::tiny_model_path();
        eo.threads = 1;
        engine_ = new engine::Engine(eo);
    }
    static void TearDownTestSuite() {
        delete engine_;
        engine_ = nullptr;
    }

    PrepareEnv env(uint32_t ctx = 4096) {
        PrepareEnv e;
        e.tokenizer = &engine_->tokenizer();
        e.models = &models_;
        e.ctx = ctx;
        e.default_max_tokens = 393216;
        e.memory = &memory_;
        e.live_call = [this](const std::string &id) { return live_ids_.count(id) > 0; };
        return e;
    }

    Prepared prepare(Api api, const std::string &body, uint32_t ctx = 4096) { return prepare_request(api, body, env(ctx)); }

    ApiError rejected(Api api, const std::string &body, uint32_t ctx = 4096) {
        Prepared p = prepare(api, body, ctx);
        EXPECT_TRUE(p.error) << body;
        return p.error.value_or(ApiError{});
    }

    static engine::Engine *engine_;
    ModelCatalog models_{{"my-alias"}, 4096, 393216};
    kvcache::ToolMemory memory_;
    std::set<std::string> live_ids_;
};
engine::Engine *PrepareTest::engine_ = nullptr;

TEST_F(PrepareTest, ChatRequestBecomesAJob) {
    Prepared p = prepare(Api::Chat, R"({"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}],
        "max_tokens":12,"temperature":0.2,"top_k":5,"seed":9,"stop":["END"],"stream":true})");
    ASSERT_FALSE(p.error) << p.error->message;
    const JobRequest &j = p.request.job;
    EXPECT_EQ(j.api, Api::Chat);
    EXPECT_EQ(j.mode, chat::ThinkMode::High) << "thinking is the default";
    EXPECT_EQ(j.prompt_text, std::string(chat::kBos) + "Be brief." + std::string(chat::kUser) + "Hi" +
                                 std::string(chat::kAssistant) + "<think>");
    EXPECT_EQ(j.prompt_tokens, engine_->tokenizer().encode_rendered(j.prompt_text));
    EXPECT_EQ(j.max_tokens, 12u);
    EXPECT_EQ(j.stop, std::vector<std::string>{"END"});
    EXPECT_TRUE(j.stream);
    EXPECT_FALSE(j.tools);
    EXPECT_FALSE(j.tool_tail);
    // Thinking forces the hosted API's sampling; the seed survives.
    EXPECT_FLOAT_EQ(j.sampling.temperature, 1.0f);
    EXPECT_EQ(j.sampling.top_k, 0);
    EXPECT_EQ(j.sampling.seed, 9u);
    EXPECT_FLOAT_EQ(p.request.params.sampling.temperature, 0.2f) << "the request's own values are kept apart";
}

TEST_F(PrepareTest, NonThinkingKeepsClientSamplingAndDefaultLimit) {
    Prepared p = prepare(Api::Chat, R"({"messages":[{"role":"user","content":"Hi"}],"reasoning_effort":"none","temperature":0,"top_k":3})");
    ASSERT_FALSE(p.error);
    EXPECT_EQ(p.request.job.mode, chat::ThinkMode::None);
    EXPECT_TRUE(p.request.job.prompt_text.ends_with("</think>"));
    EXPECT_FLOAT_EQ(p.request.job.sampling.temperature, 0.0f);
    EXPECT_EQ(p.request.job.sampling.top_k, 3);
    EXPECT_EQ(p.request.job.max_tokens, 393216u) << "-n when the client sends no limit";
}

TEST_F(PrepareTest, ModelIdsAndAliases) {
    EXPECT_EQ(prepare(Api::Chat, R"({"model":"deepseek-chat","messages":[{"role":"user","content":"x"}]})").request.job.mode,
              chat::ThinkMode::None);
    EXPECT_EQ(prepare(Api::Chat, R"({"model":"my-alias","messages":[{"role":"user","content":"x"}]})").request.job.conv.model,
              "my-alias");
    const ApiError e = rejected(Api::Chat, R"({"model":"gpt-4o","messages":[{"role":"user","content":"x"}]})");
    EXPECT_EQ(e.status, 404);
    EXPECT_EQ(e.message, "model 'gpt-4o' not found");
    EXPECT_EQ(e.code, "model_not_found");
}

TEST_F(PrepareTest, ThinkMaxNeedsALargeContext) {
    const std::string body = R"({"messages":[{"role":"user","content":"x"}],"reasoning_effort":"max"})";
    EXPECT_EQ(prepare(Api::Chat, body).request.job.mode, chat::ThinkMode::High);
    Prepared big = prepare(Api::Chat, body, 400000);
    EXPECT_EQ(big.request.job.mode, chat::ThinkMode::Max);
    EXPECT_NE(big.request.job.prompt_text.find("Reasoning Effort: Absolute maximum"), std::string::npos);
}

TEST_F(PrepareTest, RejectionsAre400sNamingTheProblem) {
    struct Case {
        Api api;
        std::string body, message;
    };
    const std::vector<Case> cases = {
        {Api::Chat, R"({"messages":[]})", "missing messages"},
        {Api::Chat, R"({"model":"deepseek-v4-flash"})", "missing messages"},
        {Api::Messages, R"({"messages":[],"max_tokens":3})", "missing messages"},
        {Api::Responses, R"({"input":[]})", "missing input"},
        {Api::Completions, R"({"max_tokens":3})", "missing prompt"},
        {Api::Chat, R"({"messages":)", "invalid JSON request"},
        {Api::Chat, R"([1,2])", "invalid JSON request"},
        {Api::Chat, R"({"messages":"hi"})", "invalid JSON request: messages"},
        {Api::Chat, R"({"messages":[{"role":"user","content":"x"}],"temperature":null})", "invalid JSON request: temperature"},
        {Api::Chat, R"({"messages":[{"role":"user","content":"x"}],"max_tokens":"10"})", "invalid JSON request: max_tokens"},
        {Api::Chat, R"({"messages":[{"role":"user","content":"x"}],"reasoning_effort":"turbo"})", "invalid JSON request"},
        {Api::Chat, "{\"messages\":[{\"role\":\"user\",\"content\":\"caf\xe9\"}]}", "invalid UTF-8 in the request body at byte 42"},
        {Api::Responses, R"({"input":"x","tool_choice":"required"})", "tool_choice=required not supported"},
        {Api::Responses, R"({"input":"x","previous_response_id":"resp_1"})", "previous_response_id is not supported"},
    };
    for (const Case &c : cases) {
        const ApiError e = rejected(c.api, c.body);
        EXPECT_EQ(e.status, 400) << c.body;
        EXPECT_EQ(e.message.rfind(c.message, 0), 0u) << c.body << " -> " << e.message;
    }
}

TEST_F(PrepareTest, ContextLimitPerApi) {
    std::string words;
    for (int i = 0; i < 300; i++) words += "word" + std::to_string(i) + " ";
    struct Case {
        Api api;
        std::string body, param;
    };
    for (const Case &c : {Case{Api::Chat, R"({"messages":[{"role":"user","content":")" + words + R"("}]})", "messages"},
                          Case{Api::Completions, R"({"prompt":")" + words + R"("})", "prompt"},
                          Case{Api::Responses, R"({"input":")" + words + R"("})", "input"},
                          Case{Api::Messages, R"({"max_tokens":1,"messages":[{"role":"user","content":")" + words + R"("}]})", ""}}) {
        const ApiError e = rejected(c.api, c.body, 256);
        EXPECT_EQ(e.status, 400);
        EXPECT_EQ(e.code, "context_length_exceeded");
        EXPECT_EQ(e.param, c.param);
        EXPECT_EQ(e.n_ctx, 256);
        EXPECT_GE(e.n_prompt_tokens, 256);
        EXPECT_NE(e.message.find("configured context size is 256 tokens"), std::string::npos);
    }
    // prompt_tokens >= ctx is the condition: one free slot is needed.
    Prepared fits = prepare(Api::Chat, R"({"messages":[{"role":"user","content":"hi"}]})", 4096);
    const size_t n = fits.request.job.prompt_tokens.size();
    EXPECT_TRUE(prepare(Api::Chat, R"({"messages":[{"role":"user","content":"hi"}]})", static_cast<uint32_t>(n)).error);
    EXPECT_FALSE(prepare(Api::Chat, R"({"messages":[{"role":"user","content":"hi"}]})", static_cast<uint32_t>(n + 1)).error);
}

TEST_F(PrepareTest, ResponsesToolOutputsMustBeReplayedOrLive) {
    const std::string only_output =
        R"({"input":[{"type":"function_call_output","call_id":"call_live","output":"a.txt"}],"reasoning":{"effort":"none"}})";
    const ApiError e = rejected(Api::Responses, only_output);
    EXPECT_EQ(e.message,
              "Responses continuation state is not available for call_id call_live; retry by replaying the full input history");
    live_ids_.insert("call_live");
    Prepared live = prepare(Api::Responses, only_output);
    ASSERT_FALSE(live.error);
    EXPECT_TRUE(live.request.job.requires_live_tool_state);
    ASSERT_TRUE(live.request.job.tool_tail);
    EXPECT_EQ(live.request.job.tool_tail->call_ids, std::vector<std::string>{"call_live"});
    EXPECT_EQ(live.request.job.tool_tail->text, std::string(chat::kEos) + std::string(chat::kUser) +
                                                     "<tool_result>a.txt</tool_result>" + std::string(chat::kAssistant) + "</think>");
    // Replayed with its call: valid without any live state.
    Prepared replayed = prepare(Api::Responses, R"({"input":[{"role":"user","content":"ls"},
        {"type":"function_call","call_id":"call_r","name":"shell","arguments":"{\"cmd\":\"ls\"}"},
        {"type":"function_call_output","call_id":"call_r","output":"a.txt"}],"reasoning":{"effort":"none"},
        "tools":[{"type":"function","name":"shell","parameters":{"type":"object"}},{"type":"web_search"}]})");
    ASSERT_FALSE(replayed.error) << replayed.error->message;
    EXPECT_FALSE(replayed.request.job.requires_live_tool_state);
    EXPECT_TRUE(replayed.request.job.tools);
    ASSERT_TRUE(replayed.request.job.tool_tail);
    EXPECT_EQ(replayed.request.job.tool_tail->call_ids, std::vector<std::string>{"call_r"});
    EXPECT_EQ(replayed.request.replay.canonical, 1u) << "unknown to the tool memory: canonical DSML";
    EXPECT_EQ(replayed.request.replay.missing_ids, 1u);
}

TEST_F(PrepareTest, AnthropicToolResultsMustBeReplayedOrLive) {
    const std::string only_result = R"({"max_tokens":4,"messages":[{"role":"user","content":[
        {"type":"tool_result","tool_use_id":"toolu_x","content":"done"}]}]})";
    EXPECT_EQ(rejected(Api::Messages, only_result).message,
              "Anthropic continuation state is not available for tool_use_id toolu_x; retry by replaying the full messages history");
    live_ids_.insert("toolu_x");
    Prepared p = prepare(Api::Messages, only_result);
    ASSERT_FALSE(p.error);
    EXPECT_TRUE(p.request.job.requires_live_tool_state);
    ASSERT_TRUE(p.request.job.tool_tail);
    EXPECT_EQ(p.request.job.tool_tail->call_ids, std::vector<std::string>{"toolu_x"});
}

TEST_F(PrepareTest, ExactReplayRendersTheSampledBlock) {
    // The model once wrote this block (odd spacing, key order): a client sends the call back as
    // JSON, and the prompt must repeat the sampled bytes, not a canonical re-rendering.
    const std::string block = "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"shell\">\n<｜DSML｜parameter name=\"cmd\" "
                              "string=\"true\">ls  -la</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>";
    memory_.remember({"call_m"}, block);
    const std::string body = R"({"messages":[{"role":"user","content":"list"},
        {"role":"assistant","content":"","tool_calls":[{"id":"call_m","type":"function","function":{"name":"shell","arguments":"{\"cmd\":\"ls -la\"}"}}]},
        {"role":"tool","tool_call_id":"call_m","content":"a.txt"}],"reasoning_effort":"none",
        "tools":[{"type":"function","function":{"name":"shell","parameters":{"type":"object"}}}]})";
    Prepared p = prepare(Api::Chat, body);
    ASSERT_FALSE(p.error);
    EXPECT_NE(p.request.job.prompt_text.find(block), std::string::npos);
    EXPECT_EQ(p.request.replay.mem, 1u);
    EXPECT_EQ(p.request.replay.canonical, 0u);
    // Without the memory (--disable-exact-dsml-tool-replay) the canonical form is used.
    PrepareEnv no_memory = env();
    no_memory.memory = nullptr;
    Prepared c = prepare_request(Api::Chat, body, no_memory);
    ASSERT_FALSE(c.error);
    EXPECT_EQ(c.request.job.prompt_text.find(block), std::string::npos);
    EXPECT_NE(c.request.job.prompt_text.find("string=\"true\">ls -la</｜DSML｜parameter>"), std::string::npos);
    EXPECT_EQ(c.request.replay.canonical, 1u);
}

TEST_F(PrepareTest, CountTokensMatchesTheRenderedPrompt) {
    const std::string body = R"({"model":"deepseek-v4-flash","system":"sys","messages":[{"role":"user","content":"How many?"}],
        "thinking":{"type":"disabled"},"max_tokens":5})";
    const TokenCount c = count_prompt_tokens(body, env());
    ASSERT_FALSE(c.error);
    EXPECT_EQ(c.tokens, prepare(Api::Messages, body).request.job.prompt_tokens.size());
    EXPECT_EQ(count_prompt_tokens(R"({"model":"x","messages":[{"role":"user","content":"a"}]})", env()).error->status, 404);
    EXPECT_EQ(count_prompt_tokens(R"({"messages":[]})", env()).error->message, "missing messages");
}

}  // namespace
}  // namespace dstar::server::api
