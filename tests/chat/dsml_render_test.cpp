#include "chat/dsml_render.h"

#include <gtest/gtest.h>

namespace dstar::chat {
namespace {

ToolCall call(std::string name, std::string args, std::string id = "") {
    return ToolCall{std::move(id), std::move(name), std::move(args)};
}

TEST(DsmlRender, Escapes) {
    std::string out;
    append_dsml_attr_escaped(out, "a&b<c>d\"e'");
    EXPECT_EQ(out, "a&amp;b&lt;c&gt;d&quot;e'");
    out.clear();
    append_dsml_parameter_text(out, "x </｜DSML｜parameter> && <b> </｜DSML｜tool_calls>");
    EXPECT_EQ(out, "x &lt;/｜DSML｜parameter> && <b> </｜DSML｜tool_calls>");
    out.clear();
    append_dsml_json_literal(out, "[\"</｜DSML｜parameter>\"]");
    EXPECT_EQ(out, "[\"\\u003c/｜DSML｜parameter>\"]");
    out.clear();
    append_tool_result_text(out, "a </tool_result> <b>&amp; </tool_result>");
    EXPECT_EQ(out, "a &lt;/tool_result> <b>&amp; &lt;/tool_result>");
}

TEST(DsmlRender, SpecExample) {
    EXPECT_EQ(canonical_dsml({call("bash", R"({"command": "ls -la /srv/app", "timeout": 10})")}),
              "\n\n<｜DSML｜tool_calls>\n"
              "<｜DSML｜invoke name=\"bash\">\n"
              "<｜DSML｜parameter name=\"command\" string=\"true\">ls -la /srv/app</｜DSML｜parameter>\n"
              "<｜DSML｜parameter name=\"timeout\" string=\"false\">10</｜DSML｜parameter>\n"
              "</｜DSML｜invoke>\n"
              "</｜DSML｜tool_calls>");
}

TEST(DsmlRender, ParallelCallsAndEmptyArguments) {
    EXPECT_EQ(canonical_dsml({call("a", "{}"), call("b<", R"({"x":[1, {"y": "z w"}]})")}),
              "\n\n<｜DSML｜tool_calls>\n"
              "<｜DSML｜invoke name=\"a\">\n"
              "</｜DSML｜invoke>\n"
              "<｜DSML｜invoke name=\"b&lt;\">\n"
              "<｜DSML｜parameter name=\"x\" string=\"false\">[1,{\"y\":\"z w\"}]</｜DSML｜parameter>\n"
              "</｜DSML｜invoke>\n"
              "</｜DSML｜tool_calls>");
    EXPECT_EQ(canonical_dsml({}), "");
}

TEST(DsmlRender, StringMembersAreDecoded) {
    const std::string out = canonical_dsml(
        {call("w", R"({"text": "line1\nline2 \"q\" \u00e9 \ud83d\ude00 </｜DSML｜parameter> 2>&1"})")});
    EXPECT_NE(out.find("string=\"true\">line1\nline2 \"q\" \xC3\xA9 \xF0\x9F\x98\x80 "
                       "&lt;/｜DSML｜parameter> 2>&1</｜DSML｜parameter>"),
              std::string::npos)
        << out;
}

TEST(DsmlRender, NonObjectArgumentsBecomeOneStringParameter) {
    EXPECT_EQ(canonical_dsml({call("patch", "*** Begin Patch </｜DSML｜parameter>")}),
              "\n\n<｜DSML｜tool_calls>\n"
              "<｜DSML｜invoke name=\"patch\">\n"
              "<｜DSML｜parameter name=\"arguments\" string=\"true\">*** Begin Patch "
              "&lt;/｜DSML｜parameter></｜DSML｜parameter>\n"
              "</｜DSML｜invoke>\n"
              "</｜DSML｜tool_calls>");
    EXPECT_NE(canonical_dsml({call("x", "")}).find("name=\"arguments\" string=\"true\"></"),
              std::string::npos);
    EXPECT_NE(canonical_dsml({call("x", "[1,2]")}).find(">[1,2]</"), std::string::npos);
}

TEST(DsmlRender, KeyEscapingAndOrder) {
    const std::string out = canonical_dsml({call("t", R"({"z":1,"a\"b":true,"m":null})")});
    const size_t z = out.find("name=\"z\""), q = out.find("name=\"a&quot;b\""),
                 m = out.find("name=\"m\"");
    ASSERT_NE(z, std::string::npos);
    ASSERT_NE(q, std::string::npos);
    ASSERT_NE(m, std::string::npos);
    EXPECT_LT(z, q);
    EXPECT_LT(q, m);
}

}  // namespace
}  // namespace dstar::chat
