#include "chat/dsml_tracker.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "chat/random_dsml.h"

namespace dstar::chat {
namespace {

using S = DsmlDecodeState;

struct Step {
    std::vector<std::string> tokens;
    S after;  // state for the next token after each of these tokens
};

// Spec section 8's token-by-token example (the elided tokens filled in).
const std::vector<Step> kSpecSteps = {
    {{"Checking.\n\n", "<", "｜DSML｜", "tool", "_c", "alls"}, S::Outside},
    {{">\n"}, S::Structural},
    {{"<", "｜DSML｜", "inv", "oke", " name", "=\"", "edit", "\">\n"}, S::Structural},
    {{"<", "｜DSML｜", "parameter", " name", "=\"", "path", "\"", " string", "=\"", "true"}, S::Structural},
    {{"\">"}, S::StringBody},
    {{"src", "/a", ".c"}, S::StringBody},
    {{"</"}, S::Structural},
    {{"｜DSML｜", "parameter", ">\n", "<", "｜DSML｜", "parameter", " name", "=\"", "lines", "\"",
      " string", "=\"", "false"},
     S::Structural},
    {{"\">"}, S::JsonStructural},
    {{"[", "3", ","}, S::JsonStructural},
    {{" \""}, S::JsonString},
    {{"x", " y"}, S::JsonString},
    {{"\"]"}, S::JsonStructural},
    {{"</", "｜DSML｜", "parameter", ">\n", "</", "｜DSML｜", "inv", "oke", ">\n", "</", "｜DSML｜",
      "tool", "_c", "alls"},
     S::Structural},
    {{">"}, S::Outside},
    {{"\n\nmore text <｜DSML｜tool_calls>"}, S::Outside},  // a finished block stays finished
};

TEST(DsmlTracker, SpecTokenByTokenExample) {
    DsmlTracker tracker;
    std::string text;
    EXPECT_EQ(tracker.state(), S::Outside);
    for (const Step &step : kSpecSteps) {
        for (const std::string &tok : step.tokens) {
            text += tok;
            const S s = tracker.update(text);
            EXPECT_EQ(s, tracker.state());
            // The reference recognizer agrees at every token (no split "</" here)...
            if (text.find("more text") == std::string::npos) {
                EXPECT_EQ(dsml_decode_state_for_text(text), s) << "text: " << text;
            }
            // ...and every intermediate state is the one that applies to the whole group,
            // except inside the groups that end on a state change.
            if (&tok == &step.tokens.back()) {
                EXPECT_EQ(s, step.after) << "after token [" << tok << "] text: " << text;
            }
        }
    }
}

TEST(DsmlTracker, GreedyStates) {
    EXPECT_TRUE(dsml_state_is_greedy(S::Structural));
    EXPECT_TRUE(dsml_state_is_greedy(S::JsonStructural));
    EXPECT_FALSE(dsml_state_is_greedy(S::Outside));
    EXPECT_FALSE(dsml_state_is_greedy(S::StringBody));
    EXPECT_FALSE(dsml_state_is_greedy(S::JsonString));
    EXPECT_STREQ(dsml_decode_state_name(S::JsonString), "JSON_STRING");
}

TEST(DsmlTracker, WholeTextsMatchReference) {
    const std::string start = "<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"edit\">\n";
    struct Case {
        std::string text;
        S expected;
    };
    const std::vector<Case> cases = {
        {"", S::Outside},
        {"hello", S::Outside},
        {start, S::Structural},
        {start + "<｜DSML｜parameter name=\"path\" string=\"true\">/tmp/a.py", S::StringBody},
        {start + "<｜DSML｜parameter name=\"path\" string=\"true\">/tmp/a.py</", S::Structural},
        {start + "<｜DSML｜parameter name=\"path\" string=\"true\">a<b", S::StringBody},
        {start + "<｜DSML｜parameter name=\"edits\" string=\"false\">[{", S::JsonStructural},
        {start + "<｜DSML｜parameter name=\"edits\" string=\"false\">[{\"newText\":\"for i in", S::JsonString},
        {start + "<｜DSML｜parameter name=\"e\" string=\"false\">[\"a\\\"</｜DSML｜parameter>", S::JsonString},
        {start + "<｜DSML｜parameter name=\"e\">v", S::JsonStructural},  // no string attr: JSON
        {start + "<｜DSML｜parameter name=\"edits\" string=\"false\">[]</｜DSML｜parameter>\n"
                 "</｜DSML｜invoke>\n</｜DSML｜tool_calls>",
         S::Outside},
        {"<DSML｜tool_calls><DSML｜invoke name=\"x\"><DSML｜parameter name=\"a\" string=\"true\">", S::StringBody},
        {"<tool_calls>\n<invoke name=\"x\">\n<parameter name=\"a\" string=\"false\">1</parameter>\n</invoke>\n",
         S::Structural},
        {"<tool_calls>garbage", S::Structural},
        // The tracker ignores <think>: a marker quoted in reasoning switches it on.
        {"<think>I would write <｜DSML｜tool_calls>", S::Structural},
    };
    for (const Case &c : cases) {
        EXPECT_EQ(dsml_decode_state_for_text(c.text), c.expected) << c.text;
        DsmlTracker whole;
        EXPECT_EQ(whole.update(c.text), c.expected) << c.text;
        DsmlTracker bytewise;  // byte by byte except that "</" always arrives together
        S s = S::Outside;
        for (size_t i = 0; i < c.text.size(); i++) {
            if (c.text[i] == '<' && i + 1 < c.text.size() && c.text[i + 1] == '/') i++;
            s = bytewise.update(std::string_view(c.text).substr(0, i + 1));
        }
        if (!c.text.empty()) {
            EXPECT_EQ(s, c.expected) << "bytewise: " << c.text;
        }
    }
}

TEST(DsmlTracker, SplitCloseTagQuirk) {
    // ds4 quirk reproduced: if "<" and "/" of a string value's closing tag arrive as separate
    // tokens, the tracker has already moved past the '<' and keeps sampling the rest as payload.
    const std::string start = "<｜DSML｜tool_calls><｜DSML｜invoke name=\"f\">"
                              "<｜DSML｜parameter name=\"a\" string=\"true\">v";
    DsmlTracker t;
    t.update(start);
    EXPECT_EQ(t.update(start + "<"), S::StringBody);
    EXPECT_EQ(t.update(start + "</｜DSML｜parameter>"), S::StringBody);
    EXPECT_EQ(dsml_decode_state_for_text(start + "</｜DSML｜parameter>"), S::Structural);
}

TEST(DsmlTracker, ClosingTagFollowedByTextReturnsToTheValue) {
    // ds4 would stay STRUCTURAL (greedy) after " for": the closing tag was text in the value.
    const std::vector<Step> steps = {
        {{"<｜DSML｜tool_calls>", "<｜DSML｜invoke name=\"w\">", "<｜DSML｜parameter name=\"t\" string=\"true\">", "see"},
         S::StringBody},
        {{"</", "｜DSML｜parameter>", "\n"}, S::Structural},  // not known yet
        {{" for"}, S::StringBody},                            // text: back in the value
        {{" details", "</"}, S::Structural},
        {{"｜DSML｜parameter>", "\n", "<"}, S::Structural},     // "<" may start a tag
        {{"b"}, S::StringBody},                                // "<b" is not one of the family's
        {{"</｜DSML｜parameter>", "\n", "</｜DSML｜invoke>"}, S::Structural},
        {{"</｜DSML｜tool_calls>"}, S::Outside},
    };
    DsmlTracker tracker;
    std::string text;
    for (const Step &step : steps) {
        for (const std::string &tok : step.tokens) {
            text += tok;
            EXPECT_EQ(tracker.update(text), dsml_decode_state_for_text(text)) << text;
        }
        EXPECT_EQ(tracker.state(), step.after) << text;
    }
}

TEST(DsmlTracker, JsonValueEndsWhereItsStringScanSaysInTheReferenceToo) {
    const std::string text = "<｜DSML｜tool_calls><｜DSML｜invoke name=\"f\"><｜DSML｜parameter name=\"d\" string=\"false\">"
                             "{\"s\": \"</｜DSML｜parameter> x\"}</｜DSML｜parameter></｜DSML｜invoke></｜DSML｜tool_calls>";
    DsmlTracker tracker;
    EXPECT_EQ(tracker.update(text), S::Outside);
    EXPECT_EQ(dsml_decode_state_for_text(text), S::Outside);
}

TEST(DsmlTracker, RandomCompletionsMatchTheReferenceOnEveryTokenPrefix) {
    // Token-sized chunks that never end with a "<" followed by "/" (see the header).
    std::mt19937 rng(31337);
    std::uniform_int_distribution<size_t> size(1, 6);
    for (int n = 0; n < 1500; n++) {
        const std::string text = test::random_dsml_completion(rng);
        DsmlTracker tracker;
        for (size_t end = 0; end < text.size();) {
            end = std::min(text.size(), end + size(rng));
            if (end < text.size() && text[end - 1] == '<' && text[end] == '/') end++;
            const std::string_view prefix = std::string_view(text).substr(0, end);
            ASSERT_EQ(tracker.update(prefix), dsml_decode_state_for_text(prefix)) << prefix;
        }
    }
}

TEST(DsmlTracker, MarkerSplitAcrossManyTokens) {
    DsmlTracker t;
    std::string text(500, 'x');
    EXPECT_EQ(t.update(text), S::Outside);
    for (const char *piece : {"<", "｜", "DSML", "｜", "tool_calls", ">"}) {
        text += piece;
        t.update(text);
    }
    EXPECT_EQ(t.state(), S::Structural);
}

}  // namespace
}  // namespace dstar::chat
