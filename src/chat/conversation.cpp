#include "chat/conversation.h"

#include <algorithm>

namespace dstar::chat {

void Message::add_tool_call_id(const std::string &id) {
    if (id.empty()) return;
    if (tool_call_id.empty()) tool_call_id = id;
    if (std::find(tool_call_ids.begin(), tool_call_ids.end(), id) == tool_call_ids.end()) {
        tool_call_ids.push_back(id);
    }
}

bool Conversation::has_tools() const {
    if (tool_choice_none) return false;
    return std::any_of(tool_schemas.begin(), tool_schemas.end(),
                       [](const std::string &s) { return !s.empty(); });
}

std::string Conversation::active_tool_schemas_text() const {
    std::string out;
    if (!has_tools()) return out;
    for (const std::string &s : tool_schemas) {
        if (s.empty()) continue;  // ds4 skips empty lines rather than emitting blank ones
        if (!out.empty()) out += '\n';
        out += s;
    }
    return out;
}

}  // namespace dstar::chat
