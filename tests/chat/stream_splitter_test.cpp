#include "chat/stream_splitter.h"

#include <gtest/gtest.h>

#include <map>
#include <ostream>

#include "chat/dsml_parse.h"
#include "chat/random_dsml.h"

namespace dstar::chat {

void PrintTo(const StreamEvent &e, std::ostream *os) {
    *os << "{" << static_cast<int>(e.kind) << "," << e.index << ",\"" << e.text << "\"}";
}

namespace {

using K = StreamEvent::Kind;

// Everything a client would have received, concatenated per channel.
struct Collected {
    std::string reasoning, content;
    std::map<int, std::string> names, args;
    std::vector<int> ended;
    std::vector<StreamEvent> events;

    void add(const std::vector<StreamEvent> &evs) {
        for (const StreamEvent &e : evs) {
            events.push_back(e);
            switch (e.kind) {
            case K::Reasoning: reasoning += e.text; break;
            case K::Content: content += e.text; break;
            case K::ToolCallStart: names[e.index] = e.text; break;
            case K::ToolCallArgs: args[e.index] += e.text; break;
            case K::ToolCallEnd: ended.push_back(e.index); break;
            }
        }
    }
};

// Feeds text in pieces of `step` bytes (any byte boundary), then a final update.
Collected feed(StreamSplitter &s, const std::string &text, size_t step) {
    Collected c;
    for (size_t n = step; n < text.size(); n += step) c.add(s.update(std::string_view(text).substr(0, n)));
    c.add(s.update(text, true));
    return c;
}

const std::string kSpecCompletion =
    "The user wants the file list. I will call bash.</think>Let me check.\n\n"
    "<｜DSML｜tool_calls>\n"
    "<｜DSML｜invoke name=\"bash\">\n"
    "<｜DSML｜parameter name=\"command\" string=\"true\">ls -la /srv/app | grep \"\\.txt\" "
    "&amp;&amp; echo ok</｜DSML｜parameter>\n"
    "<｜DSML｜parameter name=\"timeout\" string=\"false\">10</｜DSML｜parameter>\n"
    "</｜DSML｜invoke>\n"
    "<｜DSML｜invoke name=\"read\">\n"
    "<｜DSML｜parameter name=\"path\" string=\"true\">src/a.txt</｜DSML｜parameter>\n"
    "<｜DSML｜parameter name=\"range\" string=\"false\">[1, 20]</｜DSML｜parameter>\n"
    "</｜DSML｜invoke>\n"
    "</｜DSML｜tool_calls>";

TEST(StreamSplitter, SpecExampleAtEveryGranularity) {
    for (size_t step : {1u, 2u, 3u, 5u, 7u, 13u, 64u, 10000u}) {
        StreamSplitter s(/*thinking=*/true, /*tools=*/true);
        Collected c = feed(s, kSpecCompletion, step);
        EXPECT_EQ(c.reasoning, "The user wants the file list. I will call bash.") << step;
        EXPECT_EQ(c.content, "Let me check.") << step;  // separator whitespace never sent
        ASSERT_EQ(c.names.size(), 2u) << step;
        EXPECT_EQ(c.names[0], "bash");
        EXPECT_EQ(c.names[1], "read");
        EXPECT_EQ(c.args[0], R"({"command":"ls -la /srv/app | grep \"\\.txt\" && echo ok","timeout":10})");
        // JSON values are forwarded raw: the stream carries [1, 20], the final object [1,20].
        EXPECT_EQ(c.args[1], R"({"path":"src/a.txt","range":[1, 20]})");
        EXPECT_EQ(c.ended, (std::vector<int>{0, 1}));
        EXPECT_TRUE(s.streamed_tool_calls());
        EXPECT_EQ(s.tool_calls_started(), 2);
        // Final parse agrees except for the JSON spacing.
        const ParsedReply r = parse_generated_message(kSpecCompletion, true);
        EXPECT_EQ(compact_arguments_json(r.calls[0].arguments), c.args[0]);
    }
}

TEST(StreamSplitter, EventOrderForOneCall) {
    const std::string text = "ok<｜DSML｜tool_calls><｜DSML｜invoke name=\"f\">"
                             "<｜DSML｜parameter name=\"a\" string=\"true\">x</｜DSML｜parameter>"
                             "<｜DSML｜parameter name=\"b\" string=\"false\">1</｜DSML｜parameter>"
                             "</｜DSML｜invoke></｜DSML｜tool_calls>";
    StreamSplitter s(false, true);
    const auto events = s.update(text, true);
    const std::vector<StreamEvent> expected = {
        {K::Content, -1, "ok"},        {K::ToolCallStart, 0, "f"},    {K::ToolCallArgs, 0, "{"},
        {K::ToolCallArgs, 0, "\"a\":\""}, {K::ToolCallArgs, 0, "x"}, {K::ToolCallArgs, 0, "\""},
        {K::ToolCallArgs, 0, ",\"b\":"}, {K::ToolCallArgs, 0, "1"},  {K::ToolCallArgs, 0, "}"},
        {K::ToolCallEnd, 0, ""},
    };
    EXPECT_EQ(events, expected);
}

TEST(StreamSplitter, ThinkingHoldsSevenBytes) {
    StreamSplitter s(true, false);
    EXPECT_TRUE(s.update("<thi").empty());  // could still be the <think> prefix
    auto ev = s.update("<think>abcdefghij");
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0], (StreamEvent{K::Reasoning, -1, "abc"}));
    ev = s.update("<think>abcdefghij</thi");
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].text, "defgh");  // the last 7 bytes stay back
    ev = s.update("<think>abcdefghij</think>Hi <b>");
    ASSERT_EQ(ev.size(), 2u);
    EXPECT_EQ(ev[0], (StreamEvent{K::Reasoning, -1, "ij"}));
    EXPECT_EQ(ev[1], (StreamEvent{K::Content, -1, "Hi <b>"}));  // no hold without tools
    EXPECT_TRUE(s.sent_reasoning());
    EXPECT_TRUE(s.sent_content());
}

TEST(StreamSplitter, TruncatedReasoningIsFlushedAtTheEnd) {
    StreamSplitter s(true, true);
    Collected c = feed(s, "still thinking about it", 4);
    EXPECT_EQ(c.reasoning, "still thinking about it");
    EXPECT_EQ(c.content, "");
}

TEST(StreamSplitter, ContentHoldsPossibleMarkerAndWhitespace) {
    StreamSplitter s(false, true);
    auto ev = s.update("Use a<b and \n");
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].text, "Use a");  // from '<' on: may be a marker
    EXPECT_TRUE(s.update("Use a<b and \n").empty());
    ev = s.update("Use a<b and \n" + std::string(90, 'z'));
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].text, "<b and \n" + std::string(90, 'z'));  // '<' now out of the window
    ev = s.update("Use a<b and \n" + std::string(90, 'z') + "  ", true);
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].text, "  ");  // final flush releases trailing whitespace
}

TEST(StreamSplitter, HoldsPartialUtf8) {
    StreamSplitter s(false, false);
    const std::string e_acute = "\xC3\xA9";
    auto ev = s.update("caf\xC3");
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].text, "caf");
    ev = s.update("caf" + e_acute);
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].text, e_acute);
}

TEST(StreamSplitter, HoldsPartialEntitiesAndClosingTags) {
    const std::string head = "<｜DSML｜tool_calls><｜DSML｜invoke name=\"sh\">"
                             "<｜DSML｜parameter name=\"c\" string=\"true\">a ";
    StreamSplitter s(false, true);
    Collected c;
    c.add(s.update(head + "&am"));
    EXPECT_EQ(c.args[0], "{\"c\":\"a ");  // "&am" held
    c.add(s.update(head + "&amp;&amp; b</｜DS"));
    EXPECT_EQ(c.args[0], "{\"c\":\"a && b");  // partial closing tag held
    c.add(s.update(head + "&amp;&amp; b</｜DSML｜parameter></｜DSML｜invoke>"));
    EXPECT_EQ(c.args[0], "{\"c\":\"a && b\"}");
    for (const StreamEvent &e : c.events) EXPECT_EQ(e.text.find("&am"), std::string::npos);
}

TEST(StreamSplitter, EscapesStringValuesAsJson) {
    const std::string text = "<｜DSML｜tool_calls><｜DSML｜invoke name=\"w\">"
                             "<｜DSML｜parameter name=\"t\" string=\"true\">l1\nl2\t\"q\" \\ &lt;</｜DSML｜parameter>"
                             "</｜DSML｜invoke></｜DSML｜tool_calls>";
    StreamSplitter s(false, true);
    Collected c;
    c.add(s.update(text, true));
    EXPECT_EQ(c.args[0], R"({"t":"l1\nl2\t\"q\" \\ <"})");
}

TEST(StreamSplitter, UnstreamableShapeStopsToolEvents) {
    // A parameter without the string attribute cannot be encoded live.
    const std::string text = "<｜DSML｜tool_calls><｜DSML｜invoke name=\"f\">"
                             "<｜DSML｜parameter name=\"a\">v</｜DSML｜parameter>"
                             "</｜DSML｜invoke></｜DSML｜tool_calls>";
    StreamSplitter s(false, true);
    Collected c = feed(s, text, 3);
    EXPECT_EQ(c.names.size(), 1u);
    EXPECT_EQ(c.args[0], "{");
    EXPECT_TRUE(c.ended.empty());
    EXPECT_TRUE(s.streamed_tool_calls());
}

TEST(StreamSplitter, FinalOnlyBlockAndAnthropicMode) {
    const std::string text = "Answer.\n\n<｜DSML｜tool_calls><｜DSML｜invoke name=\"f\">"
                             "</｜DSML｜invoke></｜DSML｜tool_calls>";
    StreamSplitter openai(false, true);
    Collected a;
    a.add(openai.update(text, true));
    EXPECT_EQ(a.content, "Answer.");
    EXPECT_EQ(a.names.size(), 1u);

    StreamSplitter anthropic(false, true, /*tool_stream_on_final=*/false);
    Collected b;
    b.add(anthropic.update(text, true));
    EXPECT_EQ(b.content, "Answer.");
    EXPECT_TRUE(b.names.empty());
    EXPECT_FALSE(anthropic.streamed_tool_calls());
}

TEST(StreamSplitter, WithoutToolsMarkersAreContent) {
    const std::string text = "x<｜DSML｜tool_calls>y";
    StreamSplitter s(false, false);
    Collected c = feed(s, text, 2);
    EXPECT_EQ(c.content, text);
    EXPECT_TRUE(c.names.empty());
}

TEST(StreamSplitter, ClosingTagWrittenInsideAValueStaysInIt) {
    // ds4's stream ends the value at the first closing tag and then stops at " and"; the
    // final parse keeps it inside the value, and so does the stream.
    const std::string text = "<｜DSML｜tool_calls><｜DSML｜invoke name=\"w\">"
                             "<｜DSML｜parameter name=\"t\" string=\"true\">end: </｜DSML｜parameter> and &amp; more"
                             "</｜DSML｜parameter>\n<｜DSML｜parameter name=\"n\" string=\"false\">1</｜DSML｜parameter>"
                             "</｜DSML｜invoke></｜DSML｜tool_calls>";
    const ParsedReply r = parse_generated_message(text, false);
    ASSERT_EQ(r.calls.size(), 1u);
    for (size_t step : {1u, 2u, 5u, 11u, 10000u}) {
        StreamSplitter s(false, true);
        Collected c = feed(s, text, step);
        EXPECT_EQ(c.args[0], R"({"t":"end: </｜DSML｜parameter> and & more","n":1})") << step;
        EXPECT_EQ(c.args[0], compact_arguments_json(r.calls[0].arguments));
        EXPECT_EQ(c.ended, (std::vector<int>{0}));
    }
}

TEST(StreamSplitter, ValueEndIsHeldUntilWhatFollowsShowsIt) {
    const std::string head = "<｜DSML｜tool_calls><｜DSML｜invoke name=\"w\"><｜DSML｜parameter name=\"t\" string=\"true\">v";
    StreamSplitter s(false, true);
    Collected c;
    c.add(s.update(head + "</｜DSML｜parameter>"));
    EXPECT_EQ(c.args[0], "{\"t\":\"v");  // a closing tag, but is it the real one?
    c.add(s.update(head + "</｜DSML｜parameter>\n<｜DSML｜param"));
    EXPECT_EQ(c.args[0], "{\"t\":\"v");  // still undecided: that may become a tag
    c.add(s.update(head + "</｜DSML｜parameter>\n<｜DSML｜parameter"));
    EXPECT_EQ(c.args[0], "{\"t\":\"v\"");  // it did: the value is closed

    StreamSplitter t(false, true);
    Collected d;
    d.add(t.update(head + "</｜DSML｜parameter>\n"));
    EXPECT_EQ(d.args[0], "{\"t\":\"v");
    d.add(t.update(head + "</｜DSML｜parameter>\nmore"));
    EXPECT_EQ(d.args[0], "{\"t\":\"v</｜DSML｜parameter>\\nmore");  // text: the tag was content

    // At the end of the text an undecided closing tag counts as the end of the value.
    StreamSplitter u(false, true);
    Collected e;
    e.add(u.update(head + "</｜DSML｜parameter>", true));
    EXPECT_EQ(e.args[0], "{\"t\":\"v\"");
}

TEST(StreamSplitter, ClosingTagBeforeAnyFamilyTagEndsTheValue) {
    // The invoke is never closed: as in ds4, the value ends at its closing tag and the stream
    // stops at the unexpected </｜DSML｜tool_calls> instead of sending tags as value text.
    const std::string text = "<｜DSML｜tool_calls><｜DSML｜invoke name=\"f\">"
                             "<｜DSML｜parameter name=\"a\" string=\"true\">1</｜DSML｜parameter>\n</｜DSML｜tool_calls>";
    for (size_t step : {1u, 10000u}) {
        StreamSplitter s(false, true);
        Collected c = feed(s, text, step);
        EXPECT_EQ(c.args[0], "{\"a\":\"1\"");
        EXPECT_TRUE(c.ended.empty());
    }
    EXPECT_FALSE(parse_generated_message(text, false).ok);
}

TEST(StreamSplitter, EmptyJsonValueIsNull) {
    const std::string text = "<｜DSML｜tool_calls><｜DSML｜invoke name=\"f\">"
                             "<｜DSML｜parameter name=\"a\" string=\"false\"></｜DSML｜parameter>"
                             "<｜DSML｜parameter name=\"b\" string=\"true\"></｜DSML｜parameter>"
                             "</｜DSML｜invoke></｜DSML｜tool_calls>";
    for (size_t step : {1u, 10000u}) {
        StreamSplitter s(false, true);
        Collected c = feed(s, text, step);
        EXPECT_EQ(c.args[0], R"({"a":null,"b":""})");
        EXPECT_EQ(c.args[0], compact_arguments_json(parse_generated_message(text, false).calls[0].arguments));
    }
}

bool operator==(const Collected &a, const Collected &b) {
    return a.reasoning == b.reasoning && a.content == b.content && a.names == b.names && a.args == b.args &&
           a.ended == b.ended;
}

TEST(StreamSplitter, RandomCompletionsStreamTheSameInAnyChunks) {
    std::mt19937 rng(4242);
    for (int n = 0; n < 1500; n++) {
        const std::string text = test::random_dsml_completion(rng);
        const bool thinking = n % 2 == 0;
        SCOPED_TRACE(text);
        StreamSplitter whole_splitter(thinking, true);
        Collected whole;
        whole.add(whole_splitter.update(text, true));
        StreamSplitter chunked_splitter(thinking, true);
        Collected chunked;
        std::uniform_int_distribution<size_t> size(1, n % 3 == 0 ? 1 : 7);
        for (size_t end = size(rng); end < text.size(); end += size(rng)) {
            chunked.add(chunked_splitter.update(std::string_view(text).substr(0, end)));
        }
        chunked.add(chunked_splitter.update(text, true));
        ASSERT_EQ(chunked, whole);
    }
}

TEST(StreamSplitter, Limits) {
    EXPECT_EQ(utf8_safe_limit("ab\xE2\x82", 0, 4, false), 2u);
    EXPECT_EQ(utf8_safe_limit("ab\xE2\x82\xAC", 0, 5, false), 5u);
    EXPECT_EQ(utf8_safe_limit("ab\xE2", 0, 3, false), 2u);
    EXPECT_EQ(utf8_safe_limit("ab\xE2", 0, 3, true), 3u);
    EXPECT_EQ(utf8_safe_limit("\x82\xAC", 0, 2, false), 0u);
    EXPECT_EQ(text_stream_safe_limit("hi  \n<｜DSML｜tool_calls>", 0, true, false), 2u);
    EXPECT_EQ(text_stream_safe_limit("hi  ", 0, true, false), 2u);
    EXPECT_EQ(text_stream_safe_limit("hi  ", 0, true, true), 4u);
    EXPECT_EQ(text_stream_safe_limit("hi <x", 0, false, false), 5u);
    EXPECT_EQ(text_stream_safe_limit("hi", 5, true, false), 2u);
}

}  // namespace
}  // namespace dstar::chat
