// The four APIs' reply formats over synthetic generations (spec server.md §8-§13): the random
// tiny model never writes DSML, so tool calls are tested here by feeding DSML text through the
// stream encoders in small pieces, exactly as the worker's Text events would arrive.
#include "server/api/reply_format.h"

#include "server/api/sse_test_util.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <map>

namespace dstar::server::api {
namespace {

using nlohmann::json;

using test::SseEvent;
std::vector<SseEvent> parse_sse(std::string_view bytes) { return test::parse_sse(bytes, /*strict=*/true); }

JobResult result(Finish f, const std::string &text, uint32_t prompt = 100, uint32_t cached = 60, uint32_t gen = 20) {
    JobResult r;
    r.finish = f;
    r.text = text;
    r.prompt_tokens = prompt;
    r.cached_tokens = cached;
    r.generated_tokens = gen;
    return r;
}

ReplySetup setup(Api api, bool thinking, bool tools) {
    ReplySetup s;
    s.api = api;
    s.id = api == Api::Responses ? "resp_0123456789abcdef01234567" : (api == Api::Completions ? "cmpl-7" : "chatcmpl-7");
    s.model = "deepseek-v4-flash";
    s.created = 1700000000;
    s.thinking = thinking;
    s.tools = tools;
    return s;
}

// Runs a whole stream: start, the text in `step`-byte pieces, finalize, finish.
struct Streamed {
    std::string bytes;
    FinalReply reply;
    std::vector<SseEvent> events;
};

Streamed stream(const ReplySetup &s, const JobResult &done, size_t step, CallIdSource &ids) {
    Streamed out;
    auto enc = make_stream_encoder(s, ids);
    out.bytes += enc->start(usage_of(done));
    for (size_t n = step; n < done.text.size(); n += step) out.bytes += enc->text(std::string_view(done.text).substr(0, n));
    out.reply = enc->finalize(done, done.text);
    out.bytes += enc->finish(out.reply);
    out.events = parse_sse(out.bytes);
    return out;
}

Streamed stream(const ReplySetup &s, const JobResult &done, size_t step = 3) {
    CallIdSource ids(s.api == Api::Messages ? "toolu_" : "call_", nullptr);
    return stream(s, done, step, ids);
}

const std::string kDsmlOpen = "<｜DSML｜tool_calls>";
const std::string kDsmlClose = "</｜DSML｜tool_calls>";

std::string invoke(const std::string &name, const std::vector<std::tuple<std::string, std::string, bool>> &params) {
    std::string s = "<｜DSML｜invoke name=\"" + name + "\">\n";
    for (const auto &[k, v, is_string] : params) {
        s += "<｜DSML｜parameter name=\"" + k + "\" string=\"" + (is_string ? "true" : "false") + "\">" + v +
             "</｜DSML｜parameter>\n";
    }
    return s + "</｜DSML｜invoke>\n";
}

// A write_file whose content is itself a protocol document: DSML and XML tags, JSON, a code
// fence, entities, and the escaped form of the closing parameter tag.
const std::string kTrickyContent =
    "# Tool protocol\n```xml\n<tool_calls><invoke name=\"x\"><parameter name=\"a\">1</parameter></invoke></tool_calls>\n```\n"
    "Inline: <｜DSML｜invoke name=\"fake\"> and {\"json\": [1, 2, {\"k\": \"v\\n\"}]}\n"
    "Escaped closer: &lt;/｜DSML｜parameter> and a &amp; b &lt; c &gt; d &quot;q&quot; &apos;s&apos;\n"
    "```cpp\nint main() { return 0; }\n```\n";

std::string tool_text(bool thinking) {
    std::string t;
    if (thinking) t += "I should write the file first.</think>";
    t += "Writing it now.\n\n" + kDsmlOpen + "\n";
    t += invoke("write_file", {{"path", "docs/protocol.md", true}, {"content", kTrickyContent, true}});
    t += invoke("run", {{"cmd", "ls -la", true}, {"opts", "{\"a\":[1,2],\"b\":null}", false}, {"n", "3", false}});
    t += kDsmlClose;
    return t;
}

// ---- OpenAI chat ----

TEST(ChatFormat, NonStreamingShape) {
    ReplySetup s = setup(Api::Chat, true, false);
    CallIdSource ids("call_", nullptr);
    const JobResult r = result(Finish::Stop, "Let me think.</think>The answer is 4.");
    const json j = json::parse(reply_json(s, chat_reply(r, r.text, true, {}, ids)));
    EXPECT_EQ(j["id"], "chatcmpl-7");
    EXPECT_EQ(j["object"], "chat.completion");
    EXPECT_EQ(j["created"], 1700000000);
    EXPECT_EQ(j["model"], "deepseek-v4-flash");
    const json &c = j["choices"][0];
    EXPECT_EQ(c["index"], 0);
    EXPECT_EQ(c["message"]["role"], "assistant");
    EXPECT_EQ(c["message"]["content"], "The answer is 4.");
    EXPECT_EQ(c["message"]["reasoning_content"], "Let me think.");
    EXPECT_FALSE(c["message"].contains("tool_calls"));
    EXPECT_EQ(c["finish_reason"], "stop");
    EXPECT_EQ(j["usage"], json::parse(R"({"prompt_tokens":100,"completion_tokens":20,"total_tokens":120,
                                          "prompt_tokens_details":{"cached_tokens":60,"cache_write_tokens":40}})"));
}

TEST(ChatFormat, CutOffReasoningIsReturnedAsContent) {
    // ds4 quirk kept: no </think> before the length stop -> the raw text is the content.
    CallIdSource ids("call_", nullptr);
    const JobResult r = result(Finish::Length, "still thinking about");
    const json j = json::parse(reply_json(setup(Api::Chat, true, false), chat_reply(r, r.text, true, {}, ids)));
    EXPECT_EQ(j["choices"][0]["message"]["content"], "still thinking about");
    EXPECT_FALSE(j["choices"][0]["message"].contains("reasoning_content"));
    EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
}

TEST(ChatFormat, NonStreamingToolCalls) {
    CallIdSource ids("call_", nullptr);
    const JobResult r = result(Finish::ToolCalls, tool_text(false));
    const FinalReply reply = chat_reply(r, r.text, false, {}, ids);
    ASSERT_EQ(reply.calls.size(), 2u);
    EXPECT_EQ(reply.finish, Finish::ToolCalls);
    EXPECT_EQ(reply.raw_block.rfind("\n\n" + kDsmlOpen, 0), 0u) << "the exact block, with its separator";
    const json j = json::parse(reply_json(setup(Api::Chat, false, true), reply));
    const json &m = j["choices"][0]["message"];
    EXPECT_EQ(m["content"], "Writing it now.") << "whitespace before the block is syntax, not content";
    ASSERT_EQ(m["tool_calls"].size(), 2u);
    const json &c0 = m["tool_calls"][0];
    EXPECT_EQ(c0["type"], "function");
    EXPECT_EQ(c0["function"]["name"], "write_file");
    EXPECT_EQ(std::string(c0["id"]).rfind("call_", 0), 0u);
    const json args = json::parse(std::string(c0["function"]["arguments"]));
    std::string expected_content = kTrickyContent;
    for (auto [from, to] : std::vector<std::pair<std::string, std::string>>{
             {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&apos;", "'"}, {"&amp;", "&"}}) {
        for (size_t p; (p = expected_content.find(from)) != std::string::npos;) expected_content.replace(p, from.size(), to);
    }
    EXPECT_EQ(args["path"], "docs/protocol.md");
    EXPECT_EQ(args["content"], expected_content);
    const json args1 = json::parse(std::string(m["tool_calls"][1]["function"]["arguments"]));
    EXPECT_EQ(args1["opts"], json::parse(R"({"a":[1,2],"b":null})"));
    EXPECT_EQ(args1["n"], 3);
    EXPECT_EQ(j["choices"][0]["finish_reason"], "tool_calls");
}

TEST(ChatFormat, StreamSequence) {
    const JobResult r = result(Finish::Stop, "Hmm, let me see.</think>Four. Final answer: 4.");
    ReplySetup s = setup(Api::Chat, true, false);
    s.include_usage = true;
    const Streamed st = stream(s, r, 2);
    const auto &ev = st.events;
    ASSERT_GE(ev.size(), 5u);
    EXPECT_EQ(ev[0].j["choices"][0]["delta"], json::parse(R"({"role":"assistant"})"));
    std::string reasoning, content;
    size_t i = 1;
    for (; i < ev.size() && ev[i].j.is_object() && ev[i].j["choices"].size() == 1 &&
           ev[i].j["choices"][0]["finish_reason"].is_null();
         i++) {
        const json &d = ev[i].j["choices"][0]["delta"];
        EXPECT_EQ(ev[i].j["object"], "chat.completion.chunk");
        EXPECT_EQ(ev[i].j["id"], "chatcmpl-7");
        if (d.contains("reasoning_content")) {
            EXPECT_TRUE(content.empty()) << "reasoning comes before content";
            reasoning += d["reasoning_content"];
        } else {
            content += d["content"];
        }
    }
    EXPECT_EQ(reasoning, "Hmm, let me see.");
    EXPECT_EQ(content, "Four. Final answer: 4.");
    ASSERT_EQ(ev.size(), i + 3);
    EXPECT_EQ(ev[i].j["choices"][0]["delta"], json::object());
    EXPECT_EQ(ev[i].j["choices"][0]["finish_reason"], "stop");
    EXPECT_TRUE(ev[i + 1].j["choices"].empty());
    EXPECT_EQ(ev[i + 1].j["usage"]["prompt_tokens_details"]["cached_tokens"], 60);
    EXPECT_EQ(ev[i + 2].data, "[DONE]");
    // Without include_usage there is no usage chunk.
    const Streamed plain = stream(setup(Api::Chat, true, false), r, 5);
    EXPECT_EQ(plain.events[plain.events.size() - 2].j["choices"][0]["finish_reason"], "stop");
    EXPECT_EQ(plain.events.back().data, "[DONE]");
}

// Streamed tool calls: ids and argument fragments, for several ways the text can be split.
TEST(ChatFormat, StreamedToolArgumentsConcatenateToTheFinalArguments) {
    for (bool thinking : {false, true}) {
        for (size_t step : {1u, 2u, 7u, 64u, 100000u}) {
            const JobResult r = result(Finish::ToolCalls, tool_text(thinking));
            const Streamed st = stream(setup(Api::Chat, thinking, true), r, step);
            ASSERT_EQ(st.reply.calls.size(), 2u) << step;
            std::map<int, std::string> args, ids, names;
            std::string content;
            for (const SseEvent &e : st.events) {
                if (!e.j.is_object() || e.j["choices"].empty()) continue;
                const json &d = e.j["choices"][0]["delta"];
                if (d.contains("content")) content += d["content"];
                if (!d.contains("tool_calls")) continue;
                for (const json &tc : d["tool_calls"]) {
                    const int idx = tc["index"];
                    if (tc.contains("id")) {
                        EXPECT_FALSE(ids.count(idx)) << "one id per call";
                        ids[idx] = tc["id"];
                        names[idx] = tc["function"]["name"];
                        EXPECT_EQ(tc["type"], "function");
                    }
                    args[idx] += tc["function"]["arguments"];
                }
            }
            EXPECT_EQ(content, "Writing it now.") << "step " << step;
            for (int i = 0; i < 2; i++) {
                EXPECT_EQ(ids[i], st.reply.calls[i].id) << "the streamed id is the returned id";
                EXPECT_EQ(names[i], st.reply.calls[i].name);
                EXPECT_EQ(args[i], st.reply.calls[i].arguments) << "step " << step << " call " << i;
                EXPECT_TRUE(json::accept(args[i]));
            }
            EXPECT_EQ(st.events[st.events.size() - 2].j["choices"][0]["finish_reason"], "tool_calls");
        }
    }
}

// A value holding an unescaped closing-tag lookalike followed by ordinary text: the live
// projection must agree with the final parse, or a client would execute different arguments.
TEST(ChatFormat, UnescapedClosingTagLookalikeStreamsTheFinalArguments) {
    const std::string doc = "The value ends at </｜DSML｜parameter> when the next thing is a tag.\nDone.";
    const std::string text = "\n\n" + kDsmlOpen + "\n" + invoke("write_file", {{"path", "a.md", true}, {"content", doc, true}}) + kDsmlClose;
    for (size_t step : {1u, 3u, 100000u}) {
        const JobResult r = result(Finish::ToolCalls, text);
        const Streamed st = stream(setup(Api::Chat, false, true), r, step);
        ASSERT_EQ(st.reply.calls.size(), 1u);
        EXPECT_EQ(json::parse(st.reply.calls[0].arguments)["content"], doc);
        std::string args;
        for (const SseEvent &e : st.events) {
            if (!e.j.is_object() || e.j["choices"].empty()) continue;
            const json &d = e.j["choices"][0]["delta"];
            if (d.contains("tool_calls")) args += d["tool_calls"][0]["function"]["arguments"];
        }
        EXPECT_EQ(args, st.reply.calls[0].arguments) << "step " << step;
    }
}

TEST(ChatFormat, MalformedToolBlockComesBackAsText) {
    // The block never closes: the worker ends with an error, the text is returned as content.
    const std::string text = "Let me run it.\n\n" + kDsmlOpen + "\n<｜DSML｜invoke name=\"run\">\n<｜DSML｜parameter name=\"cmd\" string=\"true\">ls";
    for (Finish f : {Finish::Stop, Finish::Length, Finish::Error}) {
        const JobResult r = result(f, text);
        CallIdSource ids("call_", nullptr);
        const FinalReply reply = chat_reply(r, r.text, false, {}, ids);
        EXPECT_TRUE(reply.recovered);
        EXPECT_FALSE(reply.parse_error.empty());
        EXPECT_TRUE(reply.calls.empty());
        EXPECT_EQ(reply.content, text);
        EXPECT_EQ(reply.finish, f == Finish::Stop ? Finish::Stop : f) << "length and error are kept";
        // The stream releases the held-back bytes as content at the end.
        const Streamed st = stream(setup(Api::Chat, false, true), r, 4);
        std::string content;
        for (const SseEvent &e : st.events) {
            if (e.j.is_object() && !e.j["choices"].empty() && e.j["choices"][0]["delta"].contains("content")) {
                content += e.j["choices"][0]["delta"]["content"];
            }
        }
        EXPECT_EQ(content, text);
    }
}

TEST(ChatFormat, IdsAvoidTheToolMemory) {
    kvcache::ToolMemory memory;
    CallIdSource ids("call_", &memory);
    std::set<std::string> seen;
    for (int i = 0; i < 50; i++) {
        const std::string id = ids.next();
        EXPECT_TRUE(seen.insert(id).second);
        EXPECT_FALSE(memory.contains(id));
    }
}

// ---- Completions ----

TEST(CompletionsFormat, RawTextAndUtf8SafeDeltas) {
    const std::string text = "Thinking</think>caf\xc3\xa9 \xe2\x82\xac\xf0\x9f\x98\x80!";
    const JobResult r = result(Finish::Length, text);
    const FinalReply reply = completion_reply(r, r.text);
    const json j = json::parse(reply_json(setup(Api::Completions, true, false), reply));
    EXPECT_EQ(j["object"], "text_completion");
    EXPECT_EQ(j["id"], "cmpl-7");
    EXPECT_EQ(j["choices"][0]["text"], text) << "no reasoning split on this endpoint (ds4)";
    EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
    EXPECT_EQ(j["usage"]["total_tokens"], 120);
    ReplySetup s = setup(Api::Completions, true, false);
    s.include_usage = true;
    for (size_t step : {1u, 2u, 3u}) {
        const Streamed st = stream(s, r, step);
        std::string joined;
        size_t i = 0;
        for (; i < st.events.size() && st.events[i].j["choices"].size() == 1 &&
               st.events[i].j["choices"][0]["finish_reason"].is_null();
             i++) {
            const std::string piece = st.events[i].j["choices"][0]["text"];
            EXPECT_FALSE(piece.empty());
            EXPECT_EQ(piece.find("\xef\xbf\xbd"), std::string::npos) << "a character was split";
            joined += piece;
        }
        EXPECT_EQ(joined, text);
        ASSERT_EQ(st.events.size(), i + 3);
        EXPECT_EQ(st.events[i].j["choices"][0]["text"], "");
        EXPECT_EQ(st.events[i].j["choices"][0]["finish_reason"], "length");
        EXPECT_EQ(st.events[i + 1].j["object"], "text_completion");
        EXPECT_TRUE(st.events[i + 1].j["choices"].empty());
        EXPECT_EQ(st.events[i + 2].data, "[DONE]");
    }
}

// ---- Anthropic ----

TEST(AnthropicFormat, NonStreamingBlocks) {
    CallIdSource ids("toolu_", nullptr);
    const JobResult r = result(Finish::ToolCalls, tool_text(true));
    const FinalReply reply = chat_reply(r, r.text, true, {}, ids);
    const json j = json::parse(reply_json(setup(Api::Messages, true, true), reply));
    EXPECT_EQ(j["id"], "chatcmpl-7");
    EXPECT_EQ(j["type"], "message");
    EXPECT_EQ(j["role"], "assistant");
    ASSERT_EQ(j["content"].size(), 4u);
    EXPECT_EQ(j["content"][0], json::parse(R"({"type":"thinking","thinking":"I should write the file first.","signature":"chatcmpl-7"})"));
    EXPECT_EQ(j["content"][1], json::parse(R"({"type":"text","text":"Writing it now."})"));
    EXPECT_EQ(j["content"][2]["type"], "tool_use");
    EXPECT_EQ(std::string(j["content"][2]["id"]).rfind("toolu_", 0), 0u);
    EXPECT_EQ(j["content"][2]["name"], "write_file");
    EXPECT_EQ(j["content"][2]["input"]["path"], "docs/protocol.md");
    EXPECT_EQ(j["content"][3]["input"]["opts"]["a"], json::parse("[1,2]"));
    EXPECT_EQ(j["stop_reason"], "tool_use");
    EXPECT_TRUE(j["stop_sequence"].is_null());
    EXPECT_EQ(j["usage"], json::parse(R"({"input_tokens":0,"output_tokens":20,"cache_read_input_tokens":60,"cache_creation_input_tokens":40})"));
    // Only a thinking block: an empty text block follows it.
    const JobResult t = result(Finish::Length, "thinking only</think>");
    const json k = json::parse(reply_json(setup(Api::Messages, true, false), chat_reply(t, t.text, true, {}, ids)));
    ASSERT_EQ(k["content"].size(), 2u);
    EXPECT_EQ(k["content"][1], json::parse(R"({"type":"text","text":""})"));
    EXPECT_EQ(k["stop_reason"], "max_tokens");
}

TEST(AnthropicFormat, StreamSequenceWithLiveToolUse) {
    for (size_t step : {1u, 5u, 100000u}) {
        const JobResult r = result(Finish::ToolCalls, tool_text(true));
        const Streamed st = stream(setup(Api::Messages, true, true), r, step);
        const auto &ev = st.events;
        ASSERT_FALSE(ev.empty());
        EXPECT_EQ(ev[0].event, "message_start");
        EXPECT_EQ(ev[0].j["message"]["usage"]["cache_read_input_tokens"], 60);
        EXPECT_EQ(ev[0].j["message"]["usage"]["output_tokens"], 0);
        std::map<int, std::string> block_type, text, partial;
        std::map<int, json> start;
        int open = -1, next_index = 0;
        std::vector<std::string> order;
        for (size_t i = 1; i < ev.size(); i++) {
            const SseEvent &e = ev[i];
            EXPECT_EQ(e.event, e.j["type"]) << "event name equals the type";
            if (e.event == "content_block_start") {
                EXPECT_EQ(open, -1) << "blocks do not overlap";
                open = e.j["index"];
                EXPECT_EQ(open, next_index) << "indexes increase by one per block";
                start[open] = e.j["content_block"];
                block_type[open] = e.j["content_block"]["type"];
                order.push_back(block_type[open]);
            } else if (e.event == "content_block_delta") {
                EXPECT_EQ(e.j["index"], open);
                const json &d = e.j["delta"];
                if (d["type"] == "thinking_delta") text[open] += d["thinking"];
                else if (d["type"] == "text_delta") text[open] += d["text"];
                else if (d["type"] == "input_json_delta") partial[open] += d["partial_json"];
                else if (d["type"] == "signature_delta") EXPECT_EQ(d["signature"], "chatcmpl-7");
                else ADD_FAILURE() << d.dump();
            } else if (e.event == "content_block_stop") {
                EXPECT_EQ(e.j["index"], open);
                open = -1;
                next_index++;
            }
        }
        EXPECT_EQ(open, -1);
        EXPECT_EQ(order, (std::vector<std::string>{"thinking", "text", "tool_use", "tool_use"})) << "step " << step;
        EXPECT_EQ(text[0], "I should write the file first.");
        EXPECT_EQ(text[1], "Writing it now.");
        ASSERT_EQ(st.reply.calls.size(), 2u);
        for (int i = 0; i < 2; i++) {
            EXPECT_EQ(start[2 + i]["id"], st.reply.calls[static_cast<size_t>(i)].id);
            EXPECT_EQ(start[2 + i]["name"], st.reply.calls[static_cast<size_t>(i)].name);
            EXPECT_EQ(start[2 + i]["input"], json::object());
            EXPECT_EQ(partial[2 + i], st.reply.calls[static_cast<size_t>(i)].arguments) << "step " << step;
        }
        ASSERT_GE(ev.size(), 2u);
        EXPECT_EQ(ev[ev.size() - 2].event, "message_delta");
        EXPECT_EQ(ev[ev.size() - 2].j["delta"]["stop_reason"], "tool_use");
        EXPECT_EQ(ev[ev.size() - 2].j["usage"]["output_tokens"], 20);
        EXPECT_EQ(ev.back().event, "message_stop");
    }
}

TEST(AnthropicFormat, ThinkingOnlyStreamGetsAnEmptyTextBlock) {
    const Streamed st = stream(setup(Api::Messages, true, false), result(Finish::Stop, "just thinking</think>"));
    std::vector<std::string> starts;
    for (const SseEvent &e : st.events) {
        if (e.event == "content_block_start") starts.push_back(e.j["content_block"]["type"]);
    }
    EXPECT_EQ(starts, (std::vector<std::string>{"thinking", "text"}));
    EXPECT_EQ(st.events[st.events.size() - 2].j["delta"]["stop_reason"], "end_turn");
}

TEST(AnthropicFormat, KeepaliveIsAPingEvent) {
    CallIdSource ids("toolu_", nullptr);
    EXPECT_EQ(make_stream_encoder(setup(Api::Messages, false, false), ids)->keepalive(), "event: ping\ndata: {\"type\":\"ping\"}\n\n");
    EXPECT_EQ(make_stream_encoder(setup(Api::Chat, false, false), ids)->keepalive(), ": prefill\n\n");
    EXPECT_EQ(make_stream_encoder(setup(Api::Responses, false, false), ids)->keepalive(), ": prefill\n\n");
}

// ---- Responses ----

ReplySetup responses_setup(bool thinking, bool summary) {
    ReplySetup s = setup(Api::Responses, thinking, true);
    s.reasoning_summary = summary;
    chat::ToolSpec ns;
    ns.prompt_name = "fs__write_file";
    ns.wire_name = "write_file";
    ns.ns = "fs__";
    s.tool_specs = {ns};
    return s;
}

TEST(ResponsesFormat, NonStreamingItems) {
    std::string text = tool_text(true);
    // The model calls the namespaced tool by its prompt name.
    text.replace(text.find("\"write_file\""), 12, "\"fs__write_file\"");
    CallIdSource ids("call_", nullptr);
    const JobResult r = result(Finish::ToolCalls, text);
    const FinalReply reply = chat_reply(r, r.text, true, {}, ids);
    const json j = json::parse(reply_json(responses_setup(true, true), reply));
    EXPECT_EQ(j["object"], "response");
    EXPECT_EQ(j["status"], "completed");
    EXPECT_EQ(j["created_at"], 1700000000);
    ASSERT_EQ(j["output"].size(), 4u);
    EXPECT_EQ(j["output"][0]["type"], "reasoning");
    EXPECT_EQ(j["output"][0]["summary"][0]["text"], "I should write the file first.");
    EXPECT_EQ(j["output"][1]["type"], "message");
    EXPECT_EQ(j["output"][1]["content"][0], json::parse(R"({"type":"output_text","text":"Writing it now.","annotations":[]})"));
    const json &fc = j["output"][2];
    EXPECT_EQ(fc["type"], "function_call");
    EXPECT_EQ(fc["name"], "write_file");
    EXPECT_EQ(fc["namespace"], "fs__");
    EXPECT_EQ(fc["call_id"], reply.calls[0].id);
    EXPECT_EQ(fc["arguments"], reply.calls[0].arguments);
    EXPECT_EQ(std::string(fc["id"]).rfind("fc_", 0), 0u);
    EXPECT_EQ(j["output"][3]["name"], "run");
    EXPECT_FALSE(j["output"][3].contains("namespace"));
    EXPECT_EQ(j["usage"], json::parse(R"({"input_tokens":100,"input_tokens_details":{"cached_tokens":60,"cache_write_tokens":40},
        "output_tokens":20,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":120})"));
    // Without the summary opt-in no reasoning item; a length stop is incomplete.
    const JobResult cut = result(Finish::Length, "a</think>partial");
    const json k = json::parse(reply_json(responses_setup(true, false), chat_reply(cut, cut.text, true, {}, ids)));
    EXPECT_EQ(k["status"], "incomplete");
    EXPECT_EQ(k["incomplete_details"]["reason"], "max_tokens");
    ASSERT_EQ(k["output"].size(), 1u);
    EXPECT_EQ(k["output"][0]["status"], "incomplete");
    const JobResult err = result(Finish::Error, "a</think>b");
    const json f = json::parse(reply_json(responses_setup(true, false), chat_reply(err, err.text, true, {}, ids)));
    EXPECT_EQ(f["status"], "failed");
    EXPECT_EQ(f["error"], json::parse(R"({"code":"server_error","message":"generation failed"})"));
}

TEST(ResponsesFormat, StreamLifecycle) {
    for (bool summary : {false, true}) {
        const JobResult r = result(Finish::ToolCalls, tool_text(true));
        const Streamed st = stream(responses_setup(true, summary), r, 3);
        std::vector<std::string> types;
        std::string reasoning, text, args;
        for (size_t i = 0; i < st.events.size(); i++) {
            const SseEvent &e = st.events[i];
            EXPECT_TRUE(e.event.empty()) << "no event: lines on this endpoint";
            EXPECT_EQ(e.j["sequence_number"], i);
            const std::string type = e.j["type"];
            EXPECT_EQ(e.data.rfind("{\"type\":\"" + type + "\",\"sequence_number\":" + std::to_string(i) + ",", 0), 0u)
                << "type first, sequence_number second: " << e.data;
            if (types.empty() || types.back() != type) types.push_back(type);
            if (type == "response.reasoning_summary_text.delta") reasoning += e.j["delta"];
            if (type == "response.output_text.delta") text += e.j["delta"];
            if (type == "response.function_call_arguments.delta") args += e.j["delta"];
        }
        std::vector<std::string> expected = {"response.created"};
        if (summary) {
            expected.insert(expected.end(), {"response.output_item.added", "response.reasoning_summary_part.added",
                                             "response.reasoning_summary_text.delta"});
        }
        expected.insert(expected.end(), {"response.output_item.added", "response.content_part.added", "response.output_text.delta"});
        if (summary) {
            expected.insert(expected.end(), {"response.reasoning_summary_text.done", "response.reasoning_summary_part.done",
                                             "response.output_item.done"});
        }
        expected.insert(expected.end(), {"response.output_text.done", "response.content_part.done", "response.output_item.done"});
        for (int call = 0; call < 2; call++) {
            expected.insert(expected.end(), {"response.output_item.added", "response.function_call_arguments.delta",
                                             "response.function_call_arguments.done", "response.output_item.done"});
        }
        expected.push_back("response.completed");
        EXPECT_EQ(types, expected);
        EXPECT_EQ(reasoning, summary ? "I should write the file first." : "");
        EXPECT_EQ(text, "Writing it now.");
        EXPECT_EQ(args, st.reply.calls[0].arguments + st.reply.calls[1].arguments);
        const json &final = st.events.back().j["response"];
        EXPECT_EQ(final["status"], "completed");
        ASSERT_EQ(final["output"].size(), summary ? 4u : 3u);
        EXPECT_EQ(final["output"][summary ? 1 : 0]["content"][0]["text"], "Writing it now.");
        EXPECT_EQ(final["output"].back()["call_id"], st.reply.calls[1].id);
        EXPECT_EQ(final["usage"]["output_tokens"], 20);
    }
}

TEST(ResponsesFormat, TerminalEventFollowsTheFinish) {
    EXPECT_EQ(stream(responses_setup(false, false), result(Finish::Length, "partial")).events.back().j["type"], "response.incomplete");
    const Streamed failed = stream(responses_setup(false, false), result(Finish::Error, "oops"));
    EXPECT_EQ(failed.events.back().j["type"], "response.failed");
    EXPECT_EQ(failed.events.back().j["response"]["error"]["code"], "server_error");
    EXPECT_EQ(stream(responses_setup(false, false), result(Finish::Stop, "done")).events.back().j["type"], "response.completed");
}

TEST(FinishMapping, PerApi) {
    EXPECT_STREQ(openai_finish_reason(Finish::ToolCalls), "tool_calls");
    EXPECT_STREQ(anthropic_stop_reason(Finish::Stop), "end_turn");
    EXPECT_STREQ(anthropic_stop_reason(Finish::Error), "end_turn");
    EXPECT_STREQ(anthropic_stop_reason(Finish::Length), "max_tokens");
    EXPECT_STREQ(anthropic_stop_reason(Finish::ToolCalls), "tool_use");
    EXPECT_STREQ(responses_status(Finish::ToolCalls), "completed");
    EXPECT_STREQ(responses_status(Finish::Length), "incomplete");
    EXPECT_STREQ(responses_status(Finish::Error), "failed");
    EXPECT_STREQ(responses_item_status(Finish::Error), "incomplete");
}

}  // namespace
}  // namespace dstar::server::api
