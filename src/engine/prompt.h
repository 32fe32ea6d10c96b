// Turning engine-level prompt pieces (chat/engine_prompt.h) into token ids.
#pragma once

#include <cstdint>
#include <vector>

#include "chat/engine_prompt.h"
#include "tokenizer/tokenizer.h"

namespace dstar::engine {

// Special pieces become their ids; plain pieces are encoded with the plain encoder, each
// separately (merges never cross a piece boundary, as in ds4).
std::vector<int32_t> encode_pieces(const tok::Tokenizer &tok, const chat::PromptPieces &pieces);
int32_t special_id(const tok::Tokenizer &tok, chat::SpecialToken t);

}  // namespace dstar::engine
