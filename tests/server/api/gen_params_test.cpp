// Generation fields per API (spec server.md §7.1-§7.2): which fields each endpoint reads, the
// number rules, wrong types, and the thinking-mode override.
#include "server/api/gen_params.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace dstar::server::api {
namespace {

using nlohmann::json;

GenParams parse(Api api, const char *body) { return parse_gen_params(api, json::parse(body)); }

TEST(GenParams, DefaultsWhenAbsent) {
    const GenParams p = parse(Api::Chat, "{}");
    EXPECT_FLOAT_EQ(p.sampling.temperature, 1.0f);
    EXPECT_EQ(p.sampling.top_k, 0);
    EXPECT_FLOAT_EQ(p.sampling.top_p, 1.0f);
    EXPECT_FLOAT_EQ(p.sampling.min_p, 0.05f);
    EXPECT_EQ(p.sampling.seed, 0u);
    EXPECT_FALSE(p.max_tokens);
    EXPECT_TRUE(p.stop.empty());
    EXPECT_FALSE(p.stream);
    EXPECT_FALSE(p.include_usage);
}

TEST(GenParams, ChatReadsEverything) {
    const GenParams p = parse(Api::Chat, R"({"temperature":0.5,"top_p":0.9,"top_k":40,"min_p":0.1,"seed":7,
        "max_completion_tokens":12,"stop":["a","","b"],"stream":true,"stream_options":{"include_usage":true}})");
    EXPECT_FLOAT_EQ(p.sampling.temperature, 0.5f);
    EXPECT_FLOAT_EQ(p.sampling.top_p, 0.9f);
    EXPECT_EQ(p.sampling.top_k, 40);
    EXPECT_FLOAT_EQ(p.sampling.min_p, 0.1f);
    EXPECT_EQ(p.sampling.seed, 7u);
    EXPECT_EQ(p.max_tokens, 12u);
    EXPECT_EQ(p.stop, (std::vector<std::string>{"a", "b"})) << "empty stop strings are dropped";
    EXPECT_TRUE(p.stream);
    EXPECT_TRUE(p.include_usage);
    EXPECT_EQ(parse(Api::Chat, R"({"max_tokens":3,"max_completion_tokens":9})").max_tokens, 3u);
    EXPECT_EQ(parse(Api::Chat, R"({"stop":"END"})").stop, std::vector<std::string>{"END"});
    EXPECT_TRUE(parse(Api::Chat, R"({"stop":null})").stop.empty());
    EXPECT_EQ(parse(Api::Chat, R"({"stop":["x",3,null]})").stop, std::vector<std::string>{"x"});
}

TEST(GenParams, EachApiReadsOnlyItsFields) {
    const char *all = R"({"top_k":5,"min_p":0.5,"seed":3,"stop":["s"],"stop_sequences":["q"],
                          "max_tokens":4,"max_output_tokens":6,"stream_options":{"include_usage":true}})";
    const GenParams responses = parse(Api::Responses, all);
    EXPECT_EQ(responses.sampling.top_k, 0);
    EXPECT_FLOAT_EQ(responses.sampling.min_p, 0.05f);
    EXPECT_EQ(responses.sampling.seed, 0u);
    EXPECT_TRUE(responses.stop.empty());
    EXPECT_EQ(responses.max_tokens, 6u);
    EXPECT_FALSE(responses.include_usage);
    const GenParams messages = parse(Api::Messages, all);
    EXPECT_EQ(messages.sampling.top_k, 5);
    EXPECT_FLOAT_EQ(messages.sampling.min_p, 0.05f);
    EXPECT_EQ(messages.sampling.seed, 0u);
    EXPECT_EQ(messages.stop, std::vector<std::string>{"q"});
    EXPECT_EQ(messages.max_tokens, 4u);
    const GenParams completions = parse(Api::Completions, all);
    EXPECT_EQ(completions.sampling.top_k, 5);
    EXPECT_EQ(completions.sampling.seed, 3u);
    EXPECT_EQ(completions.stop, std::vector<std::string>{"s"});
    EXPECT_TRUE(completions.include_usage);
    EXPECT_EQ(parse(Api::Responses, R"({"max_tokens":8})").max_tokens, 8u);
}

TEST(GenParams, NumbersAreClampedAndTruncated) {
    EXPECT_EQ(parse(Api::Chat, R"({"max_tokens":-5})").max_tokens, 0u);
    EXPECT_EQ(parse(Api::Chat, R"({"max_tokens":7.9})").max_tokens, 7u);
    EXPECT_EQ(parse(Api::Chat, R"({"max_tokens":1e12})").max_tokens, 2147483647u);
    EXPECT_EQ(parse(Api::Chat, R"({"top_k":-1})").sampling.top_k, 0);
    EXPECT_EQ(parse(Api::Chat, R"({"seed":-4})").sampling.seed, 0u);
    EXPECT_EQ(parse(Api::Chat, R"({"seed":12.7})").sampling.seed, 12u);
}

TEST(GenParams, WrongTypesAreErrorsNamingTheField) {
    for (const char *body : {R"({"temperature":null})", R"({"temperature":"0.5"})", R"({"top_p":true})",
                             R"({"max_tokens":"10"})", R"({"stream":null})", R"({"stream":"yes"})",
                             R"({"seed":[1]})", R"({"stream_options":{"include_usage":1}})"}) {
        try {
            parse(Api::Chat, body);
            ADD_FAILURE() << body << " was accepted";
        } catch (const Error &e) {
            const std::string field = json::parse(body).begin().key();
            EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
        }
    }
    // stream_options that is not an object is skipped, as ds4.
    EXPECT_FALSE(parse(Api::Chat, R"({"stream_options":null})").include_usage);
}

TEST(GenParams, ThinkingIgnoresClientSamplingButKeepsTheSeed) {
    engine::SamplerParams p;
    p.temperature = 0.0f;
    p.top_k = 3;
    p.top_p = 0.5f;
    p.min_p = 0.2f;
    p.seed = 99;
    engine::SamplerParams none = p;
    apply_thinking_override(none, chat::ThinkMode::None);
    EXPECT_FLOAT_EQ(none.temperature, 0.0f);
    EXPECT_EQ(none.top_k, 3);
    for (chat::ThinkMode m : {chat::ThinkMode::High, chat::ThinkMode::Max}) {
        engine::SamplerParams t = p;
        apply_thinking_override(t, m);
        EXPECT_FLOAT_EQ(t.temperature, 1.0f);
        EXPECT_EQ(t.top_k, 0);
        EXPECT_FLOAT_EQ(t.top_p, 1.0f);
        EXPECT_FLOAT_EQ(t.min_p, 0.05f);
        EXPECT_EQ(t.seed, 99u);
    }
}

}  // namespace
}  // namespace dstar::server::api
