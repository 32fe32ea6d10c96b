// The normalised chat request: what every API parser produces and the renderer consumes.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "chat/think_mode.h"

namespace dstar::chat {

// One tool call of an assistant message, as the client sent it back in its history.
struct ToolCall {
    std::string id;         // client call id ("" when the client sent none)
    std::string name;
    // The arguments as text: a JSON string value is stored decoded (that is how OpenAI sends
    // arguments), any other JSON value as its raw request bytes.  The canonical DSML renderer
    // walks this text leniently, exactly as ds4 does.
    std::string arguments;
};

// One message after normalisation.  Roles are kept as strings because the renderer has
// rules for "system", "developer", "user", "tool", "function", "assistant" and must ignore
// any other role (e.g. "latest_reminder") rather than reject it.
struct Message {
    std::string role = "user";
    std::string content;
    std::string reasoning;                 // assistant reasoning sent back by the client
    std::vector<ToolCall> tool_calls;      // assistant only
    std::string tool_call_id;              // first id this message answers ("" if none)
    std::vector<std::string> tool_call_ids;  // every id it answers (Anthropic: several results)
    // Exact sampled DSML block for this message's calls (tool memory, spec 7.1).  When set and
    // non-empty the renderer emits it verbatim instead of the canonical form.
    std::optional<std::string> raw_dsml;

    // Records an id this message answers; duplicates and empty ids are ignored (as ds4).
    void add_tool_call_id(const std::string &id);
};

// How a tool declared by a Responses client maps back to the name it expects in output.
struct ToolSpec {
    std::string prompt_name;  // name as written in the schema line the model sees
    std::string wire_name;    // client-facing name ("" = same as prompt_name)
    std::string ns;           // Responses namespace ("" if none)
    bool tool_search = false; // the hosted Responses tool_search tool
};

struct Conversation {
    std::vector<Message> messages;
    // One JSON text per declared tool, in request order: the client's raw bytes (spec 5.1).
    std::vector<std::string> tool_schemas;
    std::vector<ToolSpec> tool_specs;   // parallel information for output mapping (best effort)
    bool tool_choice_none = false;      // tool_choice "none": schemas are not rendered
    ThinkMode think_mode = ThinkMode::High;  // requested mode, before the context gate
    std::string model = "deepseek-v4-flash";
    bool reasoning_summary = false;     // Responses: client asked for reasoning summaries

    // True when the schemas take part in the prompt (non-empty and tool_choice is not none).
    bool has_tools() const;
    // The schema lines joined by '\n' as they appear in the tools text ("" without tools).
    std::string active_tool_schemas_text() const;
};

}  // namespace dstar::chat
