// The "--- cache decision ---" section of a request's trace (server.md §14): how the incoming
// prompt compared with a live session, which source the worker reused, and around the first
// token where the live tokens and the prompt disagree, a window of both token lists.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "server/trace.h"
#include "tokenizer/tokenizer.h"

namespace dstar::server::worker {

// The live session against the request's full tokenization P.
struct CacheDiag {
    uint32_t old_pos = 0;     // live tokens before the request
    uint32_t prompt_len = 0;  // tokens of P
    uint32_t common = 0;      // common token prefix
    uint32_t window_start = 0;
    std::vector<int32_t> live_window, prompt_window;  // -1 where that side has no token
};

// Captures 8 tokens before the first mismatch, the mismatch and 8 after.
CacheDiag capture_cache_diag(std::span<const int32_t> live, std::span<const int32_t> prompt);

// "no-live-checkpoint", "token-mismatch", "incoming-prompt-shorter-than-live-checkpoint" or
// "live-prefix-match".
const char *cache_miss_reason(const CacheDiag &d);
// The live tokens are a non-empty token prefix of P (rule 4 could apply).
bool memory_token_reusable(const CacheDiag &d);

struct CacheOutcome {
    int slot = -1;       // the slot the job runs on
    std::string source;  // cache_source label
    uint32_t cached = 0;
    uint32_t effective_tokens = 0;  // length of the effective prompt
    uint32_t disk_cached = 0;
    std::string disk_file;  // on a disk hit
};

// Appends the section (and the token window when the live tokens were not a prefix of P).
void trace_cache_decision(TraceRecord &rec, const CacheDiag &d, const CacheOutcome &o, const tok::Tokenizer &tok);

}  // namespace dstar::server::worker
