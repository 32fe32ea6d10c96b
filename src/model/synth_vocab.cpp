#include "model/synth_vocab.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "common/error.h"
#include "tokenizer/byte_level.h"

namespace dstar::model {

tok::HfVocab synth_vocab(const std::string &path, uint32_t n_vocab) {
    if (n_vocab == static_cast<uint32_t>(tok::kV4VocabSize)) return tok::load_hf_tokenizer_json(path, true);
    static const char *kV4Chat[] = {"<｜User｜>", "<｜Assistant｜>", "<think>", "</think>", "｜DSML｜"};
    const uint32_t n_chat = 5;
    if (n_vocab < 3 + 256 + n_chat) fail("synthetic vocabulary must have at least %u tokens", 3 + 256 + n_chat);

    const tok::HfVocab full = tok::load_hf_tokenizer_json(path, false);
    std::unordered_map<std::string, int32_t> id_of;
    for (size_t i = 0; i < full.tokens.size(); i++) id_of.emplace(full.tokens[i], static_cast<int32_t>(i));

    std::unordered_set<std::string> keep;
    for (int32_t id = 0; id < 3; id++) keep.insert(full.tokens.at(static_cast<size_t>(id)));
    for (int b = 0; b < 256; b++) {
        const std::string s(tok::byte_symbol(static_cast<uint8_t>(b)));
        if (!id_of.count(s)) fail("%s: byte token '%s' is missing", path.c_str(), s.c_str());
        keep.insert(s);
    }
    const size_t budget = n_vocab - n_chat;
    std::vector<std::string> merges;
    for (const std::string &m : full.merges) {
        if (keep.size() >= budget) break;
        const size_t sp = m.find(' ');
        if (sp == std::string::npos) continue;
        const std::string a = m.substr(0, sp), b = m.substr(sp + 1), ab = a + b;
        if (keep.count(a) && keep.count(b) && id_of.count(ab)) {
            merges.push_back(m);
            keep.insert(ab);
        }
    }
    if (keep.size() != budget) fail("%s: cannot fill a vocabulary of %u tokens", path.c_str(), n_vocab);

    std::vector<std::string> kept(keep.begin(), keep.end());
    std::sort(kept.begin(), kept.end(), [&](const std::string &x, const std::string &y) { return id_of[x] < id_of[y]; });
    tok::HfVocab v;
    for (const std::string &t : kept) {
        v.tokens.push_back(t);
        v.token_types.push_back(id_of[t] < 3 ? 3 : 1);
    }
    for (const char *s : kV4Chat) {
        v.tokens.push_back(s);
        v.token_types.push_back(3);
    }
    v.merges = std::move(merges);
    v.bos_id = 0;
    v.eos_id = 1;
    return v;
}

}  // namespace dstar::model
