#include "chat/dsml_parse.h"

#include <gtest/gtest.h>

#include <chrono>
#include <random>

#include "chat/ds4_dsml_oracle.h"
#include "chat/random_dsml.h"
#include "chat/dsml_syntax.h"

namespace dstar::chat {
namespace {

// Spec 6.2: a thinking-mode completion (the prompt ended with <think>).
const std::string kBlock =
    "\n\n<｜DSML｜tool_calls>\n"
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
const std::string kSpecCompletion =
    "The user wants the file list. I will call bash.</think>Let me check." + kBlock;

TEST(DsmlParse, SpecExample) {
    const ParsedReply r = parse_generated_message(kSpecCompletion, true);
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.reasoning, "The user wants the file list. I will call bash.");
    EXPECT_EQ(r.content, "Let me check.");
    ASSERT_EQ(r.calls.size(), 2u);
    EXPECT_EQ(r.calls[0].name, "bash");
    EXPECT_EQ(r.calls[0].arguments,
              R"({"command": "ls -la /srv/app | grep \"\\.txt\" && echo ok", "timeout": 10})");
    EXPECT_EQ(r.calls[1].name, "read");
    EXPECT_EQ(r.calls[1].arguments, R"({"path": "src/a.txt", "range": [1,20]})");
    EXPECT_EQ(r.raw_block, kBlock);  // as sampled: &amp;&amp; and [1, 20] kept
}

TEST(DsmlParse, SpecExampleOpenAIArguments) {
    const ParsedReply r = parse_generated_message(kSpecCompletion, true);
    ASSERT_EQ(r.calls.size(), 2u);
    EXPECT_EQ(compact_arguments_json(r.calls[0].arguments),
              R"({"command":"ls -la /srv/app | grep \"\\.txt\" && echo ok","timeout":10})");
    EXPECT_EQ(compact_arguments_json(r.calls[1].arguments), R"({"path":"src/a.txt","range":[1,20]})");
}

TEST(DsmlParse, NoBlock) {
    ParsedReply r = parse_generated_message("<think>hmm</think>Hello", true);
    EXPECT_TRUE(r.ok);
    EXPECT_EQ(r.reasoning, "hmm");
    EXPECT_EQ(r.content, "Hello");
    EXPECT_TRUE(r.calls.empty());
    EXPECT_EQ(r.raw_block, "");

    r = parse_generated_message("plain answer", false);
    EXPECT_FALSE(r.reasoning);
    EXPECT_EQ(r.content, "plain answer");

    // Thinking completion truncated inside its reasoning: returned as content.
    r = parse_generated_message("<think>still thinking", true);
    EXPECT_FALSE(r.reasoning);
    EXPECT_EQ(r.content, "<think>still thinking");

    // Empty reasoning is present but empty.
    r = parse_generated_message("</think>x", true);
    EXPECT_EQ(r.reasoning, "");
    EXPECT_EQ(r.content, "x");
}

TEST(DsmlParse, DsmlInsideReasoningIsNotExecuted) {
    const std::string text = "I could write" + kBlock + " but I will not.</think>Answer.";
    ParsedReply r = parse_generated_message(text, true);
    EXPECT_TRUE(r.ok);
    EXPECT_TRUE(r.calls.empty());
    EXPECT_EQ(r.content, "Answer.");
    // Without the thinking gate the same text is a call (the reasoning split still applies).
    r = parse_generated_message("x</think>y" + kBlock, true);
    EXPECT_EQ(r.calls.size(), 2u);
    EXPECT_EQ(r.content, "y");
    // In thinking mode without any </think>, nothing is parsed.
    r = parse_generated_message("y" + kBlock, true);
    EXPECT_TRUE(r.calls.empty());
    EXPECT_EQ(r.content, "y" + kBlock);
}

TEST(DsmlParse, ContentTrailingWhitespaceAndSingleNewline) {
    const std::string block = "<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n</｜DSML｜invoke>\n"
                              "</｜DSML｜tool_calls>";
    ParsedReply r = parse_generated_message("I will inspect. \n\n\n\n" + block, false);
    EXPECT_EQ(r.content, "I will inspect.");
    EXPECT_EQ(r.raw_block, "\n\n" + block);  // the "\n\n" variant matched at its last occurrence
    r = parse_generated_message("Text\n" + block, false);
    EXPECT_EQ(r.content, "Text");
    EXPECT_EQ(r.raw_block, block);
    ASSERT_EQ(r.calls.size(), 1u);
    EXPECT_EQ(r.calls[0].arguments, "{}");
}

TEST(DsmlParse, LaterDoubleNewlineMarkerWinsOverEarlierBareOne) {
    const std::string block = "<｜DSML｜tool_calls>\n</｜DSML｜tool_calls>";
    // ds4 searches "\n\n<start>" over the whole region first.
    ParsedReply r = parse_generated_message("a" + block + "b\n\n" + block, false);
    EXPECT_TRUE(r.ok);
    EXPECT_EQ(r.content, "a" + block + "b");
}

TEST(DsmlParse, ShortAndXmlFamilies) {
    ParsedReply r = parse_generated_message(
        "<think>need a tool</think><DSML｜tool_calls>\n<DSML｜invoke name=\"bash\">\n"
        "<DSML｜parameter name=\"description\" string=\"true\">list files</DSML｜parameter>\n"
        "<DSML｜parameter name=\"command\" string=\"true\">ls -la</DSML｜parameter>\n"
        "</DSML｜invoke>\n</DSML｜tool_calls>",
        false);
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.reasoning, "need a tool");
    EXPECT_EQ(r.content, "");
    ASSERT_EQ(r.calls.size(), 1u);
    EXPECT_EQ(r.calls[0].arguments, R"({"description": "list files", "command": "ls -la"})");

    r = parse_generated_message("ok\n\n<tool_calls><invoke name=\"a&amp;b\"><parameter name=\"n\" "
                                "string=\"false\"> { \"x\" : 1 } </parameter></invoke></tool_calls>",
                                false);
    ASSERT_TRUE(r.ok);
    ASSERT_EQ(r.calls.size(), 1u);
    EXPECT_EQ(r.calls[0].name, "a&b");
    EXPECT_EQ(r.calls[0].arguments, R"({"n": {"x":1}})");
}

TEST(DsmlParse, ParameterValueRules) {
    auto args = [](const std::string &params) {
        ParsedReply r = parse_generated_message(
            "<｜DSML｜tool_calls><｜DSML｜invoke name=\"f\">" + params +
                "</｜DSML｜invoke></｜DSML｜tool_calls>",
            false);
        EXPECT_TRUE(r.ok);
        return r.calls.empty() ? std::string("<none>") : r.calls[0].arguments;
    };
    // Missing string attribute: a string.  Entities decoded, other '&' kept.
    EXPECT_EQ(args("<｜DSML｜parameter name=\"a\">x &lt;y&gt; &quot;&apos; &foo; &amp;amp;</｜DSML｜parameter>"),
              R"({"a": "x <y> \"' &foo; &amp;"})");
    // Non-string: minified, not validated; empty -> null; text after a value dropped.
    EXPECT_EQ(args("<｜DSML｜parameter name=\"a\" string=\"false\"></｜DSML｜parameter>"), R"({"a": null})");
    EXPECT_EQ(args("<｜DSML｜parameter name=\"a\" string=\"false\">not json</｜DSML｜parameter>"),
              R"({"a": not json})");
    EXPECT_EQ(args("<｜DSML｜parameter name=\"a\" string=\"no\">10 apples</｜DSML｜parameter>"),
              R"({"a": 10})");
    // Duplicate names are kept; names are JSON-escaped; control characters escaped.
    EXPECT_EQ(args("<｜DSML｜parameter name=\"k&quot;\" string=\"true\">1\n2\t</｜DSML｜parameter>"
                   "<｜DSML｜parameter name=\"k&quot;\" string=\"true\">\x01</｜DSML｜parameter>"),
              R"({"k\"": "1\n2\t", "k\"": "\u0001"})");
    // Whitespace between tags is free.
    EXPECT_EQ(args(" \n\t<｜DSML｜parameter name=\"a\" string=\"true\"> v </｜DSML｜parameter> \n"),
              R"({"a": " v "})");
    // The escaped closing tag round-trips into the value.
    EXPECT_EQ(args("<｜DSML｜parameter name=\"a\" string=\"true\">&lt;/｜DSML｜parameter></｜DSML｜parameter>"),
              R"({"a": "</｜DSML｜parameter>"})");
}

TEST(DsmlParse, NestedParametersRecovery) {
    const std::string text =
        "review done\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"edit\">\n"
        "<｜DSML｜parameter name=\"path\">/private/tmp/tetris.c</｜DSML｜parameter>\n"
        "<｜DSML｜parameter name=\"edits\">\n"
        "<｜DSML｜parameter name=\"oldText\" string=\"true\">old &lt;text&gt;</｜DSML｜parameter>\n"
        "<｜DSML｜parameter name=\"newText\" string=\"true\">new text</｜DSML｜parameter>\n"
        "</｜DSML｜invoke>\n</｜DSML｜tool_calls>";
    ParsedReply r = parse_generated_message(text, false);
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.content, "review done");
    ASSERT_EQ(r.calls.size(), 1u);
    EXPECT_EQ(r.calls[0].arguments,
              R"({"path": "/private/tmp/tetris.c", "edits": {"oldText":"old <text>","newText":"new text"}})");
    // With the outer closing tag present it is consumed.
    const std::string closed =
        "<｜DSML｜tool_calls><｜DSML｜invoke name=\"e\"><｜DSML｜parameter name=\"o\">"
        "<｜DSML｜parameter name=\"a\" string=\"false\">1</｜DSML｜parameter> </｜DSML｜parameter>"
        "<｜DSML｜parameter name=\"b\">x</｜DSML｜parameter></｜DSML｜invoke></｜DSML｜tool_calls>";
    r = parse_generated_message(closed, false);
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.calls[0].arguments, R"({"o": {"a":1}, "b": "x"})");
}

TEST(DsmlParse, MalformedBlocksFallBackToContent) {
    const std::vector<std::string> bad = {
        // invoke without a name
        "trying a tool\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke>\n</｜DSML｜tool_calls>",
        // truncated inside a parameter value
        "x</think>y\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n"
        "<｜DSML｜parameter name=\"a\" string=\"true\">abc",
        // truncated before the closing marker
        "<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n</｜DSML｜invoke>\n",
        // garbage between tags
        "<｜DSML｜tool_calls>\nhello<｜DSML｜invoke name=\"f\"></｜DSML｜invoke></｜DSML｜tool_calls>",
        // parameter without a name
        "<｜DSML｜tool_calls><｜DSML｜invoke name=\"f\"><｜DSML｜parameter string=\"true\">v"
        "</｜DSML｜parameter></｜DSML｜invoke></｜DSML｜tool_calls>",
        // unterminated invoke tag
        "<｜DSML｜tool_calls><｜DSML｜invoke name=\"f\"",
        // mixed families: the block's family is fixed by its start marker
        "<｜DSML｜tool_calls><invoke name=\"f\"></invoke></｜DSML｜tool_calls>",
    };
    for (const std::string &text : bad) {
        ParsedReply r = parse_generated_message(text, text.find("</think>") != std::string::npos);
        EXPECT_FALSE(r.ok) << text;
        EXPECT_EQ(r.content, text);
        EXPECT_FALSE(r.reasoning);
        EXPECT_TRUE(r.calls.empty());
        EXPECT_EQ(r.raw_block, "");
    }
}

const std::string kT = "<｜DSML｜tool_calls>", kTe = "</｜DSML｜tool_calls>";
const std::string kIe = "</｜DSML｜invoke>", kPe = "</｜DSML｜parameter>";
std::string invoke_tag(const std::string &name) { return "<｜DSML｜invoke name=\"" + name + "\">"; }
std::string param(const std::string &name, const std::string &value, const std::string &string = "true") {
    return "<｜DSML｜parameter name=\"" + name + "\" string=\"" + string + "\">" + value + kPe;
}

TEST(DsmlParse, ErrorsNameTheProblem) {
    struct Case {
        std::string text, error;
    };
    const std::vector<Case> cases = {
        {"\n\n" + kT + "\n", "missing closing </｜DSML｜tool_calls> (the text ends before any invoke)"},
        {kT + invoke_tag("f") + kIe + invoke_tag("g") + kIe,
         "missing closing </｜DSML｜tool_calls> (the text ends after invoke 2)"},
        {kT + invoke_tag("f") + kIe + "\nhello" + kTe,
         "expected <｜DSML｜invoke or </｜DSML｜tool_calls> after invoke 1, found \"hello</｜DSML｜tool_calls>\""},
        {kT + "<｜DSML｜invoke name=\"f\"", "invoke 1: <｜DSML｜invoke tag not closed by '>'"},
        {kT + "<｜DSML｜invoke>" + kIe + kTe, "invoke 1: no name=\"...\" attribute"},
        {kT + invoke_tag("f") + kIe + invoke_tag("read") + param("a", "1") + "\n",
         "invoke 2 ('read'): missing </｜DSML｜invoke> (the text ends after parameter 'a')"},
        {kT + invoke_tag("f") + kIe + invoke_tag("read") + "<｜DSML｜parameter name=\"path\" string=\"true\">src/a",
         "invoke 2 ('read'): parameter 'path' not closed (no </｜DSML｜parameter>)"},
        {kT + invoke_tag("f") + "<｜DSML｜parameter string=\"true\">v" + kPe + kIe + kTe,
         "invoke 1 ('f'): parameter without a name=\"...\" attribute"},
        {kT + invoke_tag("f") + param("a", "1") + "<｜DSML｜parameter name=\"b\"",
         "invoke 1 ('f'): <｜DSML｜parameter tag not closed by '>' after parameter 'a'"},
        {kT + invoke_tag("f") + param("a", "x") + " oops" + kIe + kTe,
         "invoke 1 ('f'): expected <｜DSML｜parameter or </｜DSML｜invoke> after parameter 'a', found "
         "\"oops</｜DSML｜invoke></｜DSML｜tool_...\""
         " (the value of 'a' may hold an unescaped </｜DSML｜parameter>)"},
        {kT + invoke_tag("e") + "<｜DSML｜parameter name=\"o\"><｜DSML｜parameter name=\"in\">v",
         "invoke 1 ('e'): parameter 'o.in' not closed (no </｜DSML｜parameter>)"},
        {"<tool_calls><invoke name=\"f\"><parameter name=\"a\">1</parameter></tool_calls>",
         "invoke 1 ('f'): expected <parameter or </invoke> after parameter 'a', found \"</tool_calls>\""},
        // Long unexpected text is cut (on a character boundary) in the message.
        {kT + std::string(30, 'x') + "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9yyy",
         "expected <｜DSML｜invoke or </｜DSML｜tool_calls> at the start of the block, found \"" +
             std::string(30, 'x') + "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9...\""},
    };
    for (const Case &c : cases) {
        const ParsedReply r = parse_generated_message(c.text, false);
        EXPECT_FALSE(r.ok) << c.text;
        EXPECT_EQ(r.error, c.error) << c.text;
        EXPECT_EQ(r.content, c.text);
        EXPECT_EQ(r.recovery, "");
    }
    const ParsedReply good = parse_generated_message(kSpecCompletion, true);
    EXPECT_EQ(good.error, "");
    EXPECT_EQ(good.recovery, "");
}

TEST(DsmlParse, ClosingTagFollowedByATagIsDs4sSplit) {
    // When the text after a closing tag is more syntax, ds4 reads it as the end of the value,
    // and so does dstar, even if the model meant it as text: the two readings are
    // indistinguishable and ds4 compatibility wins.
    const std::string text =
        kT + invoke_tag("w") + param("a", "x" + kPe + "\n<｜DSML｜parameter name=\"b\">y") + kIe + kTe;
    const ParsedReply r = parse_generated_message(text, false);
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.recovery, "");
    ASSERT_EQ(r.calls.size(), 1u);
    EXPECT_EQ(r.calls[0].arguments, R"({"a": "x", "b": "y"})");
}

TEST(DsmlParse, ClosingTagFollowedByTextStaysInTheValue) {
    const std::string value = "the closer " + kPe + " ends a value; " + kPe + "\tand " + kIe + " an invoke";
    const std::string text = "Saving.\n\n" + kT + "\n" + invoke_tag("write_file") + "\n" + param("content", value) +
                             "\n" + param("path", "a.md") + "\n" + kIe + "\n" + kTe;
    EXPECT_FALSE(test::Ds4DsmlOracle::parse(text, false).reply.ok);  // ds4 gives up on this one
    const ParsedReply r = parse_generated_message(text, false);
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.content, "Saving.");
    ASSERT_EQ(r.calls.size(), 1u);
    EXPECT_EQ(compact_arguments_json(r.calls[0].arguments),
              "{\"content\":\"the closer </｜DSML｜parameter> ends a value; </｜DSML｜parameter>\\tand "
              "</｜DSML｜invoke> an invoke\",\"path\":\"a.md\"}");
    EXPECT_EQ(r.recovery, "kept a closing tag written as text inside invoke 1 ('write_file'), parameter 'content'");
    EXPECT_EQ(r.raw_block, text.substr(7));
}

TEST(DsmlParse, BlockEndedEarlyIsReadWhole) {
    // ds4 ends this value at the first closing tag, and the block at the document's own
    // </｜DSML｜tool_calls>, leaving closing tags behind; the reading that uses them all wins.
    const std::string doc =
        "Example:\n" + kT + "\n" + invoke_tag("x") + "\n" + param("p", "v") + "\n" + kIe + "\n" + kTe + "\nEnd.";
    const std::string text =
        kT + "\n" + invoke_tag("write_file") + "\n" + param("content", doc) + "\n" + kIe + "\n" + kTe;
    const test::Ds4Parse ds4 = test::Ds4DsmlOracle::parse(text, false);
    ASSERT_TRUE(ds4.reply.ok);
    EXPECT_LT(ds4.block_end, text.size());
    const ParsedReply r = parse_generated_message(text, false);
    ASSERT_TRUE(r.ok);
    ASSERT_EQ(r.calls.size(), 1u);
    auto members = parse_json_object_members(r.calls[0].arguments);
    ASSERT_TRUE(members);
    EXPECT_EQ((*members)[0].value, doc);
    EXPECT_EQ(r.raw_block, text);
    EXPECT_NE(r.recovery, "");
}

TEST(DsmlParse, StrayClosingTagsWithoutABetterReadingKeepDs4sResult) {
    // Prose after the block mentions a closing tag: nothing reads better, so ds4's result.
    const std::string text =
        "Go.\n\n" + kT + invoke_tag("f") + param("a", "1") + kIe + kTe + "\nI closed it with " + kTe;
    const ParsedReply r = parse_generated_message(text, false);
    const test::Ds4Parse ds4 = test::Ds4DsmlOracle::parse(text, false);
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.recovery, "");
    EXPECT_EQ(r.content, ds4.reply.content);
    EXPECT_EQ(r.raw_block, ds4.reply.raw_block);
    ASSERT_EQ(r.calls.size(), 1u);
    EXPECT_EQ(r.calls[0].arguments, ds4.reply.calls[0].arguments);
}

TEST(DsmlParse, ThinkCloseInsideAValue) {
    const std::string block = kT + invoke_tag("w") + param("text", "a </think> b") + kIe + kTe;
    ParsedReply r = parse_generated_message("plan</think>ok\n\n" + block, true);
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.reasoning, "plan");
    EXPECT_EQ(r.content, "ok");
    ASSERT_EQ(r.calls.size(), 1u);
    EXPECT_EQ(r.calls[0].arguments, R"({"text": "a </think> b"})");
    EXPECT_NE(r.recovery.find("byte 4"), std::string::npos) << r.recovery;
    // A </think> after the block is not inside it: ds4's result (no call after the last one).
    r = parse_generated_message("plan</think>ok\n\n" + block + " then </think>tail", true);
    EXPECT_TRUE(r.calls.empty());
    EXPECT_EQ(r.recovery, "");
    EXPECT_EQ(r.reasoning, "plan");
}

TEST(DsmlParse, EarlierMarkerWhoseBlockEnclosesTheLaterOne) {
    // ds4 prefers the "\n\n"-preceded marker, here quoted inside a value of the real block.
    const std::string text = "Doc:\n" + kT + invoke_tag("w") + param("text", "see\n\n" + kT + kTe) + kIe + kTe;
    ParsedReply r = parse_generated_message(text, false);
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.content, "Doc:");
    ASSERT_EQ(r.calls.size(), 1u);
    EXPECT_EQ(r.calls[0].name, "w");
    EXPECT_NE(r.recovery.find("byte 5"), std::string::npos) << r.recovery;
    // An earlier marker that does not enclose the later block is only text (ds4's order).
    const std::string two = "a" + kT + kTe + "b\n\n" + kT + invoke_tag("f") + kIe + kTe;
    r = parse_generated_message(two, false);
    ASSERT_EQ(r.calls.size(), 1u);
    EXPECT_EQ(r.content, "a" + kT + kTe + "b");
    EXPECT_EQ(r.recovery, "");
}

TEST(DsmlParse, LenientSearchIsBounded) {
    // Thousands of values, each of which could end at any later closing tag, in a block that
    // never closes: the search gives up within its budget and ds4's error stands.
    std::string text = kT + invoke_tag("f");
    for (int i = 0; i < 3000; i++) {
        text += '\n';
        std::string name = "p";
        name += std::to_string(i);
        text += param(name, "v");
    }
    const auto t0 = std::chrono::steady_clock::now();
    const ParsedReply r = parse_generated_message(text, false);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.error, "invoke 1 ('f'): missing </｜DSML｜invoke> (the text ends after parameter 'p2999')");
    EXPECT_LT(seconds, 5.0);
}

TEST(DsmlParse, Ds4sResultWheneverDs4ReadsTheBlock) {
    std::mt19937 rng(12345);
    int same = 0, recovered = 0, recovered_left_over = 0, failed = 0;
    for (int n = 0; n < 4000; n++) {
        const std::string text = test::random_dsml_completion(rng);
        const bool thinking = n % 3 == 0;
        const test::Ds4Parse ds4 = test::Ds4DsmlOracle::parse(text, thinking);
        const ParsedReply r = parse_generated_message(text, thinking);
        SCOPED_TRACE(text);
        if (!r.recovery.empty()) {
            // Only where ds4 fails, finds no block after the last </think>, or ends its block
            // before closing tags of the family that follow it.
            ASSERT_TRUE(r.ok);
            EXPECT_EQ(r.error, "");
            if (ds4.reply.ok && ds4.syntax) {
                const std::string_view tail = std::string_view(text).substr(ds4.block_end);
                const size_t next = tail.find(ds4.syntax->tool_calls_start);
                const bool left_over = tail.find(ds4.syntax->param_end) < next ||
                                       tail.find(ds4.syntax->invoke_end) < next ||
                                       tail.find(ds4.syntax->tool_calls_end) < next;
                EXPECT_TRUE(left_over);
                recovered_left_over++;
            } else if (ds4.reply.ok) {
                EXPECT_TRUE(thinking);
            }
            recovered++;
            continue;
        }
        EXPECT_EQ(r.ok, ds4.reply.ok);
        EXPECT_EQ(r.content, ds4.reply.content);
        EXPECT_EQ(r.reasoning, ds4.reply.reasoning);
        EXPECT_EQ(r.raw_block, ds4.reply.raw_block);
        ASSERT_EQ(r.calls.size(), ds4.reply.calls.size());
        for (size_t i = 0; i < r.calls.size(); i++) {
            EXPECT_EQ(r.calls[i].name, ds4.reply.calls[i].name);
            EXPECT_EQ(r.calls[i].arguments, ds4.reply.calls[i].arguments);
        }
        EXPECT_EQ(r.error.empty(), r.ok);
        (r.ok ? same : failed)++;
    }
    // The generator reaches all three outcomes often.
    EXPECT_GT(same, 1000);
    EXPECT_GT(recovered, 100);
    EXPECT_GT(recovered_left_over, 20);
    EXPECT_GT(failed, 300);
}

TEST(DsmlParse, CompactArgumentsJson) {
    EXPECT_EQ(compact_arguments_json(R"({"a": "x/y \u00e9\n", "b" : [1, {"c": 2}], "d":null})"),
              "{\"a\":\"x/y \xC3\xA9\\n\",\"b\":[1,{\"c\":2}],\"d\":null}");
    EXPECT_EQ(compact_arguments_json("{}"), "{}");
    EXPECT_EQ(compact_arguments_json("not json"), "{}");
    EXPECT_EQ(compact_arguments_json("[1,2]"), "{}");
    EXPECT_EQ(compact_arguments_json(R"({"a": 1 "b": 2})"), R"({"a":1,"b":2})");
}

TEST(DsmlParse, FinishAfterFailure) {
    EXPECT_EQ(finish_after_tool_parse_failure("tool_calls"), "stop");
    EXPECT_EQ(finish_after_tool_parse_failure("stop"), "stop");
    EXPECT_EQ(finish_after_tool_parse_failure("length"), "length");
    EXPECT_EQ(finish_after_tool_parse_failure("error"), "error");
}

TEST(DsmlSyntax, Helpers) {
    auto m = find_any_tool_calls_start("a<tool_calls> <DSML｜tool_calls>");
    ASSERT_TRUE(m);
    EXPECT_EQ(m->pos, 1u);
    EXPECT_EQ(m->syntax, &kDsmlXml);
    m = find_any_tool_calls_start("xx<DSML｜tool_calls><｜DSML｜tool_calls>");
    ASSERT_TRUE(m);
    EXPECT_EQ(m->syntax, &kDsmlShort);
    EXPECT_FALSE(find_any_tool_calls_start("<｜DSML｜tool_call"));
    auto e = find_any_tool_calls_end("..</｜DSML｜tool_calls>");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->pos, 2u);
    EXPECT_EQ(dsml_unescape("&amp;lt; &lt;&gt;&quot;&apos;&x"), "&lt; <>\"'&x");
    EXPECT_EQ(dsml_attr("<x name=\"a&amp;b\" string=\"true\">", "name"), "a&b");
    EXPECT_EQ(dsml_attr("<x name=\"a\" string=\"true\">", "string"), "true");
    EXPECT_FALSE(dsml_attr("<x name=\"a\">", "string"));
    EXPECT_FALSE(dsml_attr("<x name=\"a>", "name"));
}

}  // namespace
}  // namespace dstar::chat
