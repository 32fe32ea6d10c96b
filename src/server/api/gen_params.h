// The generation fields of a request (spec server.md §7): sampling knobs, output limit, stop
// sequences and streaming flags, read per API exactly where ds4 reads them.  The chat parsers
// (chat/request.h) handle messages, tools and thinking; these fields are the rest.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "chat/think_mode.h"
#include "engine/sampler.h"
#include "server/job.h"

namespace dstar::server::api {

struct GenParams {
    engine::SamplerParams sampling;      // as requested (defaults 1 / 0 / 1 / 0.05 / no seed)
    std::optional<uint32_t> max_tokens;  // absent: the server's -n
    std::vector<std::string> stop;       // empty strings removed
    bool stream = false;
    bool include_usage = false;          // stream_options.include_usage (chat, completions)
};

// Reads the fields of `api` from a request object.  A recognised field with the wrong type
// (e.g. "temperature": null, "stream": "yes", "max_tokens": "10") throws dstar::Error naming
// it.  Numbers: max_tokens/top_k negative -> 0, fractions truncated, > INT_MAX -> INT_MAX;
// seed <= 0 -> none.  "stop" may be a string or an array (non-string items are skipped).
GenParams parse_gen_params(Api api, const nlohmann::json &request);

// Thinking modes ignore the client's temperature/top_k/top_p/min_p (spec §7.1 rule 1): they
// become 1 / 0 / 1 / 0.05; the seed is kept.
void apply_thinking_override(engine::SamplerParams &p, chat::ThinkMode effective_mode);

}  // namespace dstar::server::api
