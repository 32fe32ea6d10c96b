// Tokenizer: construction from GGUF-style arrays, the special tokens, the rendered-chat
// split (tokenizer.md §3), decoding (§8), lookups and thread safety.
#include "test_support.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/special_tokens.h"

#include "common/error.h"

#include <gtest/gtest.h>
#include <thread>

namespace dstar::tok {
namespace {

const std::string kBos = "<｜begin▁of▁sentence｜>";
const std::string kEos = "<｜end▁of▁sentence｜>";
const std::string kUser = "<｜User｜>";
const std::string kAssistant = "<｜Assistant｜>";
const std::string kDsml = "｜DSML｜";

// A tiny vocabulary: the 256 byte symbols (ids 0..255), the 7 specials, a few merges.
struct Tiny {
    std::vector<std::string> tokens, merges;
    Tiny() {
        for (int b = 0; b < 256; b++) tokens.emplace_back(byte_symbol(static_cast<uint8_t>(b)));
        for (std::string_view s : kSpecialStrings) tokens.emplace_back(s);
        merges = {"h i", "Ġ hi"};
        tokens.push_back("hi");   // 263
        tokens.push_back("Ġhi");  // 264
    }
};

TEST(Tokenizer, MissingSpecialTokenIsNamed) {
    for (size_t drop = 0; drop < kSpecialStrings.size(); drop++) {
        Tiny t;
        t.tokens.erase(t.tokens.begin() + 256 + static_cast<long>(drop));
        try {
            Tokenizer tok(t.tokens, t.merges);
            FAIL() << "no error without " << kSpecialStrings[drop];
        } catch (const Error &e) {
            EXPECT_NE(std::string(e.what()).find(std::string(kSpecialStrings[drop])), std::string::npos) << e.what();
        }
    }
}

TEST(Tokenizer, TinyVocabulary) {
    Tiny t;
    const Tokenizer tok(t.tokens, t.merges);
    EXPECT_EQ(tok.n_vocab(), 265);
    EXPECT_EQ(tok.bos(), 256);
    EXPECT_EQ(tok.dsml(), 262);
    EXPECT_EQ(tok.encode_text("hi hi"), (std::vector<int32_t>{263, 264}));
    EXPECT_EQ(tok.encode_rendered("hi<think> hi"), (std::vector<int32_t>{263, 260, 264}));
    EXPECT_EQ(tok.find_token("Ġhi"), 264);
    EXPECT_EQ(tok.find_token(" hi"), std::nullopt);
    EXPECT_EQ(tok.token_string(264), "Ġhi");
    EXPECT_THROW((void)tok.token_string(265), Error);
    EXPECT_THROW((void)tok.token_string(-1), Error);
}

TEST(Tokenizer, DuplicateTokenStringsResolveToTheLaterId) {
    Tiny t;
    t.tokens.push_back("hi");  // 265 duplicates 263
    const Tokenizer tok(t.tokens, t.merges);
    EXPECT_EQ(tok.encode_text("hi"), (std::vector<int32_t>{265}));
    EXPECT_EQ(tok.find_token("hi"), 265);
    EXPECT_EQ(tok.token_bytes(263), "hi");  // both still decode
}

TEST(Tokenizer, V4SpecialIds) {
    const Tokenizer &tok = test::npm_v4_tokenizer();
    EXPECT_EQ(tok.n_vocab(), 129280);
    EXPECT_EQ(tok.bos(), 0);
    EXPECT_EQ(tok.eos(), 1);
    EXPECT_EQ(tok.user(), 128803);
    EXPECT_EQ(tok.assistant(), 128804);
    EXPECT_EQ(tok.think_open(), 128821);
    EXPECT_EQ(tok.think_close(), 128822);
    EXPECT_EQ(tok.dsml(), 128825);
    EXPECT_EQ(tok.find_token("Ġworld"), 2058);
    EXPECT_EQ(tok.find_token(kUser), 128803);
}

TEST(Tokenizer, PlainEncoderIgnoresSpecials) {
    const Tokenizer &tok = test::npm_v4_tokenizer();
    EXPECT_EQ(tok.encode_text("<think>"), (std::vector<int32_t>{30, 37947, 32}));
    for (std::string_view s : kSpecialStrings) {
        const std::vector<int32_t> ids = tok.encode_text(s);
        EXPECT_GT(ids.size(), 1u) << s;
        EXPECT_EQ(tok.decode(ids), s);
    }
    EXPECT_TRUE(tok.encode_text("").empty());
    EXPECT_TRUE(tok.encode_rendered("").empty());
}

TEST(Tokenizer, RenderedSplitsSpansIndependently) {
    const Tokenizer &tok = test::npm_v4_tokenizer();
    // Each span is encoded on its own: the same as encoding the spans separately.
    const std::string a = "Hello world", b = " and more\n\n", c = "tail;\n";
    std::vector<int32_t> want = tok.encode_text(a);
    want.push_back(tok.user());
    for (int32_t id : tok.encode_text(b)) want.push_back(id);
    want.push_back(tok.dsml());
    want.push_back(tok.dsml());
    for (int32_t id : tok.encode_text(c)) want.push_back(id);
    EXPECT_EQ(tok.encode_rendered(a + kUser + b + kDsml + kDsml + c), want);

    // Specials at both ends, adjacent specials, all seven.
    EXPECT_EQ(tok.encode_rendered(kBos + kEos + kUser + kAssistant + "<think></think>" + kDsml),
              (std::vector<int32_t>{0, 1, 128803, 128804, 128821, 128822, 128825}));
    // Near misses are ordinary text.
    EXPECT_EQ(tok.encode_rendered("<think"), tok.encode_text("<think"));
    EXPECT_EQ(tok.encode_rendered("<｜User"), tok.encode_text("<｜User"));
    EXPECT_EQ(tok.encode_rendered("</think"), tok.encode_text("</think"));
    EXPECT_EQ(tok.encode_rendered("<｜tool▁sep｜>"), tok.encode_text("<｜tool▁sep｜>"));  // not one of the 7
    // Merges never cross a special token: "a" + <think> + "b".
    EXPECT_EQ(tok.encode_rendered("<<think>>"), (std::vector<int32_t>{30, 128821, 32}));
    // The DSML example of tokenizer.md §3.
    EXPECT_EQ(tok.encode_rendered("\n\n<" + kDsml + "tool_calls>\n"),
              (std::vector<int32_t>{271, 30, 128825, 72461, 4941, 12548, 1018}));
}

TEST(Tokenizer, EmbeddedNulIsAnOrdinaryByte) {
    // ds4 stops at a NUL (C strings); dstar encodes it (documented in tokenizer.h).
    const Tokenizer &tok = test::npm_v4_tokenizer();
    const std::string s("a\0b", 3);
    const std::vector<int32_t> ids = tok.encode_text(s);
    EXPECT_EQ(ids.front(), 67);  // "a", then "\0b" (rule 5: the NUL is a prefix byte)
    EXPECT_EQ(tok.decode(ids), s);
    EXPECT_EQ(tok.decode(tok.encode_rendered(s + kUser + s)), s + kUser + s);
}

TEST(Tokenizer, TokenBytes) {
    const Tokenizer &tok = test::npm_v4_tokenizer();
    EXPECT_EQ(tok.token_bytes(2058), " world");
    EXPECT_EQ(tok.token_bytes(0), kBos);            // U+FF5C: verbatim
    EXPECT_EQ(tok.token_bytes(128825), kDsml);
    EXPECT_EQ(tok.token_bytes(128821), "<think>");  // printable ASCII maps to itself
    EXPECT_EQ(tok.token_bytes(128805), "<|EOT|>");
    EXPECT_EQ(tok.token_bytes(-1), "");
    EXPECT_EQ(tok.token_bytes(129280), "");
    EXPECT_EQ(tok.decode(std::vector<int32_t>{19923, -5, 14, 1 << 30, 2058}), "Hello, world");
    // Every ordinary token spells exactly its bytes.
    for (int32_t id = 0; id < tok.n_vocab(); id++) {
        const std::string &s = tok.token_string(id);
        if (s.find("\xEF\xBD\x9C") != std::string::npos) {
            ASSERT_EQ(tok.token_bytes(id), s);
        } else if (id >= 3 && id < 128000) {
            ASSERT_EQ(bytes_to_symbols(tok.token_bytes(id)), s) << id;
        }
    }
}

TEST(Tokenizer, ConcurrentUseGivesTheSameIds) {
    const Tokenizer &tok = test::npm_v4_tokenizer();
    std::string text;
    for (int i = 0; i < 300; i++) text += "The quick brown fox; int x" + std::to_string(i) + " = 42;\n  你好，世界！ ";
    const std::vector<int32_t> want = tok.encode_rendered(text + kUser + text);
    std::vector<std::thread> threads;
    std::vector<int> ok(4, 0);
    for (int t = 0; t < 4; t++) {
        threads.emplace_back([&, t] {
            bool all = true;
            for (int i = 0; i < 10; i++) all = all && tok.encode_rendered(text + kUser + text) == want;
            ok[static_cast<size_t>(t)] = all;
        });
    }
    for (std::thread &th : threads) th.join();
    for (int v : ok) EXPECT_TRUE(v);
}

TEST(Tokenizer, MoveKeepsWorking) {
    Tiny t;
    Tokenizer a(t.tokens, t.merges);
    Tokenizer b(std::move(a));
    EXPECT_EQ(b.encode_text("hi hi"), (std::vector<int32_t>{263, 264}));
    EXPECT_EQ(b.find_token("Ġhi"), 264);
}

}  // namespace
}  // namespace dstar::tok
