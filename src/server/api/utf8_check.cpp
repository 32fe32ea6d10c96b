#include "server/api/utf8_check.h"

#include <cstdint>

namespace dstar::server::api {

size_t invalid_utf8_offset(std::string_view s) {
    const auto *p = reinterpret_cast<const unsigned char *>(s.data());
    const size_t n = s.size();
    size_t i = 0;
    while (i < n) {
        const unsigned char c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        unsigned char lo = 0x80, hi = 0xbf;  // allowed range of the second byte
        if (c >= 0xc2 && c <= 0xdf) len = 2;
        else if (c == 0xe0) len = 3, lo = 0xa0;          // no overlong 3-byte forms
        else if (c >= 0xe1 && c <= 0xec) len = 3;
        else if (c == 0xed) len = 3, hi = 0x9f;          // no UTF-16 surrogates
        else if (c >= 0xee && c <= 0xef) len = 3;
        else if (c == 0xf0) len = 4, lo = 0x90;          // no overlong 4-byte forms
        else if (c >= 0xf1 && c <= 0xf3) len = 4;
        else if (c == 0xf4) len = 4, hi = 0x8f;          // nothing above U+10FFFF
        else return i;
        if (i + 1 >= n || p[i + 1] < lo || p[i + 1] > hi) return i;
        for (size_t k = 2; k < len; k++) {
            if (i + k >= n || (p[i + k] & 0xc0) != 0x80) return i;
        }
        i += len;
    }
    return std::string_view::npos;
}

}  // namespace dstar::server::api
