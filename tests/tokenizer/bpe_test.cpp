// BPE of one piece (tokenizer.md §6): both algorithms behind BpeModel against a direct,
// string-based transcription of the spec's procedure, on synthetic vocabularies (which
// exercise duplicates, malformed merges and the fallback for non-token symbols) and on
// the real V4 vocabulary.
#include "test_support.h"
#include "tokenizer/bpe.h"
#include "tokenizer/byte_level.h"

#include <climits>
#include <gtest/gtest.h>
#include <random>
#include <unordered_map>

namespace dstar::tok {
namespace {

// The procedure of tokenizer.md §6 on strings, as literally as possible (slow).
class NaiveBpe {
public:
    NaiveBpe(const std::vector<std::string> &tokens, const std::vector<std::string> &merges) {
        for (size_t i = 0; i < tokens.size(); i++) token_to_id_[tokens[i]] = static_cast<int32_t>(i);
        for (size_t i = 0; i < merges.size(); i++) rank_[merges[i]] = static_cast<int>(i);
    }

    std::vector<int32_t> encode(std::string_view piece) const {
        std::vector<std::string> sym;
        for (char c : piece) sym.emplace_back(byte_symbol(static_cast<uint8_t>(c)));
        for (;;) {
            int best = INT_MAX;
            size_t bi = 0;
            for (size_t i = 0; i + 1 < sym.size(); i++) {
                auto it = rank_.find(sym[i] + " " + sym[i + 1]);
                if (it != rank_.end() && it->second < best) {
                    best = it->second;
                    bi = i;
                }
            }
            if (best == INT_MAX) break;
            sym[bi] += sym[bi + 1];
            sym.erase(sym.begin() + static_cast<long>(bi) + 1);
        }
        std::vector<int32_t> out;
        for (const std::string &s : sym) {
            if (auto it = token_to_id_.find(s); it != token_to_id_.end()) {
                out.push_back(it->second);
                continue;
            }
            for (char c : s) {  // ds4's fallback: each byte as a one-byte token, else skipped
                if (auto it = token_to_id_.find(std::string(1, c)); it != token_to_id_.end()) out.push_back(it->second);
            }
        }
        return out;
    }

private:
    std::unordered_map<std::string, int32_t> token_to_id_;
    std::unordered_map<std::string, int> rank_;
};

std::unordered_map<std::string_view, int32_t> index_of(const std::vector<std::string> &tokens) {
    std::unordered_map<std::string_view, int32_t> m;
    for (size_t i = 0; i < tokens.size(); i++) m[tokens[i]] = static_cast<int32_t>(i);
    return m;
}

struct Algos {
    std::vector<int32_t> small, large, piece;
};

Algos run_all(const BpeModel &bpe, std::string_view piece) {
    Algos a;
    BpeModel::Scratch scratch;
    if (piece.size() <= BpeModel::kSmallPiece) bpe.encode_small(piece, a.small);
    bpe.encode_large(piece, a.large, scratch);
    bpe.encode_piece(piece, a.piece, scratch);
    return a;
}

// A random vocabulary over a small byte alphabet: random merges of reachable symbols,
// some results left out of the token list (fallback), some byte symbols left out too,
// duplicate merges (the later rank wins), duplicate token strings (the later id wins) and
// malformed merge strings (ignored).
struct SyntheticVocab {
    std::vector<std::string> tokens, merges;
};

SyntheticVocab make_synthetic(uint32_t seed, const std::string &alphabet) {
    std::mt19937 rng(seed);
    SyntheticVocab v;
    std::vector<std::string> symbols;
    for (char c : alphabet) symbols.emplace_back(byte_symbol(static_cast<uint8_t>(c)));
    for (size_t i = 0; i < symbols.size(); i++) {
        if (i % 5 != 4) v.tokens.push_back(symbols[i]);  // some bytes are not tokens
    }
    v.tokens.push_back("a");  // one-byte strings for the fallback
    v.tokens.push_back("b");
    for (int i = 0; i < 300; i++) {
        const std::string a = symbols[rng() % symbols.size()];  // copies: symbols grows below
        const std::string b = symbols[rng() % symbols.size()];
        v.merges.push_back(a + " " + b);
        if (symbols.size() < 200) symbols.push_back(a + b);
        if (rng() % 4) v.tokens.push_back(a + b);
        if (rng() % 20 == 0) v.merges.push_back(v.merges[rng() % v.merges.size()]);  // duplicate
        if (rng() % 25 == 0) v.merges.push_back(a + "  " + b);                       // malformed
        if (rng() % 25 == 0) v.merges.push_back(a + b);                              // malformed
        if (rng() % 30 == 0) v.tokens.push_back(v.tokens[rng() % v.tokens.size()]);   // duplicate
    }
    return v;
}

TEST(Bpe, AgreesWithTheSpecProcedureOnSyntheticVocabularies) {
    const std::string alphabet = std::string("ab c\n") + "\xC3\xA9" + "xyz";
    for (uint32_t seed = 1; seed <= 20; seed++) {
        const SyntheticVocab v = make_synthetic(seed, alphabet);
        const auto index = index_of(v.tokens);
        const BpeModel bpe(v.tokens.size(), index, v.merges);
        const NaiveBpe naive(v.tokens, v.merges);
        std::mt19937 rng(seed * 7919);
        for (int iter = 0; iter < 400; iter++) {
            const size_t len = 1 + (iter % 3 == 0 ? rng() % 200 : rng() % 24);
            std::string piece;
            for (size_t i = 0; i < len; i++) piece += alphabet[rng() % alphabet.size()];
            const std::vector<int32_t> want = naive.encode(piece);
            const Algos got = run_all(bpe, piece);
            if (len <= BpeModel::kSmallPiece) {
                ASSERT_EQ(got.small, want) << "seed " << seed << " " << test::hex(piece);
            }
            ASSERT_EQ(got.large, want) << "seed " << seed << " " << test::hex(piece);
            ASSERT_EQ(got.piece, want) << "seed " << seed << " " << test::hex(piece);
        }
    }
}

TEST(Bpe, LeftmostWinsOnEqualRanks) {
    const std::vector<std::string> tokens = {"a", "aa", "aaa"};
    const std::vector<std::string> merges = {"a a", "aa a"};
    const BpeModel bpe(tokens.size(), index_of(tokens), merges);
    for (std::string_view piece : {"aaa", "aaaa", "aaaaa"}) {
        const Algos got = run_all(bpe, piece);
        const std::vector<int32_t> want = NaiveBpe(tokens, merges).encode(piece);
        EXPECT_EQ(got.small, want) << piece;
        EXPECT_EQ(got.large, want) << piece;
    }
    // With only "a a": "aaa" -> "aa" "a" (the left pair merges first), "aaaaa" -> "aa" "aa" "a".
    const std::vector<std::string> one_merge = {"a a"};
    const BpeModel bpe1(tokens.size(), index_of(tokens), one_merge);
    std::vector<int32_t> out;
    bpe1.encode_small("aaa", out);
    EXPECT_EQ(out, (std::vector<int32_t>{1, 0}));
    out.clear();
    BpeModel::Scratch scratch;
    bpe1.encode_large("aaaaa", out, scratch);
    EXPECT_EQ(out, (std::vector<int32_t>{1, 1, 0}));
}

TEST(Bpe, LaterDuplicateMergeWins) {
    // "b c" listed first at rank 0 and again at rank 2: the rank-1 merge "a b" wins.
    const std::vector<std::string> tokens = {"a", "b", "c", "ab", "bc"};
    const std::vector<std::string> merges = {"b c", "a b", "b c"};
    const BpeModel bpe(tokens.size(), index_of(tokens), merges);
    std::vector<int32_t> out;
    bpe.encode_small("abc", out);
    EXPECT_EQ(out, (std::vector<int32_t>{3, 2}));
}

TEST(Bpe, FallbackForSymbolsThatAreNotTokens) {
    // "ab" is a merge result but not a token: emitted as the one-byte tokens "a", "b".
    const std::vector<std::string> tokens = {"a", "b", "x"};
    const std::vector<std::string> merges = {"a b"};
    const BpeModel bpe(tokens.size(), index_of(tokens), merges);
    std::vector<int32_t> out;
    bpe.encode_small("abx", out);
    EXPECT_EQ(out, (std::vector<int32_t>{0, 1, 2}));
    // A byte whose symbol is not a token and has no one-byte token is skipped (ds4).
    out.clear();
    bpe.encode_small("a\xC3", out);
    EXPECT_EQ(out, (std::vector<int32_t>{0}));
}

TEST(Bpe, AgreesWithTheSpecProcedureOnTheV4Vocabulary) {
    const HfVocab &v = test::npm_v4_vocab();
    const auto index = index_of(v.tokens);
    const BpeModel bpe(v.tokens.size(), index, v.merges);
    const NaiveBpe naive(v.tokens, v.merges);
    const std::vector<std::string> parts = {"the", " ", "ing", "tion", "a", "e", "\n", "中", "é", "😀", "ÑĤ", "x",
                                            "\t", "0", "_", "-", "'", "ab", "\xC4", "\xA0", "Ġ", "ー"};
    std::mt19937 rng(42);
    for (int iter = 0; iter < 3000; iter++) {
        std::string piece;
        const size_t n = 1 + (iter % 10 == 0 ? rng() % 60 : rng() % 8);
        for (size_t i = 0; i < n; i++) piece += parts[rng() % parts.size()];
        const std::vector<int32_t> want = naive.encode(piece);
        const Algos got = run_all(bpe, piece);
        if (piece.size() <= BpeModel::kSmallPiece) {
            ASSERT_EQ(got.small, want) << test::hex(piece);
        }
        ASSERT_EQ(got.large, want) << test::hex(piece);
        ASSERT_EQ(got.piece, want) << test::hex(piece);
    }
}

TEST(Bpe, LongPiecesUseTheHeapAndAgree) {
    const HfVocab &v = test::npm_v4_vocab();
    const auto index = index_of(v.tokens);
    const BpeModel bpe(v.tokens.size(), index, v.merges);
    const NaiveBpe naive(v.tokens, v.merges);
    std::string letters;
    std::mt19937 rng(3);
    for (int i = 0; i < 1200; i++) letters += static_cast<char>('a' + rng() % 26);
    for (const std::string &piece : {letters, std::string(1000, 'a'), std::string(800, ' ')}) {
        std::vector<int32_t> got;
        BpeModel::Scratch scratch;
        bpe.encode_piece(piece, got, scratch);
        EXPECT_EQ(got, naive.encode(piece)) << piece.substr(0, 20);
    }
}

}  // namespace
}  // namespace dstar::tok
