#include "common/error.h"

#include <cstdio>
#include <vector>

namespace dstar {

std::string vstrformat(const char *fmt, va_list ap) {
    va_list copy;
    va_copy(copy, ap);
    const int n = std::vsnprintf(nullptr, 0, fmt, copy);
    va_end(copy);
    if (n <= 0) return std::string();
    std::string out(static_cast<size_t>(n), '\0');
    std::vsnprintf(out.data(), out.size() + 1, fmt, ap);
    return out;
}

std::string strformat(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    std::string s = vstrformat(fmt, ap);
    va_end(ap);
    return s;
}

void fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    std::string s = vstrformat(fmt, ap);
    va_end(ap);
    throw Error(s);
}

}  // namespace dstar
