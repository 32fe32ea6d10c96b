// Inputs where ds4's pre-tokenizer (which dstar reproduces) and the reference regex of
// tokenizer.json give DIFFERENT ids, found while building the npm comparison corpus
// (scripts/tokenizer/make_corpus.mjs keeps them out of the corpus, one rule per class).
// npm_divergences.jsonl holds one line per input: class, text, ds4_ids, npm_ids, why.
//
// Provenance: ds4_ids are the output of ds4's own bpe_tokenize_text (antirez/ds4, ds4.c,
// compiled unmodified into a throw-away harness that fills its vocabulary tables from the
// V4 table of hf_vocab), npm_ids that of scripts/tokenizer/npm_reference.mjs.  The classes
// all follow from tokenizer.md §4.2 (ds4 collapses every non-ASCII character into
// "letter-like"; the regex consults Unicode categories and isolates CJK runs first):
//   D1 Unicode whitespace (NBSP, U+2003 ...)      — the documented §4.2 case
//   D2 two or more ASCII blanks before CJK/kana
//   D3 non-ASCII punctuation/symbol + CR/LF
//   D4 non-ASCII punctuation/symbol next to ASCII punctuation
//   D5 non-ASCII digits (\p{N})
//   D6 format characters (ZWJ/ZWNJ/ZWSP) after a blank
#include "test_support.h"

#include <gtest/gtest.h>
#include <set>

namespace dstar::tok {
namespace {

TEST(NpmDivergences, Ds4IdsNotRegexIds) {
    const Tokenizer &tok = test::npm_v4_tokenizer();
    std::set<std::string> classes;
    for (const nlohmann::json &ex : test::read_jsonl(std::string(DSTAR_SOURCE_DIR) + "/tests/tokenizer/npm_divergences.jsonl")) {
        const std::string text = ex.at("text").get<std::string>();
        const auto ds4 = ex.at("ds4_ids").get<std::vector<int32_t>>();
        EXPECT_EQ(tok.encode_text(text), ds4) << ex.at("class") << " " << nlohmann::json(text).dump();
        EXPECT_NE(ds4, ex.at("npm_ids").get<std::vector<int32_t>>()) << "not a divergence: " << text;
        EXPECT_EQ(tok.decode(ds4), text);
        classes.insert(ex.at("class").get<std::string>());
    }
    EXPECT_EQ(classes, (std::set<std::string>{"D1", "D2", "D3", "D4", "D5", "D6"}));
}

}  // namespace
}  // namespace dstar::tok
