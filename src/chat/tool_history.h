// Consistency of tool results with the calls they answer (server.md, 400 errors): a Responses
// tool output or an Anthropic tool_result must answer either a call replayed earlier in the
// same request or a call of the live session.  A request made only of results for a call the
// server no longer holds has no safe prefix to rebuild, so the client must replay.
#pragma once

#include <functional>
#include <string>

#include "chat/conversation.h"
#include "chat/think_mode.h"

namespace dstar::chat {

// Whether a call id belongs to the live session's last assistant turn (server state).
using LiveCallLookup = std::function<bool(const std::string &call_id)>;

struct ToolResultCheck {
    bool ok = true;
    std::string missing_id;     // the first id that is neither replayed nor live
    std::string error;          // ds4's 400 message for it
    bool requires_live_tool_state = false;  // some result answers only a live call
    bool requires_live_reasoning = false;   // Responses, thinking: a replayed call lacks reasoning
};

// Responses: every id of each tool/function message.  `mode` is the effective mode.
ToolResultCheck check_responses_tool_outputs(const Conversation &conv, ThinkMode mode,
                                             const LiveCallLookup &live = {});
// Anthropic: every id of each user message that carries tool_result ids.
ToolResultCheck check_anthropic_tool_results(const Conversation &conv,
                                             const LiveCallLookup &live = {});

}  // namespace dstar::chat
