// Pieces shared by the request parsers (internal to dstar_chat).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "chat/conversation.h"
#include "chat/json_spans.h"
#include "chat/request_json.h"
#include "chat/think_mode.h"

namespace dstar::chat {

// The root cursor of a request, with spans from raw_body when one is given.
struct RequestRoot {
    std::optional<JsonSpans> spans;
    JsonRef root;
    RequestRoot(const nlohmann::json &request, std::string_view raw_body);
    // The root must be an object with a "messages" array: its elements (named errors
    // otherwise).  Both chat APIs start here.
    std::vector<JsonRef> messages() const;
};

// ds4's content rule: a string; null -> ""; an array -> its string items and the "text"
// fields of its object items concatenated with no separator; anything else -> "".
std::string content_text(const JsonRef &v);

// "thinking": true/false, null, or {"type": "enabled"|"disabled"}; counts as an explicit
// control whatever its value.
void apply_thinking_field(ThinkControls &tc, const JsonRef &v);
// "think": must be a boolean.
void apply_think_field(ThinkControls &tc, const JsonRef &v);
// "reasoning_effort" and friends: null -> no change; a known name; anything else rejected.
void apply_effort_field(ThinkControls &tc, const JsonRef &v);

// Appends the schema lines (and specs) of a "tools" array (null = none).
void parse_tools_into(const JsonRef &tools, Conversation &conv);

// The "model" field, which must be a string.
void apply_model_field(Conversation &conv, const JsonRef &v);

}  // namespace dstar::chat
