// Live prefix reuse (kvcache.md §2): which part of a live session a request can keep, and the
// effective prompt it then synchronises.  Pure functions over token lists and text; the
// scheduler applies them to every idle slot and keeps the best.
//
// Every rule except memory-token keeps the live tokens authoritative and tokenizes only the
// request text after the matched boundary: a fresh tokenization of the whole prompt may merge
// BPE pieces across that boundary differently from what the model sampled.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "server/job.h"
#include "tokenizer/tokenizer.h"

namespace dstar::server::worker {

// kvcache.md §2 rules 1-6, in evaluation order.
enum class LiveRule {
    None,
    ResponsesVisible,     // 1
    ResponsesToolOutput,  // 2
    AnthropicToolOutput,  // 3
    MemoryToken,          // 4
    ThinkingVisible,      // 5
    MemoryText,           // 6
};

// The cache_source label ("responses-visible", ..., "memory-text"; "none" for None).
const char *live_rule_label(LiveRule r);
// Rules 1-3: continuations bound by protocol state; only they satisfy a request that
// requires live tool state (otherwise 409).
bool live_rule_is_tool_binding(LiveRule r);
// Rules 1, 2, 3 and 5: the match went through the slot's binding.
bool live_rule_uses_binding(LiveRule r);

struct LiveMatch {
    LiveRule rule = LiveRule::None;
    uint32_t cached = 0;             // reused live tokens
    std::vector<int32_t> effective;  // the prompt to synchronise (starts with the live tokens)
    size_t matched_ids = 0;          // rules 1-3: binding call ids equal to the request's tool-output ids
};

// Evaluates rules 1-6 in order against one live session (`live`: its tokens; `binding`: its
// valid binding or null).  rule == None when nothing is reusable (also for an empty session).
LiveMatch match_live(const JobRequest &req, std::span<const int32_t> live, const Binding *binding,
                     const tok::Tokenizer &tok);

// Live fork (dstar extension): another slot's whole token list is a token prefix of P, or its
// decoded bytes a byte prefix of T, and it is at least `min_tokens` long.  nullopt otherwise.
struct ForkMatch {
    uint32_t cached = 0;
    std::vector<int32_t> effective;
};
std::optional<ForkMatch> match_fork(const JobRequest &req, std::span<const int32_t> live, uint32_t min_tokens,
                                    const tok::Tokenizer &tok);

// Length of the common prefix of two token lists.
uint32_t common_prefix(std::span<const int32_t> a, std::span<const int32_t> b);

// exact_prefix followed by the rendered-chat tokenization of suffix_text.
std::vector<int32_t> extend_with_text(std::span<const int32_t> exact_prefix, std::string_view suffix_text,
                                      const tok::Tokenizer &tok);

}  // namespace dstar::server::worker
