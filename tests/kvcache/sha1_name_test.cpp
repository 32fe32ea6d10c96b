#include "kvcache/sha1_name.h"

#include <gtest/gtest.h>

#include <vector>

namespace dstar::kvcache {
namespace {

TEST(Sha1Name, KnownDigests) {
    EXPECT_EQ(sha1_hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
    EXPECT_EQ(sha1_hex(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    EXPECT_EQ(sha1_hex(std::string_view("a\0b", 3)), sha1_hex(std::string("a\0b", 3)));  // bytes, not C strings
    EXPECT_NE(sha1_hex(std::string_view("a\0b", 3)), sha1_hex("a"));
}

TEST(Sha1Name, FileNames) {
    const std::string sha = sha1_hex("<｜begin▁of▁sentence｜>system prompt");
    EXPECT_EQ(cache_file_name(sha), sha + ".kv");
    std::string parsed;
    ASSERT_TRUE(parse_cache_file_name(sha + ".kv", &parsed));
    EXPECT_EQ(parsed, sha);
    // Upper-case hex is accepted and reported in lower case (ds4 lower-cases when listing).
    ASSERT_TRUE(parse_cache_file_name("A9993E364706816ABA3E25717850C26C9CD0D89D.kv", &parsed));
    EXPECT_EQ(parsed, "a9993e364706816aba3e25717850c26c9cd0d89d");
    std::string not_hex = sha;
    not_hex[0] = 'g';
    std::vector<std::string> bad_names = {sha + ".KV", sha + ".kv.tmp.123", sha + ".kv.bad", "sysprompt.kv", sha};
    bad_names.push_back(sha.substr(1));
    bad_names.back() += ".kv";
    bad_names.push_back(sha);
    bad_names.back() += "0.kv";
    bad_names.push_back(not_hex);
    bad_names.back() += ".kv";
    for (const std::string &bad : bad_names)
        EXPECT_FALSE(parse_cache_file_name(bad, &parsed)) << bad;
}

}  // namespace
}  // namespace dstar::kvcache
