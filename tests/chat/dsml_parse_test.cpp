#include "chat/dsml_parse.h"

#include <gtest/gtest.h>

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
