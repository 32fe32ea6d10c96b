// GPT-2 byte-to-unicode mapping (tokenizer.md §7): how raw bytes are spelled in the
// vocabulary, and the inverse used to turn token strings back into bytes (§8).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace dstar::tok {

// Code point that byte `b` is spelled as in token strings: printable bytes 0x21–0x7E,
// 0xA1–0xAC, 0xAE–0xFF map to themselves, the other 68 bytes to U+0100..U+0143 in order.
uint32_t byte_to_codepoint(uint8_t b);

// Inverse of byte_to_codepoint, or -1 for a code point that no byte maps to.
int codepoint_to_byte(uint32_t cp);

// UTF-8 spelling (1 or 2 bytes) of the code point byte `b` maps to, e.g. ' ' -> "Ġ".
std::string_view byte_symbol(uint8_t b);

// Spell every byte of `raw` through byte_symbol (the input alphabet of the merges).
std::string bytes_to_symbols(std::string_view raw);

// Decode an ordinary (non-special) token string back to raw bytes the way ds4's
// ds4_token_text does: read UTF-8 code points (lenient, no validation: a lead byte
// without enough bytes after it counts as the code point of its own value), map each
// through codepoint_to_byte and drop those without an inverse.
std::string symbols_to_bytes(std::string_view token);

}  // namespace dstar::tok
