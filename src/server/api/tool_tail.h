// Live tool-output continuations (spec kvcache.md §3.2-§3.3): when a Responses or Anthropic
// request ends with tool results, the worker can append just those results to the live session
// that produced the calls instead of matching the whole prompt.  This computes what to append
// and for which call ids; the worker checks the ids against the slot's binding.
#pragma once

#include <optional>

#include "chat/conversation.h"
#include "chat/render.h"
#include "server/job.h"

namespace dstar::server::api {

// Responses: the trailing run of tool outputs; the expected ids are those of the assistant
// message before the run (which must carry the calls), or the outputs' own ids when the request
// is only tool outputs.  Anthropic: the trailing user messages carrying tool_result ids
// (trailing system messages skipped), all their ids.  nullopt for other APIs and requests
// that do not end that way.  mode: the effective thinking mode.
std::optional<ToolOutputTail> tool_output_tail(Api api, const chat::Conversation &conv, chat::ThinkMode mode,
                                               const chat::ToolReplayLookup &replay = {});

}  // namespace dstar::server::api
