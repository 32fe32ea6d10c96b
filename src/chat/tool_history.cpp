#include "chat/tool_history.h"

namespace dstar::chat {
namespace {

// The nearest assistant message before `before` that has a call with this id.
const Message *prior_call(const Conversation &conv, size_t before, const std::string &id) {
    if (id.empty()) return nullptr;
    for (size_t i = before; i-- > 0;) {
        const Message &m = conv.messages[i];
        if (m.role != "assistant") continue;
        for (const ToolCall &tc : m.tool_calls) {
            if (tc.id == id) return &m;
        }
    }
    return nullptr;
}

template <typename IsResult, typename OnPrior>
ToolResultCheck check(const Conversation &conv, const LiveCallLookup &live, IsResult is_result,
                      OnPrior on_prior, const char *what, const char *history) {
    ToolResultCheck out;
    for (size_t i = 0; i < conv.messages.size(); i++) {
        const Message &m = conv.messages[i];
        if (!is_result(m)) continue;
        for (const std::string &id : m.tool_call_ids) {
            const bool live_known = live && live(id);
            const Message *prior = prior_call(conv, i, id);
            if (!live_known && !prior) {
                out.ok = false;
                out.missing_id = id;
                out.error = std::string(what) + " continuation state is not available for " + history +
                            " " + id + "; retry by replaying the full " +
                            (std::string(what) == "Responses" ? "input" : "messages") + " history";
                return out;
            }
            if (!prior) out.requires_live_tool_state = true;
            else on_prior(*prior, out);
        }
    }
    return out;
}

}  // namespace

ToolResultCheck check_responses_tool_outputs(const Conversation &conv, ThinkMode mode,
                                             const LiveCallLookup &live) {
    const bool needs_reasoning = think_enabled(mode);
    return check(
        conv, live, [](const Message &m) { return m.role == "tool" || m.role == "function"; },
        [&](const Message &prior, ToolResultCheck &out) {
            if (needs_reasoning && prior.reasoning.empty()) out.requires_live_reasoning = true;
        },
        "Responses", "call_id");
}

ToolResultCheck check_anthropic_tool_results(const Conversation &conv, const LiveCallLookup &live) {
    return check(
        conv, live, [](const Message &m) { return m.role == "user" && !m.tool_call_ids.empty(); },
        [](const Message &, ToolResultCheck &) {}, "Anthropic", "tool_use_id");
}

}  // namespace dstar::chat
