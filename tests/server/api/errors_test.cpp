// Error bodies (spec server.md §5.5), model ids (§7A), UTF-8 validation and random ids.
#include "server/api/errors.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <set>

#include "server/api/ids.h"
#include "server/api/models.h"
#include "server/api/utf8_check.h"

namespace dstar::server::api {
namespace {

using nlohmann::json;

TEST(ErrorBodies, GenericOpenAIShape) {
    EXPECT_EQ(error_body(bad_request("missing messages"), ErrorStyle::OpenAI),
              R"({"error":{"message":"missing messages","type":"invalid_request_error"}})");
    ApiError e;
    e.status = 500;
    e.message = "cpu prefill failed";
    EXPECT_EQ(json::parse(error_body(e, ErrorStyle::OpenAI))["error"]["type"], "server_error");
}

TEST(ErrorBodies, ContextLengthInBothShapes) {
    const ApiError e = context_length_error(40000, 32768, "messages");
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(error_body(e, ErrorStyle::OpenAI),
              R"({"error":{"message":"Prompt has 40000 tokens, but the configured context size is 32768 tokens",)"
              R"("type":"invalid_request_error","param":"messages","code":"context_length_exceeded",)"
              R"("n_prompt_tokens":40000,"n_ctx":32768}})");
    EXPECT_EQ(error_body(context_length_error(40000, 32768, ""), ErrorStyle::Anthropic),
              R"({"type":"error","error":{"type":"invalid_request_error","message":"Prompt has 40000 tokens, )"
              R"(but the configured context size is 32768 tokens","n_prompt_tokens":40000,"n_ctx":32768}})");
}

TEST(ErrorBodies, ModelNotFound) {
    const ApiError e = model_not_found("gpt-4o");
    EXPECT_EQ(e.status, 404);
    EXPECT_EQ(error_body(e, ErrorStyle::OpenAI),
              R"({"error":{"message":"model 'gpt-4o' not found","type":"invalid_request_error","code":"model_not_found"}})");
    EXPECT_EQ(error_body(e, ErrorStyle::Anthropic),
              R"({"type":"error","error":{"type":"not_found_error","message":"model 'gpt-4o' not found"}})");
}

TEST(ErrorBodies, StreamErrorEvents) {
    EXPECT_EQ(sse_error_event("boom", ErrorStyle::OpenAI),
              "event: error\ndata: {\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}\n\n");
    EXPECT_EQ(sse_error_event("boom", ErrorStyle::Anthropic),
              "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"boom\"}}\n\n");
}

TEST(ModelCatalog, AcceptsTheIdTheDs4AliasesAndConfiguredAliases) {
    const ModelCatalog m({"claude-opus-4"}, 100000, 393216);
    for (const char *id : {"deepseek-v4-flash", "deepseek-chat", "deepseek-reasoner", "claude-opus-4"}) {
        EXPECT_TRUE(m.accepts(id)) << id;
    }
    EXPECT_FALSE(m.accepts("gpt-4"));
    EXPECT_FALSE(m.accepts(""));
    const json list = json::parse(dump_json(m.list()));
    ASSERT_EQ(list["data"].size(), 1u);
    const json &obj = list["data"][0];
    EXPECT_EQ(obj["id"], "deepseek-v4-flash");
    EXPECT_EQ(obj["object"], "model");
    EXPECT_EQ(obj["context_length"], 100000);
    EXPECT_EQ(obj["top_provider"]["max_completion_tokens"], 100000) << "min(-n, ctx)";
    EXPECT_EQ(json::parse(dump_json(ModelCatalog({}, 8192, 100).model_object("x")))["top_provider"]["max_completion_tokens"], 100);
}

TEST(Utf8Check, FindsTheFirstBadByte) {
    EXPECT_EQ(invalid_utf8_offset("plain ascii"), std::string_view::npos);
    EXPECT_EQ(invalid_utf8_offset("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), std::string_view::npos);
    EXPECT_EQ(invalid_utf8_offset("ab\xff"), 2u);
    EXPECT_EQ(invalid_utf8_offset("x\xc3"), 1u) << "truncated sequence";
    EXPECT_EQ(invalid_utf8_offset("\xc0\xaf"), 0u) << "overlong";
    EXPECT_EQ(invalid_utf8_offset("\xe0\x80\xaf"), 0u) << "overlong";
    EXPECT_EQ(invalid_utf8_offset("ok\xed\xa0\x80"), 2u) << "surrogate";
    EXPECT_EQ(invalid_utf8_offset("\xf4\x90\x80\x80"), 0u) << "above U+10FFFF";
    EXPECT_EQ(invalid_utf8_offset("\x80"), 0u) << "lone continuation";
}

TEST(Ids, FormatAndCollisions) {
    const std::string id = random_id("call_", 16);
    ASSERT_EQ(id.size(), 5u + 32u);
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef", 5), std::string::npos);
    EXPECT_EQ(random_id("resp_", 12).size(), 5u + 24u);
    std::set<std::string> seen;
    for (int i = 0; i < 1000; i++) EXPECT_TRUE(seen.insert(random_id("x", 16)).second);
    // A taken id is drawn again.
    int calls = 0;
    const std::string fresh = new_tool_call_id("toolu_", [&](const std::string &) { return ++calls < 3; });
    EXPECT_EQ(calls, 3);
    EXPECT_EQ(fresh.rfind("toolu_", 0), 0u);
}

}  // namespace
}  // namespace dstar::server::api
