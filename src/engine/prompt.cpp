#include "engine/prompt.h"

namespace dstar::engine {

int32_t special_id(const tok::Tokenizer &tok, chat::SpecialToken t) {
    switch (t) {
    case chat::SpecialToken::Bos: return tok.bos();
    case chat::SpecialToken::Eos: return tok.eos();
    case chat::SpecialToken::User: return tok.user();
    case chat::SpecialToken::Assistant: return tok.assistant();
    case chat::SpecialToken::ThinkOpen: return tok.think_open();
    case chat::SpecialToken::ThinkClose: return tok.think_close();
    case chat::SpecialToken::Dsml: return tok.dsml();
    }
    return tok.bos();
}

std::vector<int32_t> encode_pieces(const tok::Tokenizer &tok, const chat::PromptPieces &pieces) {
    std::vector<int32_t> ids;
    for (const auto &p : pieces) {
        if (p.special) ids.push_back(special_id(tok, *p.special));
        else tok.encode_text(p.text, ids);
    }
    return ids;
}

}  // namespace dstar::engine
