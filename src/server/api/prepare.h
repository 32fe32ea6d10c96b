// From an HTTP body to a JobRequest, in the client thread (spec server.md §6-§7, §15;
// kvcache.md §3, §9): validate, normalise with the chat parsers, pick the thinking mode,
// restore and apply exact tool-call replay, render, tokenize, check the context limit and the
// tool outputs, and prepare a live tool-output continuation.  Everything that can reject a
// request happens here, before it is queued.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "chat/tool_history.h"
#include "kvcache/disk_cache.h"
#include "kvcache/tool_memory.h"
#include "server/api/errors.h"
#include "server/api/gen_params.h"
#include "server/api/models.h"
#include "server/api/trace_report.h"
#include "server/job.h"
#include "tokenizer/tokenizer.h"

namespace dstar::server::api {

struct PrepareEnv {
    const tok::Tokenizer *tokenizer = nullptr;
    const ModelCatalog *models = nullptr;
    uint32_t ctx = 32768;                   // --ctx
    uint32_t default_max_tokens = 393216;   // -n
    kvcache::ToolMemory *memory = nullptr;  // exact DSML replay; null when disabled
    kvcache::DiskCache *disk = nullptr;     // restores replay entries; null without a disk cache
    chat::LiveCallLookup live_call;         // a live binding holds this call id (Scheduler)
};

struct PreparedRequest {
    JobRequest job;  // everything but number and trace
    GenParams params;
    ToolReplayStats replay;
};

struct Prepared {
    std::optional<ApiError> error;  // set: answer with it, nothing was queued
    PreparedRequest request;
};

Prepared prepare_request(Api api, std::string_view body, const PrepareEnv &env);

// POST /v1/messages/count_tokens: tokens of the prompt this Anthropic request renders (its
// own thinking mode, exact replay applied), without generating.
struct TokenCount {
    std::optional<ApiError> error;
    uint32_t tokens = 0;
};
TokenCount count_prompt_tokens(std::string_view body, const PrepareEnv &env);

}  // namespace dstar::server::api
