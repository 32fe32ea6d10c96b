// Random identifiers (spec server.md §10.3, §13.4): tool-call ids "call_"/"toolu_" + 32 hex and
// Responses object ids ("resp_", "rs_", "msg_", "fc_") + 24 hex, from /dev/urandom (a
// time/counter mix if it cannot be read).  Thread-safe.
#pragma once

#include <functional>
#include <string>

namespace dstar::server::api {

// prefix + 2*n_bytes lowercase hex digits.
std::string random_id(const std::string &prefix, size_t n_bytes);

// A tool-call id that `taken` rejects for no earlier draw (ids already used in the response or
// present in the tool memory): re-drawn until free.
std::string new_tool_call_id(const std::string &prefix, const std::function<bool(const std::string &)> &taken);

}  // namespace dstar::server::api
