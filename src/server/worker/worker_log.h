// The worker's server log lines, in ds4-server's format with "dstar-server:" as the prefix
// (server.md §2): ctx spans "CACHED..PROMPT:SUFFIX" and the RESPPROTO/TOOLS/THINKING/DSML flag
// words, so that logs of both servers can be compared line by line.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "server/job.h"

namespace dstar::server::worker {

using LogFn = std::function<void(const std::string &line)>;

// printf-style formatting into a std::string.
std::string strfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

// "chat" for the chat-style APIs, "completion" for /v1/completions (ds4's request kinds).
const char *request_kind(Api api);

// "CACHED..PROMPT:SUFFIX" where SUFFIX = PROMPT - CACHED (never negative).
std::string ctx_span(uint32_t cached, uint32_t prompt);

// The flag words that apply, space separated: RESPPROTO TOOLS THINKING DSML_START DSML_END.
std::string log_flags(bool responses_protocol, bool tools, bool thinking, bool dsml_start, bool dsml_end);

// " " + flags, or "" without flags: how ds4 splices the flags into a line.
std::string flags_suffix(const std::string &flags);

}  // namespace dstar::server::worker
