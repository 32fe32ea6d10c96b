#include "chat/conversation.h"

#include <gtest/gtest.h>

#include "chat/request_json.h"
#include "common/error.h"

namespace dstar::chat {
namespace {

TEST(Conversation, ToolCallIds) {
    Message m;
    m.add_tool_call_id("");
    EXPECT_EQ(m.tool_call_id, "");
    m.add_tool_call_id("a");
    m.add_tool_call_id("b");
    m.add_tool_call_id("a");
    EXPECT_EQ(m.tool_call_id, "a");
    EXPECT_EQ(m.tool_call_ids, (std::vector<std::string>{"a", "b"}));
}

TEST(Conversation, ActiveToolSchemas) {
    Conversation c;
    EXPECT_FALSE(c.has_tools());
    EXPECT_EQ(c.active_tool_schemas_text(), "");
    c.tool_schemas = {"{\"a\":1}", "", "{\n \"b\": 2\n}"};
    EXPECT_TRUE(c.has_tools());
    EXPECT_EQ(c.active_tool_schemas_text(), "{\"a\":1}\n{\n \"b\": 2\n}");
    c.tool_choice_none = true;
    EXPECT_FALSE(c.has_tools());
    EXPECT_EQ(c.active_tool_schemas_text(), "");
}

TEST(JsonRef, PathsRawBytesAndFallback) {
    const std::string body = R"({"a": {"b": [ 1.50 , {"c" : "\u00e9"} ]}})";
    const auto j = nlohmann::json::parse(body);
    auto spans = JsonSpans::build(body);
    ASSERT_TRUE(spans);
    JsonRef root(j, &*spans, spans->root(), "");
    auto b = root.get("a")->get("b");
    ASSERT_TRUE(b);
    EXPECT_EQ(b->path(), "a.b");
    EXPECT_EQ(b->raw(), R"([ 1.50 , {"c" : "\u00e9"} ])");
    auto elems = b->elements();
    ASSERT_EQ(elems.size(), 2u);
    EXPECT_EQ(elems[1].path(), "a.b[1]");
    EXPECT_EQ(elems[0].raw(), "1.50");
    EXPECT_EQ(elems[1].get("c")->str(), "\xC3\xA9");
    EXPECT_FALSE(root.get("missing"));
    EXPECT_FALSE(elems[0].get("x"));  // not an object

    // Without spans, values are re-serialised compactly.
    JsonRef plain(j, nullptr, JsonSpans::kNone, "");
    EXPECT_EQ(plain.get("a")->get("b")->raw(), "[1.5,{\"c\":\"\xC3\xA9\"}]");

    // A body that does not match the parsed value never leaks wrong bytes.
    const auto other = nlohmann::json::parse(R"({"a": "text"})");
    JsonRef mismatched(other, &*spans, spans->root(), "");
    EXPECT_EQ(mismatched.get("a")->raw(), "\"text\"");

    try {
        (void)elems[0].str();
        FAIL() << "expected an error";
    } catch (const Error &e) {
        EXPECT_STREQ(e.what(), "a.b[0]: expected a string");
    }
    EXPECT_THROW(parse_request_body("{nope"), Error);
}

}  // namespace
}  // namespace dstar::chat
