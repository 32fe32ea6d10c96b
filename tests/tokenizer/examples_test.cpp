// The worked examples of the specification: tokenizer_examples.jsonl (plain and rendered;
// ids, token texts, round trip) and the ds4 column of pretokenizer_divergences.jsonl.
#include "test_support.h"

#include <gtest/gtest.h>

namespace dstar::tok {
namespace {

// How the spec data shows token bytes: UTF-8 where valid, "\xNN" (lowercase) for each
// byte that is not part of a valid sequence (Python's errors="backslashreplace").
std::string show_bytes(std::string_view s) {
    static const char *d = "0123456789abcdef";
    std::string out;
    size_t i = 0;
    auto b = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
    while (i < s.size()) {
        const uint8_t c = b(i);
        size_t n = 0;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c < 0x80) n = 1;
        else if (c >= 0xC2 && c <= 0xDF) n = 2;
        else if (c >= 0xE0 && c <= 0xEF) { n = 3; if (c == 0xE0) lo = 0xA0; if (c == 0xED) hi = 0x9F; }
        else if (c >= 0xF0 && c <= 0xF4) { n = 4; if (c == 0xF0) lo = 0x90; if (c == 0xF4) hi = 0x8F; }
        bool ok = n > 0 && i + n <= s.size();
        for (size_t k = 1; ok && k < n; k++) {
            const uint8_t x = b(i + k);
            ok = k == 1 ? (x >= lo && x <= hi) : (x & 0xC0) == 0x80;
        }
        if (ok) {
            out.append(s.substr(i, n));
            i += n;
        } else {
            out += "\\x";
            out += d[c >> 4];
            out += d[c & 15];
            i++;
        }
    }
    return out;
}

TEST(SpecExamples, IdsTokenTextsAndRoundTrip) {
    const Tokenizer &tok = test::npm_v4_tokenizer();
    int plain = 0, rendered = 0;
    for (const nlohmann::json &ex : test::read_jsonl(test::spec_data("tokenizer_examples.jsonl"))) {
        const std::string text = ex.at("text").get<std::string>();
        const bool is_plain = ex.at("mode") == "text";
        const std::vector<int32_t> ids = is_plain ? tok.encode_text(text) : tok.encode_rendered(text);
        EXPECT_EQ(ids, ex.at("ids").get<std::vector<int32_t>>()) << ex.at("mode") << " " << text;
        std::vector<std::string> texts;
        for (int32_t id : ids) texts.push_back(show_bytes(tok.token_bytes(id)));
        EXPECT_EQ(texts, ex.at("token_texts").get<std::vector<std::string>>()) << text;
        EXPECT_EQ(tok.decode(ids), text);
        (is_plain ? plain : rendered)++;
    }
    EXPECT_GE(plain, 10);
    EXPECT_GE(rendered, 5);
}

TEST(SpecExamples, SectionTenByHand) {
    const Tokenizer &tok = test::npm_v4_tokenizer();
    using V = std::vector<int32_t>;
    EXPECT_EQ(tok.encode_text("Hello, world!"), (V{19923, 14, 2058, 3}));
    EXPECT_EQ(tok.encode_text("a  \n  b"), (V{67, 2143, 223, 291}));
    EXPECT_EQ(tok.encode_text("1234567 3.14"), (V{6895, 18009, 25, 223, 21, 16, 929}));
    EXPECT_EQ(tok.encode_rendered("<｜begin▁of▁sentence｜><｜User｜>Hello<｜Assistant｜></think>"),
              (V{0, 128803, 19923, 128804, 128822}));
    EXPECT_EQ(tok.encode_rendered("<｜User｜>你好<｜Assistant｜><think>推理</think>答案<｜end▁of▁sentence｜>"),
              (V{128803, 30594, 128804, 128821, 36101, 128822, 7624, 1}));
}

TEST(SpecExamples, PretokenizerDivergencesGiveDs4Ids) {
    // tokenizer.md §4.2: dstar reproduces ds4's splitter, so the ds4 column is the truth,
    // including the one case (" " + U+00A0 + "nbsp") where the reference regex differs.
    const Tokenizer &tok = test::npm_v4_tokenizer();
    int differing = 0;
    for (const nlohmann::json &ex : test::read_jsonl(test::spec_data("pretokenizer_divergences.jsonl"))) {
        const std::string text = ex.at("text").get<std::string>();
        EXPECT_EQ(tok.encode_text(text), ex.at("ds4_ids").get<std::vector<int32_t>>()) << text;
        if (!ex.at("same_ids").get<bool>()) differing++;
    }
    EXPECT_GE(differing, 1);
}

}  // namespace
}  // namespace dstar::tok
