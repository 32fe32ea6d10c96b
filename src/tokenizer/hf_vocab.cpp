#include "tokenizer/hf_vocab.h"

#include "common/error.h"
#include "common/mapped_file.h"
#include "tokenizer/special_tokens.h"

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <unordered_map>

namespace dstar::tok {
namespace {

// V4 added tokens known from tokenizer.md §12 (spec data v4_special_tokens.tsv):
// the ones ds4 needs plus the ones third-party V4 sources list.
struct V4Token {
    int32_t id;
    const char *text;
};
constexpr V4Token kV4Tokens[] = {
    {0, "<\xEF\xBD\x9C" "begin\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>"},
    {1, "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>"},
    {2, "<\xEF\xBD\x9C\xE2\x96\x81pad\xE2\x96\x81\xEF\xBD\x9C>"},
    {128803, "<\xEF\xBD\x9CUser\xEF\xBD\x9C>"},
    {128804, "<\xEF\xBD\x9C" "Assistant\xEF\xBD\x9C>"},
    {128821, "<think>"},
    {128822, "</think>"},
    {128825, "\xEF\xBD\x9C" "DSML\xEF\xBD\x9C"},
    {128828, "<\xEF\xBD\x9Clatest_reminder\xEF\xBD\x9C>"},
    {128829, "<\xEF\xBD\x9C" "action\xEF\xBD\x9C>"},
    {128830, "<\xEF\xBD\x9Cquery\xEF\xBD\x9C>"},
    {128831, "<\xEF\xBD\x9C" "authority\xEF\xBD\x9C>"},
    {128832, "<\xEF\xBD\x9C" "domain\xEF\xBD\x9C>"},
    {128836, "<\xEF\xBD\x9Ctitle\xEF\xBD\x9C>"},
    {128845, "<\xEF\xBD\x9Cread_url\xEF\xBD\x9C>"},
    {129279, "<\xEF\xBD\x9Cimage\xEF\xBD\x9C>"},
};

std::string placeholder(size_t id) {
    return "<\xEF\xBD\x9Cplace\xE2\x96\x81holder\xE2\x96\x81no\xE2\x96\x81" + std::to_string(id) + "\xEF\xBD\x9C>";
}

}  // namespace

HfVocab load_hf_tokenizer_json(const std::string &path, bool add_v4_specials) {
    const std::string text = read_file(path);  // throws naming the path
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception &e) {
        fail("%s: not valid JSON: %s", path.c_str(), e.what());
    }

    // id -> (string, type); empty string = unassigned so far
    std::vector<std::string> tokens;
    std::vector<int32_t> types;
    auto set = [&](int64_t id, std::string s, int32_t type, const char *what) {
        if (id < 0 || id > 0x7FFFFFF0) fail("%s: %s has invalid id %lld", path.c_str(), what, static_cast<long long>(id));
        if (add_v4_specials && id >= kV4VocabSize) {
            fail("%s: %s id %lld is past the V4 vocabulary size %d", path.c_str(), what, static_cast<long long>(id),
                 kV4VocabSize);
        }
        if (s.empty()) fail("%s: %s id %lld has an empty string", path.c_str(), what, static_cast<long long>(id));
        if (static_cast<size_t>(id) >= tokens.size()) {
            tokens.resize(static_cast<size_t>(id) + 1);
            types.resize(static_cast<size_t>(id) + 1, 0);
        }
        tokens[static_cast<size_t>(id)] = std::move(s);
        types[static_cast<size_t>(id)] = type;
    };

    try {
        const nlohmann::json &model = j.at("model");
        if (model.contains("type") && model.at("type") != "BPE") {
            fail("%s: model.type is %s, expected BPE", path.c_str(), model.at("type").dump().c_str());
        }
        for (const auto &[s, id] : model.at("vocab").items()) set(id.get<int64_t>(), s, 1, "model.vocab token");
        if (j.contains("added_tokens")) {
            for (const nlohmann::json &t : j.at("added_tokens")) {
                set(t.at("id").get<int64_t>(), t.at("content").get<std::string>(), 3, "added token");
            }
        }

        HfVocab v;
        for (const nlohmann::json &m : model.at("merges")) {
            if (m.is_string()) {
                v.merges.push_back(m.get<std::string>());
            } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
                v.merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
            } else {
                fail("%s: model.merges entry %zu is neither \"A B\" nor [\"A\",\"B\"]: %s", path.c_str(),
                     v.merges.size(), m.dump().c_str());
            }
        }

        if (add_v4_specials) {
            for (const V4Token &t : kV4Tokens) set(t.id, t.text, 3, "V4 special token");
            tokens.resize(kV4VocabSize);
            types.resize(kV4VocabSize, 0);
        }
        for (size_t id = 0; id < tokens.size(); id++) {
            if (tokens[id].empty()) {
                tokens[id] = placeholder(id);
                types[id] = 3;
            }
        }

        std::unordered_map<std::string_view, size_t> seen;
        seen.reserve(tokens.size());
        for (size_t id = 0; id < tokens.size(); id++) {
            auto [it, fresh] = seen.emplace(tokens[id], id);
            if (!fresh) fail("%s: token string '%s' is used by ids %zu and %zu", path.c_str(), tokens[id].c_str(),
                             it->second, id);
        }
        auto id_of = [&](std::string_view s) {
            auto it = seen.find(s);
            if (it == seen.end()) fail("%s: no token '%.*s'", path.c_str(), static_cast<int>(s.size()), s.data());
            return static_cast<int32_t>(it->second);
        };
        v.bos_id = id_of(kSpecialStrings[static_cast<int>(Special::Bos)]);
        v.eos_id = id_of(kSpecialStrings[static_cast<int>(Special::Eos)]);
        seen.clear();  // views into tokens; drop before moving it
        v.tokens = std::move(tokens);
        v.token_types = std::move(types);
        return v;
    } catch (const nlohmann::json::exception &e) {
        fail("%s: unexpected tokenizer.json layout: %s", path.c_str(), e.what());
    }
}

std::string default_npm_tokenizer_json() {
    namespace fs = std::filesystem;
    const fs::path rel = fs::path("@lenml") / "tokenizer-deepseek_v3" / "models" / "tokenizer.json";
    if (const char *dir = std::getenv("DSTAR_NPM_DIR"); dir && *dir) {
        const fs::path base(dir);
        if (fs::exists(base / rel)) return (base / rel).string();
        if (fs::exists(base / "node_modules" / rel)) return (base / "node_modules" / rel).string();
        return (base / rel).string();
    }
    return (fs::path(DSTAR_SOURCE_DIR) / "node_modules" / rel).string();
}

}  // namespace dstar::tok
