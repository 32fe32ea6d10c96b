#include "server/worker/worker_log.h"

#include <cstdarg>
#include <cstdio>

namespace dstar::server::worker {

std::string strfmt(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    va_list copy;
    va_copy(copy, ap);
    const int n = std::vsnprintf(nullptr, 0, fmt, copy);
    va_end(copy);
    std::string out(n > 0 ? static_cast<size_t>(n) : 0, '\0');
    if (n > 0) std::vsnprintf(out.data(), out.size() + 1, fmt, ap);
    va_end(ap);
    return out;
}

const char *request_kind(Api api) { return api == Api::Completions ? "completion" : "chat"; }

std::string ctx_span(uint32_t cached, uint32_t prompt) {
    const uint32_t suffix = prompt > cached ? prompt - cached : 0;
    return strfmt("%u..%u:%u", cached, prompt, suffix);
}

std::string log_flags(bool responses_protocol, bool tools, bool thinking, bool dsml_start, bool dsml_end) {
    std::string out;
    auto add = [&](const char *word) {
        if (!out.empty()) out += ' ';
        out += word;
    };
    if (responses_protocol) add("RESPPROTO");
    if (tools) add("TOOLS");
    if (thinking) add("THINKING");
    if (dsml_start) add("DSML_START");
    if (dsml_end) add("DSML_END");
    return out;
}

std::string flags_suffix(const std::string &flags) { return flags.empty() ? std::string() : " " + flags; }

}  // namespace dstar::server::worker
