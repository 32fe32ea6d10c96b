// Error reporting for all of dstar: one exception type whose message names the problem.
#pragma once

#include <cstdarg>
#include <stdexcept>
#include <string>

namespace dstar {

// Every recoverable failure (bad input file, bad request, bad flag) throws Error with a
// message that says what was wrong and where, e.g. "tensor 'blk.3.attn_q_b.weight':
// expected type Q8_0, found F16".  Callers that must keep running (the server) catch it.
class Error : public std::runtime_error {
public:
    explicit Error(const std::string &what) : std::runtime_error(what) {}
};

// printf-style formatting into a std::string.
std::string strformat(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
std::string vstrformat(const char *fmt, va_list ap);

// Throw an Error with a printf-style message.
[[noreturn]] void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

}  // namespace dstar
