#include "tokenizer/byte_level.h"

#include <array>

namespace dstar::tok {
namespace {

bool printable(uint32_t b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); }

struct Tables {
    std::array<uint32_t, 256> cp{};
    std::array<int16_t, 0x144> inverse{};  // code points 0..0x143 are the only ones mapped to
    std::array<char, 256 * 2> utf8{};
    std::array<uint8_t, 256> utf8_len{};

    Tables() {
        inverse.fill(-1);
        uint32_t next = 0x100;
        for (uint32_t b = 0; b < 256; b++) {
            cp[b] = printable(b) ? b : next++;
            inverse[cp[b]] = static_cast<int16_t>(b);
            if (cp[b] < 0x80) {
                utf8[2 * b] = static_cast<char>(cp[b]);
                utf8_len[b] = 1;
            } else {  // every mapped code point is below U+0800: two bytes
                utf8[2 * b] = static_cast<char>(0xC0 | (cp[b] >> 6));
                utf8[2 * b + 1] = static_cast<char>(0x80 | (cp[b] & 0x3F));
                utf8_len[b] = 2;
            }
        }
    }
};

const Tables &tables() {
    static const Tables t;
    return t;
}

}  // namespace

uint32_t byte_to_codepoint(uint8_t b) { return tables().cp[b]; }

int codepoint_to_byte(uint32_t cp) {
    const Tables &t = tables();
    return cp < t.inverse.size() ? t.inverse[cp] : -1;
}

std::string_view byte_symbol(uint8_t b) {
    const Tables &t = tables();
    return std::string_view(&t.utf8[2 * b], t.utf8_len[b]);
}

std::string bytes_to_symbols(std::string_view raw) {
    std::string out;
    out.reserve(raw.size() * 2);
    for (char c : raw) out += byte_symbol(static_cast<uint8_t>(c));
    return out;
}

std::string symbols_to_bytes(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    const size_t len = s.size();
    size_t pos = 0;
    auto at = [&](size_t i) { return static_cast<uint32_t>(static_cast<uint8_t>(s[i])); };
    while (pos < len) {
        const uint32_t c = at(pos);
        uint32_t cp = c;
        size_t n = 1;
        // Same leniency as ds4: the length comes from the lead byte, continuation bytes
        // are not checked, and a sequence cut short by the end decodes as its lead byte.
        if (c >= 0x80 && pos + 1 < len) {
            if ((c & 0xE0) == 0xC0) {
                cp = ((c & 0x1F) << 6) | (at(pos + 1) & 0x3F);
                n = 2;
            } else if ((c & 0xF0) == 0xE0 && pos + 2 < len) {
                cp = ((c & 0x0F) << 12) | ((at(pos + 1) & 0x3F) << 6) | (at(pos + 2) & 0x3F);
                n = 3;
            } else if ((c & 0xF8) == 0xF0 && pos + 3 < len) {
                cp = ((c & 0x07) << 18) | ((at(pos + 1) & 0x3F) << 12) | ((at(pos + 2) & 0x3F) << 6) |
                     (at(pos + 3) & 0x3F);
                n = 4;
            }
        }
        pos += n;
        const int b = codepoint_to_byte(cp);
        if (b >= 0) out.push_back(static_cast<char>(b));
    }
    return out;
}

}  // namespace dstar::tok
