// The incomplete-UTF-8 hold of tokenizer.md §8.1 and the UTF-8 validity helpers.
#include "tokenizer/utf8_stream.h"

#include "common/error.h"

#include <gtest/gtest.h>
#include <random>

namespace dstar::tok {
namespace {

size_t rel(std::string_view s, size_t released = 0) { return utf8_releasable(s, released, false); }

TEST(Utf8Stream, Ds4Examples) {
    // ds4_server.c's own test: "A " + the first two bytes of U+1F6A9 holds the two bytes.
    EXPECT_EQ(rel("A \xF0\x9F"), 2u);
    EXPECT_EQ(rel("A \xF0\x9F\x9A\xA9 done"), 11u);
}

TEST(Utf8Stream, HoldRules) {
    EXPECT_EQ(rel(""), 0u);
    EXPECT_EQ(rel("abc"), 3u);
    EXPECT_EQ(rel("ab\xC3"), 2u);           // dangling 2-byte lead
    EXPECT_EQ(rel("ab\xE4"), 2u);           // dangling 3-byte lead
    EXPECT_EQ(rel("ab\xF0"), 2u);           // dangling 4-byte lead
    EXPECT_EQ(rel("ab\xE4\xB8"), 2u);       // 2 of 3 bytes
    EXPECT_EQ(rel("ab\xE4\xB8\xAD"), 5u);   // complete
    EXPECT_EQ(rel("ab\xF0\x9F\x98"), 2u);   // 3 of 4
    EXPECT_EQ(rel("\xC3\xA9"), 2u);
    // Bytes that cannot lead a multi-byte sequence are released (C0, C1, F5..FF).
    EXPECT_EQ(rel("a\xC0"), 2u);
    EXPECT_EQ(rel("a\xC1"), 2u);
    EXPECT_EQ(rel("a\xF5"), 2u);
    EXPECT_EQ(rel("a\xFF"), 2u);
    EXPECT_EQ(rel("a\xC0\x80"), 3u);        // lead C0 "needs" 1 byte
    // Only continuation bytes unsent: hold them all.
    EXPECT_EQ(rel("\xE4\xB8\xAD", 1), 0u);
    EXPECT_EQ(rel("\x80\x80"), 0u);
    // More continuation bytes than a character can have: released once 4 are seen.
    EXPECT_EQ(rel("a\x80\x80\x80\x80"), 5u);
    EXPECT_EQ(rel("\xE4\x80\x80\x80\x80"), 5u);
    // Surplus continuation bytes after a complete sequence are released.
    EXPECT_EQ(rel("\xC3\xA9\x80"), 3u);
    // Only the unsent region is inspected.
    EXPECT_EQ(rel("ab\xE4\xB8", 3), 0u);
    EXPECT_EQ(rel("ab\xE4\xB8\xAD", 2), 3u);
}

TEST(Utf8Stream, FinalReleasesEverything) {
    EXPECT_EQ(utf8_releasable("ab\xE4\xB8", 0, true), 4u);
    EXPECT_EQ(utf8_releasable("ab\xE4\xB8", 2, true), 2u);
    EXPECT_EQ(utf8_releasable("ab", 2, true), 0u);
}

TEST(Utf8Stream, ReleasedBeyondTheEndThrows) { EXPECT_THROW(utf8_releasable("ab", 3, false), Error); }

TEST(Utf8Stream, StreamingValidTextNeverSplitsACharacter) {
    const std::string text = "Hello wörld — 你好 🙂👍🏽 done. ĠÑĤÐ² 𝔘𝔫𝔦";
    std::mt19937 rng(5);
    for (int iter = 0; iter < 500; iter++) {
        std::string acc, sent;
        size_t released = 0;
        for (size_t pos = 0; pos < text.size();) {
            const size_t n = std::min<size_t>(1 + rng() % 5, text.size() - pos);  // a "token" of 1-5 bytes
            acc.append(text, pos, n);
            pos += n;
            const size_t more = utf8_releasable(acc, released, false);
            sent.append(acc, released, more);
            released += more;
            ASSERT_TRUE(utf8_valid(sent)) << sent;
        }
        sent.append(acc, released, utf8_releasable(acc, released, true));
        ASSERT_EQ(sent, text);
    }
}

TEST(Utf8Valid, Cases) {
    EXPECT_TRUE(utf8_valid(""));
    EXPECT_TRUE(utf8_valid("abc é 中 😀"));
    EXPECT_TRUE(utf8_valid("\xF4\x8F\xBF\xBF"));   // U+10FFFF
    EXPECT_FALSE(utf8_valid("\xF4\x90\x80\x80"));  // > U+10FFFF
    EXPECT_FALSE(utf8_valid("\xC0\xAF"));          // overlong
    EXPECT_FALSE(utf8_valid("\xE0\x80\xAF"));      // overlong
    EXPECT_FALSE(utf8_valid("\xED\xA0\x80"));      // surrogate
    EXPECT_FALSE(utf8_valid("\xC3"));              // truncated
    EXPECT_FALSE(utf8_valid("a\x80"));             // stray continuation
    EXPECT_FALSE(utf8_valid("\xFF"));
}

TEST(Utf8Sanitize, MaximalSubparts) {
    const std::string R = "\xEF\xBF\xBD";
    EXPECT_EQ(utf8_sanitize("abc é"), "abc é");
    EXPECT_EQ(utf8_sanitize("a\xC3"), "a" + R);
    EXPECT_EQ(utf8_sanitize("a\xE4\xB8" "b"), "a" + R + "b");        // one U+FFFD for the maximal subpart
    EXPECT_EQ(utf8_sanitize("\xF0\x9F\x98" "x"), R + "x");
    EXPECT_EQ(utf8_sanitize("\xC0\xAF"), R + R);                   // C0 never starts a sequence
    EXPECT_EQ(utf8_sanitize("\xED\xA0\x80"), R + R + R);           // ED A0: second byte out of range
    EXPECT_EQ(utf8_sanitize("\x80\x80"), R + R);
    EXPECT_EQ(utf8_sanitize("\xE4\xB8\xAD\xFF"), "\xE4\xB8\xAD" + R);
    std::mt19937 rng(9);
    for (int i = 0; i < 2000; i++) {
        std::string s(rng() % 20, '\0');
        for (char &c : s) c = static_cast<char>(rng() % 256);
        ASSERT_TRUE(utf8_valid(utf8_sanitize(s)));
        if (utf8_valid(s)) {
            ASSERT_EQ(utf8_sanitize(s), s);
        }
    }
}

}  // namespace
}  // namespace dstar::tok
