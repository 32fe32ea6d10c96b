// decode(encode(x)) == x, byte for byte (tokenizer.md §8), for both encoders, on random
// bytes (malformed UTF-8 included), random text and long inputs.
#include "test_support.h"
#include "tokenizer/special_tokens.h"

#include <gtest/gtest.h>
#include <random>

namespace dstar::tok {
namespace {

TEST(RoundTrip, RandomBytes) {
    const Tokenizer &tok = test::npm_v4_tokenizer();
    std::mt19937 rng(11);
    for (int iter = 0; iter < 5000; iter++) {
        std::string s(rng() % 64, '\0');
        for (char &c : s) c = static_cast<char>(rng() % 256);
        ASSERT_EQ(tok.decode(tok.encode_text(s)), s) << test::hex(s);
        ASSERT_EQ(tok.decode(tok.encode_rendered(s)), s) << test::hex(s);
    }
}

TEST(RoundTrip, RandomTextWithSpecials) {
    const Tokenizer &tok = test::npm_v4_tokenizer();
    std::vector<std::string> parts = {"Hello", " world", "\n", "\r\n", "  ", "\t", "42", "12345", ";", "{", "}\n",
                                      "中文", "テスト", "한국어", "Привет", "😀", "👩‍💻", "🇺🇸", "naïve", "“q”",
                                      "\xC3", "\x80", "<", "｜", "▁", "Ġ", "def f(x):\n    return x\n"};
    for (std::string_view s : kSpecialStrings) parts.emplace_back(s);
    std::mt19937 rng(12);
    for (int iter = 0; iter < 5000; iter++) {
        std::string s;
        for (size_t n = rng() % 20; n > 0; n--) s += parts[rng() % parts.size()];
        ASSERT_EQ(tok.decode(tok.encode_text(s)), s) << s;
        ASSERT_EQ(tok.decode(tok.encode_rendered(s)), s) << s;
    }
}

TEST(RoundTrip, LongInputs) {
    const Tokenizer &tok = test::npm_v4_tokenizer();
    std::string s;
    std::mt19937 rng(13);
    for (int i = 0; i < 200000; i++) s += static_cast<char>(rng() % 2 ? 'a' + rng() % 26 : " \n\t.,;(){}0123456789"[rng() % 20]);
    EXPECT_EQ(tok.decode(tok.encode_text(s)), s);
    const std::string cjk = [] {
        std::string t;
        for (int i = 0; i < 20000; i++) t += "中文字";
        return t;
    }();
    EXPECT_EQ(tok.decode(tok.encode_text(cjk)), cjk);  // one 180 KB piece: the heap path
    const std::string spaces(100000, ' ');
    EXPECT_EQ(tok.decode(tok.encode_text(spaces)), spaces);
}

}  // namespace
}  // namespace dstar::tok
