// ds4's hand-written "JoyAI/DeepSeek" pre-tokenizer (tokenizer.md §4): cuts a span of
// text into the pieces that BPE then encodes independently.  It is deliberately NOT the
// reference regex of tokenizer.json: it collapses every non-ASCII character into
// "letter-like", which is what the GGUF files and ds4's KV-cache keys were validated
// with (the few places where the two disagree are listed in tokenizer.md §4.2).
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace dstar::tok {

// End offset of the piece that starts at `pos` (requires pos < text.size()); always
// greater than pos.  Applies the first matching rule of tokenizer.md §4.
size_t next_piece_end(std::string_view text, size_t pos);

// All pieces of `text` in order (views into `text`); their concatenation is `text`.
std::vector<std::string_view> pretokenize(std::string_view text);

}  // namespace dstar::tok
