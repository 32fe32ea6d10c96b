#include "chat/engine_prompt.h"

#include "chat/prompt_text.h"

namespace dstar::chat {
namespace {

void push_plain(PromptPieces &out, std::string_view s) {
    if (!s.empty()) out.push_back(PromptPiece::plain(s));
}

constexpr SpecialToken kAllSpecials[] = {SpecialToken::Bos,        SpecialToken::Eos,
                                         SpecialToken::User,       SpecialToken::Assistant,
                                         SpecialToken::ThinkOpen,  SpecialToken::ThinkClose,
                                         SpecialToken::Dsml};

}  // namespace

std::string_view special_token_text(SpecialToken t) {
    switch (t) {
    case SpecialToken::Bos: return kBos;
    case SpecialToken::Eos: return kEos;
    case SpecialToken::User: return kUser;
    case SpecialToken::Assistant: return kAssistant;
    case SpecialToken::ThinkOpen: return kThinkOpen;
    case SpecialToken::ThinkClose: return kThinkClose;
    case SpecialToken::Dsml: return kDsml;
    }
    return {};
}

PromptPieces one_shot_prompt(std::string_view system, std::string_view prompt, ThinkMode mode) {
    PromptPieces out;
    out.push_back(PromptPiece::token(SpecialToken::Bos));
    if (mode == ThinkMode::Max) push_plain(out, think_max_prefix());
    push_plain(out, system);
    out.push_back(PromptPiece::token(SpecialToken::User));
    push_plain(out, prompt);
    PromptPieces tail = assistant_prefix(mode);
    out.insert(out.end(), tail.begin(), tail.end());
    return out;
}

PromptPieces message_pieces(std::string_view role, std::string_view content) {
    PromptPieces out;
    if (role == "system" || role == "developer") {
        push_plain(out, content);
    } else if (role == "assistant") {
        out.push_back(PromptPiece::token(SpecialToken::Assistant));
        // Quirk kept from ds4: the content's own leading <think> is then plain-encoded, so it
        // does not become the special token.
        if (!content.starts_with(kThinkOpen) && !content.starts_with(kThinkClose)) {
            out.push_back(PromptPiece::token(SpecialToken::ThinkClose));
        }
        push_plain(out, content);
    } else {
        out.push_back(PromptPiece::token(SpecialToken::User));
        if (role == "tool" || role == "function") push_plain(out, "Tool: ");
        push_plain(out, content);
    }
    return out;
}

PromptPieces assistant_prefix(ThinkMode mode) {
    return {PromptPiece::token(SpecialToken::Assistant),
            PromptPiece::token(think_enabled(mode) ? SpecialToken::ThinkOpen
                                                   : SpecialToken::ThinkClose)};
}

bool is_prerendered_prompt(std::string_view prompt) { return prompt.starts_with(kBos); }

PromptPieces split_rendered_chat(std::string_view text) {
    PromptPieces out;
    size_t span = 0, i = 0;
    while (i < text.size()) {
        bool matched = false;
        for (SpecialToken t : kAllSpecials) {
            const std::string_view s = special_token_text(t);
            if (text.compare(i, s.size(), s) == 0) {
                push_plain(out, text.substr(span, i - span));
                out.push_back(PromptPiece::token(t));
                i += s.size();
                span = i;
                matched = true;
                break;
            }
        }
        if (!matched) i++;
    }
    push_plain(out, text.substr(span));
    return out;
}

std::string pieces_text(const PromptPieces &pieces) {
    std::string out;
    for (const PromptPiece &p : pieces) {
        if (p.special) out += special_token_text(*p.special);
        else out += p.text;
    }
    return out;
}

}  // namespace dstar::chat
