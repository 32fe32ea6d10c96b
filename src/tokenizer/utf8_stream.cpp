#include "tokenizer/utf8_stream.h"

#include "common/error.h"

#include <cstdint>

namespace dstar::tok {
namespace {

// Sequence length announced by a lead byte in ds4's stream rule (1 for anything that
// cannot start a multi-byte sequence, including C0, C1 and F5–FF).
int stream_expected_len(uint8_t c) {
    if (c >= 0xC2 && c <= 0xDF) return 2;
    if (c >= 0xE0 && c <= 0xEF) return 3;
    if (c >= 0xF0 && c <= 0xF4) return 4;
    return 1;
}

bool is_cont(uint8_t c) { return (c & 0xC0) == 0x80; }

// Length of the valid sequence at s[pos], or 0 if it is ill-formed; `*subpart` gets
// the length of the maximal subpart to replace (>= 1) when it is ill-formed.
size_t valid_len_at(std::string_view s, size_t pos, size_t *subpart) {
    auto at = [&](size_t i) { return static_cast<uint8_t>(s[i]); };
    const uint8_t c = at(pos);
    *subpart = 1;
    if (c < 0x80) return 1;
    size_t need;
    uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte (table 3-7)
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    size_t i = 1;
    for (; i < need && pos + i < s.size(); i++) {
        const uint8_t b = at(pos + i);
        const bool ok = i == 1 ? (b >= lo && b <= hi) : is_cont(b);
        if (!ok) break;
    }
    if (i == need) return need;
    *subpart = i;
    return 0;
}

}  // namespace

size_t utf8_releasable(std::string_view text, size_t released, bool final) {
    if (released > text.size()) {
        fail("utf8_releasable: %zu bytes released but only %zu generated", released, text.size());
    }
    const size_t limit = text.size();
    if (final || limit == released) return limit - released;

    auto at = [&](size_t i) { return static_cast<uint8_t>(text[i]); };
    size_t p = limit;
    int cont = 0;
    while (p > released && cont < 4 && is_cont(at(p - 1))) {
        p--;
        cont++;
    }
    if (p == limit) {  // no trailing continuation byte: hold a dangling lead byte
        return stream_expected_len(at(limit - 1)) > 1 ? limit - 1 - released : limit - released;
    }
    if (p == released) return 0;  // only continuation bytes are unsent: hold them all
    const size_t lead = p - 1;
    const size_t need = static_cast<size_t>(stream_expected_len(at(lead)));
    return (limit - lead < need ? lead : limit) - released;
}

bool utf8_valid(std::string_view s) {
    for (size_t pos = 0; pos < s.size();) {
        size_t subpart;
        const size_t n = valid_len_at(s, pos, &subpart);
        if (!n) return false;
        pos += n;
    }
    return true;
}

std::string utf8_sanitize(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t pos = 0; pos < s.size();) {
        size_t subpart;
        const size_t n = valid_len_at(s, pos, &subpart);
        if (n) {
            out.append(s.substr(pos, n));
            pos += n;
        } else {
            out += "\xEF\xBF\xBD";
            pos += subpart;
        }
    }
    return out;
}

}  // namespace dstar::tok
