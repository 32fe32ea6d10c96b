#include "chat/lenient_json.h"

#include <gtest/gtest.h>

namespace dstar::chat {
namespace {

std::optional<std::string> decode(std::string_view s) {
    size_t pos = 0;
    return decode_json_string(s, pos);
}

TEST(LenientJson, DecodesEscapes) {
    EXPECT_EQ(decode(R"("a\"b\\c\/d\n\r\t\b\f")"), "a\"b\\c/d\n\r\t\b\f");
    EXPECT_EQ(decode(R"(  "x")"), "x");  // leading whitespace skipped
    EXPECT_EQ(decode(R"("\u00e9\u20AC")"), "\xC3\xA9\xE2\x82\xAC");
    EXPECT_EQ(decode(R"("\u0041")"), "A");
}

TEST(LenientJson, DecodesSurrogatePairs) {
    EXPECT_EQ(decode(R"("\ud83d\ude00")"), "\xF0\x9F\x98\x80");  // U+1F600
    // Lone high surrogate at the end: written in its 3-byte form.
    EXPECT_EQ(decode(R"("\ud83d")"), "\xED\xA0\xBD");
    // ds4 quirk: a high surrogate followed by a non-low escape swallows that escape.
    EXPECT_EQ(decode(R"("\ud83d\u0041B")"), "\xED\xA0\xBD" "B");
}

TEST(LenientJson, DecodeRejectsMalformed) {
    EXPECT_FALSE(decode(R"("abc)"));
    EXPECT_FALSE(decode(R"("\x")"));
    EXPECT_FALSE(decode(R"("\u12")"));
    EXPECT_FALSE(decode("abc"));
    // Raw control characters are accepted (ds4 does not validate them).
    EXPECT_EQ(decode("\"a\nb\""), "a\nb");
}

TEST(LenientJson, DecodeAdvancesPosition) {
    size_t pos = 0;
    const std::string s = R"("ab" , "c")";
    EXPECT_EQ(decode_json_string(s, pos), "ab");
    EXPECT_EQ(pos, 4u);
}

TEST(LenientJson, SkipValue) {
    size_t pos = 0;
    std::string s = R"( {"a": [1, 2.5e3, true, null, "x"], "b": {}} tail)";
    ASSERT_TRUE(skip_json_value(s, pos));
    EXPECT_EQ(s.substr(pos), " tail");
    pos = 0;
    EXPECT_FALSE(skip_json_value("{\"a\" 1}", pos));
    pos = 0;
    EXPECT_FALSE(skip_json_value("", pos));
    pos = 0;
    EXPECT_TRUE(skip_json_value("-0x1F,", pos));  // strtod semantics, as ds4
    EXPECT_EQ(pos, 5u);
}

TEST(LenientJson, SkipValueNestingLimit) {
    std::string deep(300, '[');
    deep += std::string(300, ']');
    size_t pos = 0;
    EXPECT_FALSE(skip_json_value(deep, pos));
    std::string ok(200, '[');
    ok += std::string(200, ']');
    pos = 0;
    EXPECT_TRUE(skip_json_value(ok, pos));
}

TEST(LenientJson, Minify) {
    EXPECT_EQ(minify_json_value(" [1, 20] "), "[1,20]");
    EXPECT_EQ(minify_json_value("{ \"a b\" : \"x  y\" }"), "{\"a b\":\"x  y\"}");
    EXPECT_EQ(minify_json_value(R"(["a\" b", 1])"), R"(["a\" b",1])");
    EXPECT_EQ(minify_json_value("10 abc"), "10");     // text after the value is dropped
    EXPECT_EQ(minify_json_value("abc def"), "abc def");  // unreadable: unchanged
    EXPECT_EQ(minify_json_value(""), "");
}

TEST(LenientJson, ObjectMembers) {
    auto m = parse_json_object_members(R"({"command": "ls -la", "timeout": 10, "o": { "k" : [1, 2] }})");
    ASSERT_TRUE(m);
    ASSERT_EQ(m->size(), 3u);
    EXPECT_EQ((*m)[0].key, "command");
    EXPECT_EQ((*m)[0].value, "ls -la");
    EXPECT_TRUE((*m)[0].is_string);
    EXPECT_EQ((*m)[1].value, "10");
    EXPECT_FALSE((*m)[1].is_string);
    EXPECT_EQ((*m)[2].value, "{\"k\":[1,2]}");
}

TEST(LenientJson, ObjectMembersKeepsOrderDuplicatesAndToleratesMissingCommas) {
    auto m = parse_json_object_members(R"({"b":1 "a":2,"b":"3"} trailing)");
    ASSERT_TRUE(m);
    ASSERT_EQ(m->size(), 3u);
    EXPECT_EQ((*m)[0].key, "b");
    EXPECT_EQ((*m)[1].key, "a");
    EXPECT_EQ((*m)[2].key, "b");
    EXPECT_TRUE((*m)[2].is_string);
}

TEST(LenientJson, ObjectMembersRejects) {
    EXPECT_FALSE(parse_json_object_members("[1]"));
    EXPECT_FALSE(parse_json_object_members("not json"));
    EXPECT_FALSE(parse_json_object_members(R"({"a":1)"));
    EXPECT_FALSE(parse_json_object_members(R"({a:1})"));
    EXPECT_FALSE(parse_json_object_members(""));
    auto empty = parse_json_object_members(" {} ");
    ASSERT_TRUE(empty);
    EXPECT_TRUE(empty->empty());
}

TEST(LenientJson, EscapeForOutput) {
    std::string out;
    append_json_string(out, std::string("a\"b\\c\n\r\t\x01/\xC3\xA9\x7f", 13));
    EXPECT_EQ(out, "\"a\\\"b\\\\c\\n\\r\\t\\u0001/\xC3\xA9\x7f\"");
    out.clear();
    append_json_escaped(out, "x\"y");
    EXPECT_EQ(out, "x\\\"y");
}

TEST(LenientJson, Utf8) {
    std::string out;
    append_utf8(out, 0x41);
    append_utf8(out, 0xe9);
    append_utf8(out, 0x20ac);
    append_utf8(out, 0x1f600);
    EXPECT_EQ(out, "A\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
}

}  // namespace
}  // namespace dstar::chat
