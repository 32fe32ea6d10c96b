#include "chat/prompt_text.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace dstar::chat {
namespace {

using test::read_bytes;
using test::sha256_hex;
using test::spec_data_path;

TEST(PromptText, Sha256MatchesSpec) {
    EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(sha256_hex(std::string(think_max_prefix())),
              "f7a24f3b3050d4a83781e9b755b316aae2ec1d9dc87562541d90bcb04d7350f7");
    EXPECT_EQ(sha256_hex(std::string(tools_prompt_head())),
              "de87922067300def6cde0b9a5c722c3248d708fb089b088b95c64f082d3a64ea");
    EXPECT_EQ(sha256_hex(std::string(tools_prompt_tail())),
              "fe26e2683a842d7f5378ebb38e2997e053770d962e3faae89e1d5bf8b8156498");
}

TEST(PromptText, SizesMatchSpec) {
    EXPECT_EQ(think_max_prefix().size(), 476u);
    EXPECT_EQ(tools_prompt_head().size(), 1183u);
    EXPECT_EQ(tools_prompt_tail().size(), 146u);
}

TEST(PromptText, ByteEqualToSpecDataFiles) {
    struct Case { const char *file; std::string_view text; };
    for (const Case &c : {Case{"think_max_prefix.txt", think_max_prefix()},
                          Case{"tools_prompt_head.txt", tools_prompt_head()},
                          Case{"tools_prompt_tail.txt", tools_prompt_tail()}}) {
        bool ok = false;
        const std::string bytes = read_bytes(spec_data_path(c.file), &ok);
        if (!ok) GTEST_SKIP() << "spec data not available: " << c.file;
        EXPECT_EQ(bytes, c.text) << c.file;
    }
}

TEST(PromptText, SpecialStrings) {
    EXPECT_EQ(kBos, "<\xEF\xBD\x9C" "begin\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>");
    EXPECT_EQ(kDsml, "\xEF\xBD\x9C" "DSML\xEF\xBD\x9C");
    EXPECT_EQ(kDefaultSystemPrompt, "You are a helpful assistant");
}

}  // namespace
}  // namespace dstar::chat
