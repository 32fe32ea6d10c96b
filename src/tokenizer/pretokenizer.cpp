#include "tokenizer/pretokenizer.h"

#include <array>
#include <cstdint>

namespace dstar::tok {
namespace {

// Byte classes of tokenizer.md §4 (ASCII only; every byte >= 0x80 is LETTER-LIKE).
enum : uint8_t { kDigit = 1, kAlpha = 2, kPunct = 4, kSpace = 8, kNewline = 16, kLetterLike = 32 };

constexpr std::array<uint8_t, 256> make_classes() {
    std::array<uint8_t, 256> t{};
    for (int c = '0'; c <= '9'; c++) t[c] |= kDigit;
    for (int c = 'A'; c <= 'Z'; c++) t[c] |= kAlpha | kLetterLike;
    for (int c = 'a'; c <= 'z'; c++) t[c] |= kAlpha | kLetterLike;
    for (int c = 0x21; c <= 0x7E; c++) {
        if (!(t[c] & (kDigit | kAlpha))) t[c] |= kPunct;  // the 32 ASCII punctuation/symbol bytes
    }
    for (int c : {' ', '\t', '\n', '\r', '\v', '\f'}) t[c] |= kSpace;
    t['\n'] |= kNewline;
    t['\r'] |= kNewline;
    for (int c = 0x80; c <= 0xFF; c++) t[c] |= kLetterLike;
    return t;
}

constexpr std::array<uint8_t, 256> kClass = make_classes();

inline bool is(uint8_t c, uint8_t cls) { return (kClass[c] & cls) != 0; }

// Length of the "character" starting with lead byte c, from the lead byte alone (no
// validation of continuation bytes), truncated to 1 if it would run past the end.
inline size_t char_end(std::string_view s, size_t pos) {
    const uint8_t c = static_cast<uint8_t>(s[pos]);
    size_t n = 1;
    if (c >= 0x80) {
        if ((c & 0xE0) == 0xC0) n = 2;
        else if ((c & 0xF0) == 0xE0) n = 3;
        else if ((c & 0xF8) == 0xF0) n = 4;
    }
    if (pos + n > s.size()) n = 1;
    return pos + n;
}

// Whether the character at pos is CJK / Hiragana / Katakana.  The code point is
// assembled from the lead byte's payload bits and the low 6 bits of the following bytes
// without validating them, exactly as ds4 does, so malformed bytes (including overlong
// 4-byte forms) can land in range.  1- and 2-byte characters never reach U+3040.
inline bool cjk_at(std::string_view s, size_t pos) {
    const uint8_t c0 = static_cast<uint8_t>(s[pos]);
    auto low6 = [&](size_t i) { return static_cast<uint32_t>(static_cast<uint8_t>(s[i]) & 0x3F); };
    uint32_t cp;
    if ((c0 & 0xF0) == 0xE0) {
        if (pos + 3 > s.size()) return false;  // truncated: decodes as the lead byte itself
        cp = (static_cast<uint32_t>(c0 & 0x0F) << 12) | (low6(pos + 1) << 6) | low6(pos + 2);
    } else if ((c0 & 0xF8) == 0xF0) {
        if (pos + 4 > s.size()) return false;
        cp = (static_cast<uint32_t>(c0 & 0x07) << 18) | (low6(pos + 1) << 12) | (low6(pos + 2) << 6) |
             low6(pos + 3);
    } else {
        return false;
    }
    return (cp >= 0x4E00 && cp <= 0x9FA5) || (cp >= 0x3040 && cp <= 0x30FF);
}

inline size_t consume_letters(std::string_view s, size_t pos) {
    const size_t len = s.size();
    while (pos < len) {
        const uint8_t c = static_cast<uint8_t>(s[pos]);
        if (c < 0x80) {
            if (!is(c, kAlpha)) break;
            pos++;
        } else {
            pos = char_end(s, pos);
        }
    }
    return pos;
}

inline size_t consume(std::string_view s, size_t pos, uint8_t cls) {
    while (pos < s.size() && is(static_cast<uint8_t>(s[pos]), cls)) pos++;
    return pos;
}

}  // namespace

size_t next_piece_end(std::string_view s, size_t pos) {
    const size_t len = s.size();
    const size_t start = pos;
    const uint8_t c = static_cast<uint8_t>(s[pos]);
    const int n = pos + 1 < len ? static_cast<uint8_t>(s[pos + 1]) : -1;  // -1: no next byte

    if (is(c, kDigit)) {  // 1. one to three ASCII digits
        size_t end = pos + 3 < len ? pos + 3 : len;
        pos++;
        while (pos < end && is(static_cast<uint8_t>(s[pos]), kDigit)) pos++;
    } else if (c >= 0x80 && cjk_at(s, pos)) {  // 2. CJK / kana run
        do {
            pos = char_end(s, pos);
        } while (pos < len && cjk_at(s, pos));
    } else if (is(c, kPunct) && n >= 0 && is(static_cast<uint8_t>(n), kAlpha)) {  // 3. 'word, #include
        pos = consume(s, pos + 1, kAlpha);
    } else if (is(c, kLetterLike)) {  // 4. letter run (through any non-ASCII character)
        pos = consume_letters(s, pos);
    } else if (!is(c, kNewline | kPunct) && n >= 0 && is(static_cast<uint8_t>(n), kLetterLike)) {
        pos = consume_letters(s, pos + 1);  // 5. one prefix byte + letter run
    } else if (c == ' ' && n >= 0 && is(static_cast<uint8_t>(n), kPunct)) {  // 6. space + punctuation
        pos = consume(s, consume(s, pos + 1, kPunct), kNewline);
    } else if (is(c, kPunct)) {  // 7. punctuation run + trailing newlines
        pos = consume(s, consume(s, pos, kPunct), kNewline);
    } else if (is(c, kSpace)) {  // 8. whitespace run
        size_t p = pos;
        size_t last_newline_end = 0;
        while (p < len && is(static_cast<uint8_t>(s[p]), kSpace)) {
            if (is(static_cast<uint8_t>(s[p]), kNewline)) last_newline_end = p + 1;
            p++;
        }
        if (last_newline_end) {
            pos = last_newline_end;  // the run ends after its last newline
        } else if (p < len && p > pos + 1 && is(static_cast<uint8_t>(s[p]), kLetterLike | kPunct)) {
            pos = p - 1;  // leave the last blank to join the word / punctuation that follows
        } else {
            pos = p;
        }
    } else {  // 9. anything else: one character
        pos = char_end(s, pos);
    }

    if (pos == start) pos = char_end(s, pos);  // safety net of ds4; not reached by the rules
    return pos;
}

std::vector<std::string_view> pretokenize(std::string_view text) {
    std::vector<std::string_view> pieces;
    for (size_t pos = 0; pos < text.size();) {
        const size_t end = next_piece_end(text, pos);
        pieces.push_back(text.substr(pos, end - pos));
        pos = end;
    }
    return pieces;
}

}  // namespace dstar::tok
