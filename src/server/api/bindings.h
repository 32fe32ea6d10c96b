// What the worker should remember about the slot a finished job left (spec kvcache.md §3.1-3.3),
// so that the client's next request, which replays only what it was shown, can continue the
// live session that also holds hidden reasoning and the exact sampled tool-call bytes.
#pragma once

#include <optional>

#include "server/api/reply.h"
#include "server/job.h"

namespace dstar::server::api {

// Responses turns not ending in length/error: the visible transcript and the call ids.
// Anthropic turns with tool calls (not length/error): the call ids.  Tool-less thinking turns
// of chat completions and messages that finished outside <think>: the visible text the next
// prompt will render.  nullopt otherwise.
std::optional<Binding> binding_after(const JobRequest &job, const FinalReply &reply);

}  // namespace dstar::server::api
