// dstar-server end to end, in process: the tiny synthetic model, the real worker, the HTTP
// server on an ephemeral port, and clients over loopback (spec server.md §5, §7A-§13).
#include "server/api/http_server.h"

#include <httplib.h>

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "server/api/http_test_util.h"
#include "server/api/prepare.h"
#include "server/api/serving_stack.h"
#include "server/api/tiny_model.h"

namespace dstar::server::api {
namespace {

using nlohmann::json;
using test::eventually;
using test::parse_sse;
using test::RawConnection;

ServerOptions tiny_options(uint32_t sessions) {
    ServerOptions o;
    o.model = test::tiny_model_path();
    o.ctx = 2048;
    o.threads = 1;
    o.sessions = sessions;
    o.prefill_chunk = 256;
    return o;
}

HttpOptions http_options(bool cors = false) {
    HttpOptions h;
    h.port = 0;
    h.cors = cors;
    h.http_threads = 16;
    h.ctx = 2048;
    h.slots = 2;
    h.read_timeout = std::chrono::seconds(1);
    h.body_limit = size_t(1) << 20;
    h.keepalive_interval = std::chrono::milliseconds(100);
    return h;
}

// Greedy and non-thinking: the random model's output is then deterministic.
const std::string kGreedy = R"("temperature":0,"reasoning_effort":"none")";
std::string chat_body(const std::string &text, int max_tokens, bool stream = false) {
    return R"({"model":"deepseek-v4-flash","messages":[{"role":"user","content":")" + text + R"("}],"max_tokens":)" +
           std::to_string(max_tokens) + "," + kGreedy + (stream ? R"(,"stream":true,"stream_options":{"include_usage":true})" : "") + "}";
}

// Runs a job on the scheduler directly and returns its result.
JobResult run_job(Scheduler &scheduler, JobRequest job) {
    std::shared_ptr<JobHandle> handle = scheduler.submit(std::move(job));
    for (;;) {
        std::optional<JobEvent> ev = handle->next(std::chrono::seconds(1));
        if (ev && ev->kind == JobEvent::Kind::Done) return ev->result;
    }
}

class HttpServerTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        metrics_ = new Metrics;
        stack_ = new ServingStack(tiny_options(2), *metrics_);
    }
    static void TearDownTestSuite() {
        delete stack_;
        delete metrics_;
    }

    void expect_disconnect_cancels(bool stream, const std::function<bool(const std::string &)> &begun);
    void start(HttpOptions h = http_options(), Trace *trace = nullptr, bool ready = true) {
        api_ = std::make_unique<ApiServer>(h, *metrics_, trace);
        api_->start();
        if (ready) api_->set_ready(stack_->serving());
        client_ = std::make_unique<httplib::Client>("127.0.0.1", api_->port());
        client_->set_read_timeout(120, 0);
    }
    void TearDown() override {
        client_.reset();
        if (api_) api_->stop();
    }

    httplib::Result post(const std::string &path, const std::string &body) {
        return client_->Post(path.c_str(), body, "application/json");
    }
    json post_json(const std::string &path, const std::string &body, int status = 200) {
        auto r = post(path, body);
        EXPECT_TRUE(r);
        if (!r) return json();
        EXPECT_EQ(r->status, status) << path << " " << r->body;
        EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
        EXPECT_TRUE(!r->body.empty() && r->body.back() == '\n');
        return json::parse(r->body);
    }

    static Metrics *metrics_;
    static ServingStack *stack_;
    std::unique_ptr<ApiServer> api_;
    std::unique_ptr<httplib::Client> client_;
};
Metrics *HttpServerTest::metrics_ = nullptr;
ServingStack *HttpServerTest::stack_ = nullptr;

TEST_F(HttpServerTest, ModelsHealthOptionsAndUnknownRoutes) {
    start();
    auto r = client_->Get("/v1/models");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(json::parse(r->body)["data"][0]["id"], "deepseek-v4-flash");
    EXPECT_EQ(json::parse(client_->Get("/v1/models/deepseek-v4-flash")->body)["context_length"], 2048);
    r = client_->Get("/v1/models/gpt-4");
    EXPECT_EQ(r->status, 404);
    EXPECT_EQ(json::parse(r->body)["error"]["code"], "model_not_found");

    r = client_->Get("/health");
    EXPECT_EQ(r->status, 200);
    const json h = json::parse(r->body);
    EXPECT_EQ(h["status"], "ok");
    EXPECT_EQ(h["model"], "deepseek-v4-flash");
    EXPECT_EQ(h["ctx"], 2048);
    EXPECT_EQ(h["slots"], 2);
    EXPECT_EQ(h["queue_depth"], 0);

    r = client_->Options("/v1/chat/completions");
    EXPECT_EQ(r->status, 204);
    EXPECT_EQ(r->get_header_value("Content-Length"), "0");
    EXPECT_FALSE(r->has_header("Content-Type"));
    EXPECT_FALSE(r->has_header("Access-Control-Allow-Origin")) << "no CORS without --cors";

    for (const char *path : {"/nope", "/v1/chat/completions"}) {  // unknown path; wrong method
        r = client_->Get(path);
        EXPECT_EQ(r->status, 404);
        EXPECT_EQ(r->body, "{\"error\":{\"message\":\"unknown endpoint\",\"type\":\"invalid_request_error\"}}\n");
    }
    r = client_->Post("/v1/nope", "{}", "application/json");
    EXPECT_EQ(r->status, 404);
}

TEST_F(HttpServerTest, EveryEndpointNonStreaming) {
    start();
    json j = post_json("/v1/chat/completions", chat_body("Say hi", 6));
    EXPECT_EQ(j["object"], "chat.completion");
    EXPECT_EQ(std::string(j["id"]).rfind("chatcmpl-", 0), 0u);
    EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
    EXPECT_TRUE(j["choices"][0]["message"]["content"].is_string());
    EXPECT_EQ(j["usage"]["completion_tokens"], 6);
    EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
    const json &u = j["usage"];
    EXPECT_EQ(u["total_tokens"], u["prompt_tokens"].get<int>() + u["completion_tokens"].get<int>());
    EXPECT_EQ(u["prompt_tokens_details"]["cached_tokens"].get<int>() + u["prompt_tokens_details"]["cache_write_tokens"].get<int>(),
              u["prompt_tokens"].get<int>());

    j = post_json("/v1/completions", R"({"prompt":"Once upon","max_tokens":4,)" + kGreedy + "}");
    EXPECT_EQ(j["object"], "text_completion");
    EXPECT_EQ(std::string(j["id"]).rfind("cmpl-", 0), 0u);
    EXPECT_TRUE(j["choices"][0]["text"].is_string());
    EXPECT_EQ(j["usage"]["completion_tokens"], 4);

    j = post_json("/v1/responses", R"({"input":"Name a prime.","max_output_tokens":4,"reasoning":{"effort":"none"},"temperature":0})");
    EXPECT_EQ(j["object"], "response");
    EXPECT_EQ(std::string(j["id"]).size(), 5u + 24u);
    EXPECT_EQ(j["status"], "incomplete");
    EXPECT_EQ(j["usage"]["output_tokens"], 4);

    j = post_json("/v1/messages", R"({"model":"deepseek-v4-flash","max_tokens":4,"messages":[{"role":"user","content":"Hi"}],)"
                                  R"("thinking":{"type":"disabled"},"temperature":0})");
    EXPECT_EQ(j["type"], "message");
    EXPECT_EQ(j["role"], "assistant");
    EXPECT_EQ(j["stop_reason"], "max_tokens");
    EXPECT_EQ(j["usage"]["output_tokens"], 4);
    ASSERT_FALSE(j["content"].empty());
    EXPECT_EQ(j["content"].back()["type"], "text");

    j = post_json("/v1/messages/count_tokens", R"({"model":"deepseek-v4-flash","messages":[{"role":"user","content":"Hi"}],)"
                                               R"("thinking":{"type":"disabled"}})");
    EXPECT_GT(j["input_tokens"].get<int>(), 0);
}

// The same request again: a first request with max_tokens 0 only prefills (nothing is
// generated after the prompt), so the repeat finds its whole prompt in the live session.
TEST_F(HttpServerTest, RepeatedRequestReadsItsPromptFromTheCache) {
    start();
    const json a = post_json("/v1/chat/completions", chat_body("Warm the cache with this prompt", 0));
    EXPECT_EQ(a["usage"]["completion_tokens"], 0);
    EXPECT_EQ(a["choices"][0]["finish_reason"], "length");
    const json b = post_json("/v1/chat/completions", chat_body("Warm the cache with this prompt", 3));
    const json &u = b["usage"];
    EXPECT_EQ(u["prompt_tokens"], a["usage"]["prompt_tokens"]);
    EXPECT_GT(u["prompt_tokens_details"]["cached_tokens"].get<int>(), 0);
    EXPECT_EQ(u["prompt_tokens_details"]["cached_tokens"], u["prompt_tokens"]);
    EXPECT_EQ(u["prompt_tokens_details"]["cache_write_tokens"], 0);
}

// Agents resend the whole conversation each turn: the next request extends the previous one's
// live session.  (Only replies that are valid UTF-8 can come back byte for byte: the random
// model sometimes samples stray bytes, which JSON cannot carry; a prompt whose greedy reply is
// clean is picked.)
TEST_F(HttpServerTest, ContinuedConversationReusesTheCachedPrefix) {
    start();
    for (const char *api : {"chat", "messages"}) {
        json first, reply;
        std::string content;
        for (int attempt = 0; attempt < 20 && (content.empty() || content.find("\xef\xbf\xbd") != std::string::npos); attempt++) {
            const std::string question = "Question number " + std::to_string(attempt) + " about colours";
            if (std::string(api) == "chat") {
                first = json::parse(chat_body(question, 4));
                reply = post_json("/v1/chat/completions", first.dump());
                content = reply["choices"][0]["message"]["content"];
            } else {
                first = {{"max_tokens", 4}, {"temperature", 0}, {"thinking", {{"type", "disabled"}}},
                         {"messages", json::array({{{"role", "user"}, {"content", question}}})}};
                reply = post_json("/v1/messages", first.dump());
                content = reply["content"].back()["text"];
            }
        }
        ASSERT_EQ(content.find("\xef\xbf\xbd"), std::string::npos) << "no clean reply found";
        json second = first;
        second["messages"].push_back({{"role", "assistant"}, {"content", content}});
        second["messages"].push_back({{"role", "user"}, {"content", "And three animals."}});
        if (std::string(api) == "chat") {
            const json b = post_json("/v1/chat/completions", second.dump());
            const json &u = b["usage"];
            EXPECT_GE(u["prompt_tokens_details"]["cached_tokens"].get<int>(), reply["usage"]["prompt_tokens"].get<int>());
            EXPECT_EQ(u["prompt_tokens_details"]["cached_tokens"].get<int>() + u["prompt_tokens_details"]["cache_write_tokens"].get<int>(),
                      u["prompt_tokens"].get<int>());
        } else {
            const json b = post_json("/v1/messages", second.dump());
            const json &u = b["usage"];
            EXPECT_GT(u["cache_read_input_tokens"].get<int>(), 0);
            EXPECT_EQ(u["input_tokens"], 0);
        }
    }
}

TEST_F(HttpServerTest, StreamsMatchTheNonStreamingAnswers) {
    start();
    // Chat.
    const json plain = post_json("/v1/chat/completions", chat_body("Count to five", 8));
    auto r = post("/v1/chat/completions", chat_body("Count to five", 8, true));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->get_header_value("Content-Type"), "text/event-stream");
    EXPECT_EQ(r->get_header_value("Cache-Control"), "no-cache");
    auto ev = parse_sse(r->body);
    ASSERT_GE(ev.size(), 4u);
    EXPECT_EQ(ev[0].j["choices"][0]["delta"]["role"], "assistant");
    std::string text;
    for (const auto &e : ev) {
        if (e.j.is_object() && !e.j["choices"].empty() && e.j["choices"][0]["delta"].contains("content")) {
            text += e.j["choices"][0]["delta"]["content"];
        }
    }
    EXPECT_EQ(text, plain["choices"][0]["message"]["content"]);
    EXPECT_EQ(ev[ev.size() - 3].j["choices"][0]["finish_reason"], plain["choices"][0]["finish_reason"]);
    EXPECT_EQ(ev[ev.size() - 2].j["usage"]["completion_tokens"], 8);
    EXPECT_EQ(ev.back().data, "[DONE]");

    // Anthropic.
    const std::string msg = R"({"max_tokens":6,"messages":[{"role":"user","content":"Count"}],"thinking":{"type":"disabled"},"temperature":0)";
    const json mplain = post_json("/v1/messages", msg + "}");
    r = post("/v1/messages", msg + R"(,"stream":true})");
    ev = parse_sse(r->body);
    ASSERT_FALSE(ev.empty());
    EXPECT_EQ(ev.front().event, "message_start");
    EXPECT_EQ(ev.back().event, "message_stop");
    text.clear();
    for (const auto &e : ev) {
        if (e.event == "content_block_delta" && e.j["delta"]["type"] == "text_delta") text += e.j["delta"]["text"];
    }
    std::string mtext;
    for (const auto &b : mplain["content"]) {
        if (b["type"] == "text") mtext += b["text"];
    }
    EXPECT_EQ(text, mtext);

    // Responses.
    const std::string resp = R"({"input":"Count","max_output_tokens":6,"reasoning":{"effort":"none"},"temperature":0)";
    const json rplain = post_json("/v1/responses", resp + "}");
    r = post("/v1/responses", resp + R"(,"stream":true})");
    ev = parse_sse(r->body);
    ASSERT_FALSE(ev.empty());
    EXPECT_EQ(ev.front().j["type"], "response.created");
    text.clear();
    for (size_t i = 0; i < ev.size(); i++) {
        EXPECT_EQ(ev[i].j["sequence_number"], i);
        if (ev[i].j["type"] == "response.output_text.delta") text += ev[i].j["delta"];
    }
    EXPECT_EQ(ev.back().j["response"]["status"], rplain["status"]);
    std::string rtext;
    for (const auto &item : rplain["output"]) {
        if (item["type"] == "message") rtext += item["content"][0]["text"];
    }
    EXPECT_EQ(text, rtext);

    // Completions.
    const std::string comp = R"({"prompt":"Count","max_tokens":6,)" + kGreedy;
    const json cplain = post_json("/v1/completions", comp + "}");
    r = post("/v1/completions", comp + R"(,"stream":true})");
    ev = parse_sse(r->body);
    text.clear();
    for (const auto &e : ev) {
        if (e.j.is_object() && !e.j["choices"].empty()) text += e.j["choices"][0]["text"];
    }
    EXPECT_EQ(text, cplain["choices"][0]["text"]);
    EXPECT_EQ(ev.back().data, "[DONE]");
}

// A client answering tool calls sends only the results (Anthropic) or replays visible items
// (Responses); when the ids match what the live slot is bound to, the worker appends the
// rendered tail to the live session.  The random model never writes tool calls, so the turn
// that "made" them is run directly on the scheduler and bound by hand, as the API layer does
// after a real tool-call turn.
TEST_F(HttpServerTest, ToolResultsContinueTheLiveSessionTheyAnswer) {
    start();
    PrepareEnv env;
    ModelCatalog models({}, 2048, 393216);
    env.tokenizer = &stack_->engine().tokenizer();
    env.models = &models;
    env.ctx = 2048;
    struct Case {
        Api api;
        std::string path, first, results;
        Binding::Kind kind;
    };
    const std::vector<Case> cases = {
        {Api::Messages, "/v1/messages",
         R"({"max_tokens":3,"temperature":0,"thinking":{"type":"disabled"},"messages":[{"role":"user","content":"List the files"}]})",
         R"({"max_tokens":3,"temperature":0,"thinking":{"type":"disabled"},"messages":[{"role":"user","content":[
            {"type":"tool_result","tool_use_id":"toolu_00112233445566778899aabbccddeeff","content":"a.txt b.txt"}]}]})",
         Binding::Kind::Anthropic},
        {Api::Responses, "/v1/responses", R"({"input":"List the files","max_output_tokens":3,"temperature":0,"reasoning":{"effort":"none"}})",
         R"({"max_output_tokens":3,"temperature":0,"reasoning":{"effort":"none"},"input":[
            {"type":"function_call_output","call_id":"toolu_00112233445566778899aabbccddeeff","output":"a.txt b.txt"}]})",
         Binding::Kind::Responses},
    };
    for (const Case &c : cases) {
        Prepared first = prepare_request(c.api, c.first, env);
        ASSERT_FALSE(first.error);
        const JobResult done = run_job(stack_->scheduler(), first.request.job);
        Binding b;
        b.kind = c.kind;
        b.call_ids = {"toolu_00112233445566778899aabbccddeeff"};
        ASSERT_TRUE(stack_->scheduler().bind(done.live, b));
        const uint32_t live_tokens = done.prompt_tokens + done.generated_tokens;

        const json r = post_json(c.path, c.results);
        if (c.api == Api::Messages) {
            EXPECT_EQ(r["usage"]["cache_read_input_tokens"].get<uint32_t>(), live_tokens) << r.dump();
        } else {
            EXPECT_EQ(r["usage"]["input_tokens_details"]["cached_tokens"].get<uint32_t>(), live_tokens) << r.dump();
        }
        // The binding is used up: the same results again have no live state to continue.
        auto again = post(c.path, c.results);
        EXPECT_EQ(again->status, 400) << again->body;
    }
}

TEST_F(HttpServerTest, BadInputIsA4xxJsonErrorWhileOthersAreServed) {
    start();
    // A generation runs the whole time.
    std::atomic<bool> concurrent_ok{false};
    std::thread other([&] {
        httplib::Client c("127.0.0.1", api_->port());
        c.set_read_timeout(120, 0);
        auto r = c.Post("/v1/chat/completions", chat_body("Write a long story", 40, true), "application/json");
        concurrent_ok = r && r->status == 200 && r->body.find("\"finish_reason\":\"length\"") != std::string::npos &&
                        r->body.find("data: [DONE]") != std::string::npos;
    });
    // Slow clients: one stops in the middle of its body, one in the middle of its headers.
    RawConnection slow_body(api_->port());
    slow_body.send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"messa");
    RawConnection slow_headers(api_->port());
    slow_headers.send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Le");
    RawConnection slow_line(api_->port());
    slow_line.send("POST /v1/chat/compl");

    struct Case {
        std::string path, body;
        int status;
        std::string message;
    };
    std::string long_text;
    for (int i = 0; i < 1500; i++) {
        long_text += 'w';
        long_text += std::to_string(i);
        long_text += ' ';
    }
    const std::vector<Case> cases = {
        {"/v1/chat/completions", R"({"messages":[{"role":"user","content":"x"})", 400, "invalid JSON request"},
        {"/v1/chat/completions", R"({"messages":[{"role":"user","content":"x"}],"stream":"yes"})", 400, "invalid JSON request: stream"},
        {"/v1/chat/completions", R"({"messages":[{"role":42}]})", 400, "invalid JSON request"},
        {"/v1/chat/completions", R"({"model":"gpt-4o","messages":[{"role":"user","content":"x"}]})", 404, "model 'gpt-4o' not found"},
        {"/v1/chat/completions", R"({"messages":[]})", 400, "missing messages"},
        {"/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"\xc3\x28\"}]}", 400, "invalid UTF-8"},
        {"/v1/chat/completions", chat_body(long_text, 4), 400, "Prompt has"},
        {"/v1/chat/completions", std::string((size_t(1) << 20) + 1, ' '), 413, "request body exceeds the 1 MiB limit"},
        {"/v1/responses", R"({"input":[{"type":"function_call_output","call_id":"call_zz","output":"x"}]})", 400,
         "Responses continuation state is not available for call_id call_zz"},
    };
    for (const Case &c : cases) {
        auto r = post(c.path, c.body);
        ASSERT_TRUE(r) << c.message;
        EXPECT_EQ(r->status, c.status) << c.message << ": " << r->body;
        const json j = json::parse(r->body);
        EXPECT_EQ(std::string(j["error"]["message"]).rfind(c.message, 0), 0u) << r->body;
    }
    // Anthropic's endpoint answers in Anthropic's shape.
    auto r = post("/v1/messages", R"({"max_tokens":2,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_q","content":"x"}]}]})");
    EXPECT_EQ(r->status, 400);
    EXPECT_EQ(json::parse(r->body)["type"], "error");
    EXPECT_NE(std::string(json::parse(r->body)["error"]["message"]).find("tool_use_id toolu_q"), std::string::npos);
    r = post("/v1/messages", R"({"model":"claude-x","max_tokens":2,"messages":[{"role":"user","content":"x"}]})");
    EXPECT_EQ(r->status, 404);
    EXPECT_EQ(json::parse(r->body)["error"]["type"], "not_found_error");

    // Stalled bodies and headers time out into a JSON 400; a stalled request line is dropped.
    for (RawConnection *slow : {&slow_body, &slow_headers}) {
        const std::string answer = slow->read_for(std::chrono::seconds(5), "}\n");
        EXPECT_EQ(answer.rfind("HTTP/1.1 400", 0), 0u) << answer;
        EXPECT_NE(answer.find("{\"error\":{\"message\":\"bad HTTP request\""), std::string::npos) << answer;
    }
    EXPECT_EQ(slow_line.read_for(std::chrono::seconds(5)), "");
    EXPECT_TRUE(slow_line.peer_closed());

    other.join();
    EXPECT_TRUE(concurrent_ok);
}

TEST_F(HttpServerTest, HealthAndModelEndpointsBeforeTheModelIsReady) {
    start(http_options(), nullptr, /*ready=*/false);
    auto r = client_->Get("/health");
    EXPECT_EQ(r->status, 503);
    EXPECT_EQ(json::parse(r->body), json::parse(R"({"status":"loading"})"));
    r = post("/v1/chat/completions", chat_body("x", 2));
    EXPECT_EQ(r->status, 503);
    EXPECT_EQ(json::parse(r->body)["error"]["message"], "model is loading");
    r = post("/v1/messages", R"({"max_tokens":2,"messages":[{"role":"user","content":"x"}]})");
    EXPECT_EQ(json::parse(r->body)["error"]["message"], "model is loading");
    EXPECT_EQ(client_->Get("/v1/models")->status, 200) << "answered without the model";
    api_->set_ready(stack_->serving());
    EXPECT_TRUE(api_->ready());
    EXPECT_EQ(client_->Get("/health")->status, 200);
    EXPECT_EQ(post("/v1/chat/completions", chat_body("x", 2))->status, 200);
}

TEST_F(HttpServerTest, MetricsAfterRequests) {
    start();
    post_json("/v1/chat/completions", chat_body("metrics please", 3));
    client_->Get("/nope");
    // A request is counted once its last byte is written, just after the client has it.
    ASSERT_TRUE(eventually([&] { return metrics_->requests("other", 404) >= 1; }));
    auto r = client_->Get("/metrics");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->get_header_value("Content-Type"), "text/plain; version=0.0.4");
    for (const char *line : {"dstar_requests_total{endpoint=\"/v1/chat/completions\",status=\"200\"}",
                             "dstar_requests_total{endpoint=\"other\",status=\"404\"}", "dstar_generated_tokens_total",
                             "dstar_queue_depth ", "dstar_active_jobs ", "dstar_session_slots 2", "dstar_tool_memory_ids",
                             "dstar_request_duration_seconds_count"}) {
        EXPECT_NE(r->body.find(line), std::string::npos) << line;
    }
    EXPECT_GE(metrics_->requests("/v1/chat/completions", 200), 1u);
}

// Sends a 1500-token request on a raw connection, closes it once `begun` holds for what was
// received, and checks that the job stopped early and the server still answers.
void HttpServerTest::expect_disconnect_cancels(bool stream, const std::function<bool(const std::string &)> &begun) {
    const uint64_t before = metrics_->generated_tokens();
    {
        RawConnection c(api_->port());
        c.send(test::post_request("/v1/chat/completions", chat_body("Write forever", 1500, stream)));
        ASSERT_TRUE(eventually([&] { return begun(c.read_for(std::chrono::milliseconds(50))); }));
    }  // the client goes away here
    // The job ends long before its 1500 tokens, and the slot is free again.
    ASSERT_TRUE(eventually([&] { return stack_->scheduler().active_jobs() == 0; }));
    const uint64_t generated = metrics_->generated_tokens() - before;
    EXPECT_GT(generated, 0u);
    EXPECT_LT(generated, 1500u);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_EQ(metrics_->generated_tokens() - before, generated) << "nothing keeps generating";
    // A patient client gets the whole reply (after heartbeat spaces when not streaming).
    EXPECT_EQ(post_json("/v1/chat/completions", chat_body("still there?", 40))["usage"]["completion_tokens"], 40);
}

TEST_F(HttpServerTest, ClientDisconnectMidStreamCancelsTheJob) {
    start();
    expect_disconnect_cancels(true, [](const std::string &got) {
        size_t n = 0;
        for (size_t p = 0; (p = got.find("\"content\"", p)) != std::string::npos; p++) n++;
        return n >= 3;
    });
}

// Without streaming no JSON byte is ready before the end, but the server writes whitespace
// while it generates: a client that went away is noticed and its job cancelled.
TEST_F(HttpServerTest, ClientDisconnectWhileWaitingForAWholeReplyCancelsTheJob) {
    start();
    expect_disconnect_cancels(false, [](const std::string &got) {
        // The status line and a heartbeat chunk: the reply is being generated.
        return got.find("HTTP/1.1 200") != std::string::npos && got.find("1\r\n \r\n") != std::string::npos;
    });
}

TEST_F(HttpServerTest, CorsHeadersOnlyWhenEnabled) {
    start(http_options(/*cors=*/true));
    auto check = [](const httplib::Result &r) {
        ASSERT_TRUE(r);
        EXPECT_EQ(r->get_header_value("Access-Control-Allow-Origin"), "*");
        EXPECT_EQ(r->get_header_value("Access-Control-Allow-Methods"), "GET, POST, OPTIONS");
        EXPECT_EQ(r->get_header_value("Access-Control-Allow-Headers"), "*");
    };
    check(client_->Options("/v1/messages"));
    check(client_->Get("/health"));
    check(client_->Get("/nope"));
    check(post("/v1/chat/completions", "{"));
    check(post("/v1/chat/completions", chat_body("cors", 2, true)));
    EXPECT_EQ(client_->Options("/anything")->status, 204);
}

TEST_F(HttpServerTest, TraceRecordsEachRequest) {
    const std::string path = std::string(::testing::TempDir()) + "/dstar_api_trace_" + std::to_string(::getpid()) + ".txt";
    {
        Trace trace(path);
        start(http_options(), &trace);
        const std::string body = chat_body("traced request", 3);
        post_json("/v1/chat/completions", body);
        post("/v1/chat/completions", "{bad");  // parse errors are not traced
        api_->stop();
        std::ifstream f(path);
        std::stringstream ss;
        ss << f.rdbuf();
        const std::string t = ss.str();
        for (const std::string &s : {std::string("===== request 1 "), std::string("kind: chat\n"), std::string("think_mode: none\n"),
                                     std::string("temperature: 0.000\n"), std::string("--- raw request json ---\n") + body,
                                     std::string("--- rendered prompt ---\n"), std::string("--- cache decision ---"),
                                     std::string("--- generated text ---"), std::string("--- parsed message ---"),
                                     std::string("finish: length\n"), std::string("generated_tokens: 3\n"),
                                     std::string("===== end request 1 =====")}) {
            EXPECT_NE(t.find(s), std::string::npos) << s << "\n" << t;
        }
        EXPECT_EQ(t.find("===== request 2"), std::string::npos);
    }
    std::remove(path.c_str());
}

// A server of its own: one slot (so jobs queue), shut down at the end.
TEST(HttpServerLifecycle, KeepalivesWhileQueuedAndShutdownWithARequestInFlight) {
    const std::string kv_dir = std::string(::testing::TempDir()) + "/dstar_api_kv_" + std::to_string(::getpid());
    ServerOptions o = tiny_options(1);
    o.kv.dir = kv_dir;
    o.kv.min_tokens = 16;
    o.kv.cold_max_tokens = 0;
    Metrics metrics;
    ServingStack stack(o, metrics);
    ApiServer api(http_options(), metrics, nullptr);
    api.start();
    api.set_ready(stack.serving());

    // A long job holds the only slot.
    std::string long_stream;
    std::thread first([&] {
        httplib::Client c("127.0.0.1", api.port());
        c.set_read_timeout(120, 0);
        auto r = c.Post("/v1/chat/completions", chat_body("Go on and on", 1500, true), "application/json");
        if (r) long_stream = r->body;
    });
    ASSERT_TRUE(eventually([&] { return stack.scheduler().active_jobs() == 1; }));
    const std::string m = metrics.render();
    for (const char *gauge : {"dstar_disk_cache_files ", "dstar_disk_cache_bytes ", "dstar_disk_cache_hits ",
                              "dstar_disk_cache_stores ", "dstar_disk_cache_evictions ", "dstar_disk_cache_rejected_files "}) {
        EXPECT_NE(m.find(gauge), std::string::npos) << gauge;
    }

    // A second stream waits in the queue and is kept alive meanwhile.
    RawConnection queued(api.port());
    queued.send(test::post_request("/v1/messages", R"({"max_tokens":2,"stream":true,"messages":[{"role":"user","content":"hi"}],)"
                                                   R"("thinking":{"type":"disabled"}})"));
    const std::string waiting = queued.read_for(std::chrono::milliseconds(600));
    EXPECT_EQ(stack.scheduler().queue_depth(), 1u);
    EXPECT_EQ(waiting.rfind("HTTP/1.1 200", 0), 0u) << waiting;
    EXPECT_NE(waiting.find("event: ping"), std::string::npos) << waiting;
    EXPECT_EQ(waiting.find("message_start"), std::string::npos) << "not started yet";

    // Shutdown: new requests are refused, running and queued jobs end with an error.
    api.begin_shutdown();
    httplib::Client c("127.0.0.1", api.port());
    auto r = c.Post("/v1/chat/completions", chat_body("late", 2), "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503);
    EXPECT_EQ(json::parse(r->body)["error"]["message"], "server shutting down");
    EXPECT_EQ(c.Get("/health")->status, 503);
    stack.shutdown();
    first.join();
    const auto ev = parse_sse(long_stream);
    ASSERT_GE(ev.size(), 4u) << long_stream;
    EXPECT_EQ(ev[ev.size() - 3].j["choices"].at(0)["finish_reason"], "error");
    EXPECT_GT(ev[ev.size() - 2].j["usage"]["completion_tokens"].get<int>(), 0) << "usage of the tokens made before the stop";
    EXPECT_EQ(ev.back().data, "[DONE]");
    const std::string rest = queued.read_for(std::chrono::seconds(10), "0\r\n\r\n");
    EXPECT_TRUE(rest.find("message_stop") != std::string::npos || rest.find("event: error") != std::string::npos) << rest;
    api.stop();
    // The slot that held the long conversation was saved for the next start.
    size_t kv_files = 0;
    for (const auto &e : std::filesystem::directory_iterator(kv_dir)) kv_files += e.path().extension() == ".kv";
    EXPECT_GE(kv_files, 1u);
    std::filesystem::remove_all(kv_dir);
}

}  // namespace
}  // namespace dstar::server::api
