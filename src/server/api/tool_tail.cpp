#include "server/api/tool_tail.h"

#include <algorithm>

namespace dstar::server::api {
namespace {

bool is_tool_role(const std::string &r) { return r == "tool" || r == "function"; }
bool is_system_role(const std::string &r) { return r == "system" || r == "developer"; }

void collect_ids(const chat::Message &m, std::vector<std::string> &ids) {
    if (!m.tool_call_id.empty()) ids.push_back(m.tool_call_id);
    ids.insert(ids.end(), m.tool_call_ids.begin(), m.tool_call_ids.end());
}

void sort_unique(std::vector<std::string> &ids) {
    ids.erase(std::remove(ids.begin(), ids.end(), std::string()), ids.end());
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
}

}  // namespace

std::optional<ToolOutputTail> tool_output_tail(Api api, const chat::Conversation &conv, chat::ThinkMode mode,
                                               const chat::ToolReplayLookup &replay) {
    const std::vector<chat::Message> &msgs = conv.messages;
    ToolOutputTail tail;
    size_t start = msgs.size();
    if (api == Api::Responses) {
        while (start > 0 && is_tool_role(msgs[start - 1].role)) start--;
        if (start == msgs.size()) return std::nullopt;
        if (start > 0) {
            const chat::Message &anchor = msgs[start - 1];
            if (anchor.role != "assistant" || anchor.tool_calls.empty()) return std::nullopt;
            for (const chat::ToolCall &c : anchor.tool_calls) tail.call_ids.push_back(c.id);
        } else {
            for (size_t i = start; i < msgs.size(); i++) collect_ids(msgs[i], tail.call_ids);
        }
    } else if (api == Api::Messages) {
        size_t end = msgs.size();
        while (end > 0 && is_system_role(msgs[end - 1].role)) end--;
        start = end;
        auto carries_results = [](const chat::Message &m) {
            return m.role == "user" && (!m.tool_call_id.empty() || !m.tool_call_ids.empty());
        };
        while (start > 0 && carries_results(msgs[start - 1])) start--;
        if (start == end) return std::nullopt;
        for (size_t i = start; i < msgs.size(); i++) collect_ids(msgs[i], tail.call_ids);
    } else {
        return std::nullopt;
    }
    sort_unique(tail.call_ids);
    if (tail.call_ids.empty()) return std::nullopt;
    tail.text = chat::render_live_tool_tail(conv, start, mode, replay);
    return tail;
}

}  // namespace dstar::server::api
