// ds4's pre-tokenizer (tokenizer.md §4): every rule, the subtleties of §4.1, the spec's
// example pieces, and behaviour on malformed UTF-8 (which must match ds4 byte for byte).
#include "test_support.h"
#include "tokenizer/pretokenizer.h"

#include <gtest/gtest.h>
#include <random>

namespace dstar::tok {
namespace {

using Pieces = std::vector<std::string>;

Pieces split(std::string_view s) {
    Pieces out;
    for (std::string_view p : pretokenize(s)) out.emplace_back(p);
    return out;
}

TEST(Pretokenizer, Rule1Digits) {
    EXPECT_EQ(split("1234567"), (Pieces{"123", "456", "7"}));
    EXPECT_EQ(split("12"), (Pieces{"12"}));
    EXPECT_EQ(split("x1234"), (Pieces{"x", "123", "4"}));
    EXPECT_EQ(split("3.14"), (Pieces{"3", ".", "14"}));
}

TEST(Pretokenizer, Rule2CjkRun) {
    EXPECT_EQ(split("你好，世界"), (Pieces{"你好", "，世界"}));
    EXPECT_EQ(split("テストabc"), (Pieces{"テスト", "abc"}));
    EXPECT_EQ(split("ひらがなカタカナ漢字"), (Pieces{"ひらがなカタカナ漢字"}));
    // U+9FA6 is outside the range: a letter-like character, not CJK.
    EXPECT_EQ(split("中\xE9\xBE\xA6中"), (Pieces{"中", "\xE9\xBE\xA6中"}));
}

TEST(Pretokenizer, Rule3PunctuationPlusAsciiWord) {
    EXPECT_EQ(split("'ve"), (Pieces{"'ve"}));
    EXPECT_EQ(split("#include"), (Pieces{"#include"}));
    EXPECT_EQ(split("foo.h"), (Pieces{"foo", ".h"}));
    EXPECT_EQ(split("(bar)"), (Pieces{"(bar", ")"}));
    EXPECT_EQ(split("tool_calls"), (Pieces{"tool", "_calls"}));
    EXPECT_EQ(split("'é"), (Pieces{"'", "é"}));  // only ASCII letters
}

TEST(Pretokenizer, Rule4LetterRun) {
    EXPECT_EQ(split("naïve"), (Pieces{"naïve"}));
    EXPECT_EQ(split("apple工作"), (Pieces{"apple工作"}));
    EXPECT_EQ(split("«guillemets»"), (Pieces{"«guillemets»"}));
    EXPECT_EQ(split("word’s"), (Pieces{"word’s"}));
    EXPECT_EQ(split("x😀y"), (Pieces{"x😀y"}));
    EXPECT_EQ(split("abc1"), (Pieces{"abc", "1"}));
}

TEST(Pretokenizer, Rule5OnePrefixByte) {
    EXPECT_EQ(split(" world"), (Pieces{" world"}));
    EXPECT_EQ(split("\tfoo"), (Pieces{"\tfoo"}));
    EXPECT_EQ(split(" café"), (Pieces{" café"}));
    EXPECT_EQ(split(" 語"), (Pieces{" 語"}));
    EXPECT_EQ(split("\x01x"), (Pieces{"\x01x"}));
    EXPECT_EQ(split("\x7Fx"), (Pieces{"\x7Fx"}));
    EXPECT_EQ(split("\vx\fy"), (Pieces{"\vx", "\fy"}));
    EXPECT_EQ(split("\nfoo"), (Pieces{"\n", "foo"}));  // never a newline
}

TEST(Pretokenizer, Rule6SpacePlusPunctuation) {
    EXPECT_EQ(split(" <"), (Pieces{" <"}));
    EXPECT_EQ(split(" {\n\n"), (Pieces{" {\n\n"}));
    EXPECT_EQ(split(" '"), (Pieces{" '"}));
    EXPECT_EQ(split(" ==>x"), (Pieces{" ==>", "x"}));
    EXPECT_EQ(split("\t("), (Pieces{"\t", "("}));  // only a space 0x20
}

TEST(Pretokenizer, Rule7PunctuationRun) {
    EXPECT_EQ(split(";\n"), (Pieces{";\n"}));
    EXPECT_EQ(split(");\n\n"), (Pieces{");\n\n"}));
    EXPECT_EQ(split(".\r\n\r\n"), (Pieces{".\r\n\r\n"}));
    EXPECT_EQ(split("\"\"\""), (Pieces{"\"\"\""}));
    EXPECT_EQ(split("}\n  x"), (Pieces{"}\n", " ", " x"}));
    EXPECT_EQ(split("((a"), (Pieces{"((", "a"}));
}

TEST(Pretokenizer, Rule8Whitespace) {
    EXPECT_EQ(split("  \n  b"), (Pieces{"  \n", " ", " b"}));
    EXPECT_EQ(split("\n  foo"), (Pieces{"\n", " ", " foo"}));
    EXPECT_EQ(split("x  \n\n"), (Pieces{"x", "  \n\n"}));
    EXPECT_EQ(split("    int"), (Pieces{"   ", " int"}));
    EXPECT_EQ(split("hello   world"), (Pieces{"hello", "  ", " world"}));
    EXPECT_EQ(split("= 42"), (Pieces{"=", " ", "42"}));
    EXPECT_EQ(split("a   "), (Pieces{"a", "   "}));
    EXPECT_EQ(split("a  ("), (Pieces{"a", " ", " ("}));
    EXPECT_EQ(split("\t\tx"), (Pieces{"\t", "\tx"}));
    EXPECT_EQ(split("  \x01"), (Pieces{"  ", "\x01"}));     // followed by neither letter nor punct
    EXPECT_EQ(split("\r\n\tx"), (Pieces{"\r\n", "\tx"}));
}

TEST(Pretokenizer, Rule9AnythingElse) {
    EXPECT_EQ(split("\x01\x02"), (Pieces{"\x01", "\x02"}));
    EXPECT_EQ(split(std::string("\x00\x00", 2)), (Pieces{std::string(1, '\0'), std::string(1, '\0')}));
    EXPECT_EQ(split("\x7F"), (Pieces{"\x7F"}));
}

TEST(Pretokenizer, SubtletiesOfSection41) {
    // The worked examples of tokenizer.md §4.1 / §10.
    EXPECT_EQ(split("    int x = 42;\n    return x;\n}\n"),
              (Pieces{"   ", " int", " x", " =", " ", "42", ";\n", "   ", " return", " x", ";\n", "}\n"}));
    EXPECT_EQ(split("end\n"), (Pieces{"end", "\n"}));  // newlines go with punctuation, not words
    EXPECT_EQ(split(">;\n"), (Pieces{">;\n"}));
    EXPECT_EQ(split("x;\n\n  y"), (Pieces{"x", ";\n\n", " ", " y"}));
    EXPECT_EQ(split(" 'told"), (Pieces{" '", "told"}));
    EXPECT_EQ(split("'told"), (Pieces{"'told"}));
    EXPECT_EQ(split("I've been 'told he's there"),
              (Pieces{"I", "'ve", " been", " '", "told", " he", "'s", " there"}));
    EXPECT_EQ(split("world"), (Pieces{"world"}));  // no implicit space at span start
}

TEST(Pretokenizer, MalformedUtf8LikeDs4) {
    // A character's length comes from its lead byte alone: C3 swallows the ASCII 'A'.
    EXPECT_EQ(split("\xC3" "A!"), (Pieces{"\xC3" "A", "!"}));
    // Cut off by the end: one byte.
    EXPECT_EQ(split("ab\xE4"), (Pieces{"ab\xE4"}));
    EXPECT_EQ(split("\xE4\xB8" "a"), (Pieces{"\xE4\xB8" "a"}));  // E4 alone, then B8, then 'a'
    EXPECT_EQ(split(" \xE4"), (Pieces{" \xE4"}));
    // Stray continuation bytes and F8..FF are one-byte letter-like characters.
    EXPECT_EQ(split("\x80\xFFx"), (Pieces{"\x80\xFFx"}));
    // The CJK test assembles code points without validation: an overlong 4-byte form of
    // U+4E00 and E4 F8 80 (-> U+4E00) count as CJK, so the run stops before 'x'.
    EXPECT_EQ(split("\xF0\x84\xB8\x80x"), (Pieces{"\xF0\x84\xB8\x80", "x"}));
    EXPECT_EQ(split("\xE4\xF8\x80" "ab"), (Pieces{"\xE4\xF8\x80", "ab"}));
}

TEST(Pretokenizer, SpecExamplePieces) {
    for (const nlohmann::json &ex : test::read_jsonl(test::spec_data("tokenizer_examples.jsonl"))) {
        if (ex.at("mode") != "text") continue;
        const std::string text = ex.at("text").get<std::string>();
        EXPECT_EQ(split(text), ex.at("pretokens").get<Pieces>()) << text;
    }
}

TEST(Pretokenizer, SpecDivergenceTableUsesDs4Pieces) {
    int n = 0;
    for (const nlohmann::json &ex : test::read_jsonl(test::spec_data("pretokenizer_divergences.jsonl"))) {
        const std::string text = ex.at("text").get<std::string>();
        EXPECT_EQ(split(text), ex.at("ds4_pretokens").get<Pieces>()) << text;
        n++;
    }
    EXPECT_GE(n, 10);
}

TEST(Pretokenizer, PiecesTileTheInput) {
    std::mt19937 rng(1);
    for (int iter = 0; iter < 20000; iter++) {
        std::string s(rng() % 40, '\0');
        for (char &c : s) c = static_cast<char>(rng() % 256);
        std::string joined;
        for (std::string_view p : pretokenize(s)) {
            ASSERT_FALSE(p.empty());
            joined += p;
        }
        ASSERT_EQ(joined, s);
    }
}

}  // namespace
}  // namespace dstar::tok
