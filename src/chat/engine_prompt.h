// Engine-level prompt pieces (spec 3.1 and 3.3): the one-shot prompt of `-p`, the generic
// message appender and the assistant prefix.  Unlike the server renderer, these paths insert
// special tokens as ids and encode each text piece with the *plain* encoder, so they are
// returned as pieces rather than one string; the tokenizer stage turns them into ids.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chat/think_mode.h"

namespace dstar::chat {

enum class SpecialToken { Bos, Eos, User, Assistant, ThinkOpen, ThinkClose, Dsml };

// The text of a special token, e.g. "<｜User｜>".
std::string_view special_token_text(SpecialToken t);

// Either a special token or a text to encode with the plain encoder.
struct PromptPiece {
    std::optional<SpecialToken> special;
    std::string text;  // empty for special pieces

    static PromptPiece token(SpecialToken t) { return {t, {}}; }
    static PromptPiece plain(std::string_view s) { return {std::nullopt, std::string(s)}; }
    bool operator==(const PromptPiece &) const = default;
};
using PromptPieces = std::vector<PromptPiece>;

// BOS [MAX_PREFIX] [system if non-empty] USER prompt ASSISTANT (<think>|</think>).  `mode` is
// the effective mode (after the context gate).  Empty plain pieces are omitted.
PromptPieces one_shot_prompt(std::string_view system, std::string_view prompt, ThinkMode mode);

// ds4's generic appender: system/developer -> plain(content); assistant -> ASSISTANT,
// THINK_CLOSE unless content starts with "<think>" or "</think>", plain(content); tool/function
// -> USER plain("Tool: ") plain(content); anything else -> USER plain(content).
PromptPieces message_pieces(std::string_view role, std::string_view content);

// ASSISTANT followed by <think> (thinking) or </think>.
PromptPieces assistant_prefix(ThinkMode mode);

// A `-p` text that already begins with the BOS string is a pre-rendered prompt and must be
// tokenized with the rendered-chat encoder instead.
bool is_prerendered_prompt(std::string_view prompt);

// Splits rendered chat text at the 7 special strings (the rendered-chat encoder's first step):
// specials become token pieces, the text between them plain pieces (empty ones omitted).
PromptPieces split_rendered_chat(std::string_view text);

// Concatenated text of the pieces (specials written as their strings); for logs and tests.
std::string pieces_text(const PromptPieces &pieces);

}  // namespace dstar::chat
