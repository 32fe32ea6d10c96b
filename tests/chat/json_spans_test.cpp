#include "chat/json_spans.h"

#include <gtest/gtest.h>

namespace dstar::chat {
namespace {

TEST(JsonSpans, RecordsExactBytes) {
    const std::string text = "\xEF\xBB\xBF { \"tools\" : [ {\"b\":1,  \"a\": [1, 2.0e1]} , \"x\\u0041\" ],\n"
                             "\"n\":null, \"t\": true }  ";
    auto s = JsonSpans::build(text);
    ASSERT_TRUE(s);
    const int root = s->root();
    EXPECT_EQ(s->type(root), JsonSpans::Type::Object);
    const int tools = s->member(root, "tools");
    ASSERT_NE(tools, JsonSpans::kNone);
    EXPECT_EQ(s->type(tools), JsonSpans::Type::Array);
    auto kids = s->children(tools);
    ASSERT_EQ(kids.size(), 2u);
    EXPECT_EQ(s->text(kids[0]), "{\"b\":1,  \"a\": [1, 2.0e1]}");
    EXPECT_EQ(s->text(kids[1]), "\"x\\u0041\"");
    EXPECT_EQ(s->text(s->member(kids[0], "a")), "[1, 2.0e1]");
    EXPECT_EQ(s->type(s->member(root, "n")), JsonSpans::Type::Null);
    EXPECT_EQ(s->type(s->member(root, "t")), JsonSpans::Type::Bool);
    EXPECT_EQ(s->member(root, "missing"), JsonSpans::kNone);
    EXPECT_EQ(s->member(tools, "a"), JsonSpans::kNone);  // not an object
}

TEST(JsonSpans, EscapedKeysAndDuplicates) {
    auto s = JsonSpans::build(R"({"k\u0065y": 1, "a": 1, "a": [2]})");
    ASSERT_TRUE(s);
    EXPECT_EQ(s->text(s->member(s->root(), "key")), "1");
    EXPECT_EQ(s->text(s->member(s->root(), "a")), "[2]");  // last wins, like nlohmann
}

TEST(JsonSpans, RejectsNonJson) {
    EXPECT_FALSE(JsonSpans::build(""));
    EXPECT_FALSE(JsonSpans::build("{\"a\":1"));
    EXPECT_FALSE(JsonSpans::build("{\"a\":1} x"));
    EXPECT_FALSE(JsonSpans::build("[1,]"));
    EXPECT_TRUE(JsonSpans::build(" 12 "));
}

}  // namespace
}  // namespace dstar::chat
