// Against ds4 itself: the ds4-oracle test data (shared/testdata/ds4-oracle) records the
// prompt ids that ds4 produced (ds4_tokenize_rendered_chat) for seven rendered prompts
// on a tiny GGUF whose 4096-token vocabulary synth_tiny_gguf.py derived from the npm
// tokenizer.json.  We rebuild that vocabulary the same way (build_vocab in the script:
// BOS/EOS/PAD, the 256 byte symbols, then the results of the lowest-rank merges whose
// operands are already kept, up to 4091 tokens sorted by V3 id, then the 5 chat
// specials) and require the same ids.
#include "test_support.h"
#include "tokenizer/byte_level.h"

#include "common/mapped_file.h"

#include <algorithm>
#include <gtest/gtest.h>
#include <unordered_map>
#include <unordered_set>

namespace dstar::tok {
namespace {

const std::string kOracleDir = std::string(DSTAR_SHARED_DIR) + "/testdata/ds4-oracle";

struct TinyVocab {
    std::vector<std::string> tokens, merges;
};

TinyVocab build_tiny_vocab(int n_vocab) {
    const HfVocab &full = test::npm_v4_vocab();
    std::unordered_map<std::string, int32_t> v3;  // model.vocab: ids 0..127999
    for (int32_t id = 0; id < 128000; id++) v3.emplace(full.tokens[static_cast<size_t>(id)], id);
    const std::vector<std::string> v4_specials = {"<｜User｜>", "<｜Assistant｜>", "<think>", "</think>", "｜DSML｜"};

    std::unordered_set<std::string> keep = {full.tokens[0], full.tokens[1], full.tokens[2]};
    for (int b = 0; b < 256; b++) keep.emplace(byte_symbol(static_cast<uint8_t>(b)));
    const size_t budget = static_cast<size_t>(n_vocab) - v4_specials.size();
    TinyVocab t;
    for (const std::string &m : full.merges) {
        if (keep.size() >= budget) break;
        const size_t sp = m.find(' ');
        const std::string a = m.substr(0, sp), b = m.substr(sp + 1);
        if (keep.count(a) && keep.count(b) && v3.count(a + b)) {
            t.merges.push_back(m);
            keep.insert(a + b);
        }
    }
    t.tokens.assign(keep.begin(), keep.end());
    std::sort(t.tokens.begin(), t.tokens.end(), [&](const std::string &x, const std::string &y) { return v3.at(x) < v3.at(y); });
    for (const std::string &s : v4_specials) t.tokens.push_back(s);
    return t;
}

TEST(Ds4Oracle, PromptIdsMatchDs4) {
    const nlohmann::json manifest = nlohmann::json::parse(read_file(kOracleDir + "/manifest.json"));
    const int n_vocab = manifest.at("shape").at("n_vocab").get<int>();
    const TinyVocab t = build_tiny_vocab(n_vocab);
    ASSERT_EQ(static_cast<int>(t.tokens.size()), n_vocab);
    const Tokenizer tok(t.tokens, t.merges);
    EXPECT_EQ(tok.user(), 4091);
    EXPECT_EQ(tok.dsml(), 4095);

    int checked = 0;
    for (const auto &[variant, v] : manifest.at("variants").items()) {
        for (const nlohmann::json &p : v.at("prompts")) {
            const std::string name = p.at("name").get<std::string>();
            const std::string text = read_file(kOracleDir + "/prompts/" + name + ".txt");
            const std::vector<int32_t> ids = tok.encode_rendered(text);
            EXPECT_EQ(ids, p.at("prompt_ids").get<std::vector<int32_t>>()) << variant << "/" << name;
            EXPECT_EQ(tok.decode(ids), text) << name;
            checked++;
        }
    }
    EXPECT_EQ(checked, 14);
}

}  // namespace
}  // namespace dstar::tok
