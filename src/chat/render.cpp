#include "chat/render.h"

#include <cstddef>

#include "chat/dsml_render.h"
#include "chat/prompt_text.h"

namespace dstar::chat {
namespace {

bool role_is_system(const std::string &r) { return r == "system" || r == "developer"; }
bool role_is_tool(const std::string &r) { return r == "tool" || r == "function"; }
bool role_is_user_like(const std::string &r) { return r == "user" || role_is_tool(r); }

void append_tool_calls(std::string &out, const Message &m, const ToolReplayLookup &replay) {
    if (m.tool_calls.empty()) return;
    if (auto block = exact_replay_block(m, replay)) {
        out += *block;
        return;
    }
    append_canonical_dsml(out, m.tool_calls);
}

// The turn loop shared by the full prompt and the live tail.  keep_reasoning(i) decides
// whether assistant turn i shows <think>reasoning</think> (thinking mode only).
template <typename KeepReasoning>
void append_turns(std::string &out, const std::vector<Message> &msgs, size_t start, bool think,
                  KeepReasoning keep_reasoning, const ToolReplayLookup &replay) {
    bool pending_assistant = false;
    bool pending_tool_result = false;
    for (size_t i = start; i < msgs.size(); i++) {
        const Message &m = msgs[i];
        if (role_is_system(m.role)) continue;  // already in the system block
        if (m.role == "user") {
            out += kUser;
            out += m.content;
            pending_assistant = true;
            pending_tool_result = false;
        } else if (role_is_tool(m.role)) {
            // Consecutive results share one USER turn, with no separator between them.
            if (!pending_tool_result) out += kUser;
            out += kToolResultOpen;
            append_tool_result_text(out, m.content);
            out += kToolResultClose;
            pending_assistant = true;
            pending_tool_result = true;
        } else if (m.role == "assistant") {
            // An assistant message that does not answer a user/tool turn is glued to the
            // previous EOS without any marker (ds4 behaviour).
            if (pending_assistant) {
                out += kAssistant;
                if (think && keep_reasoning(i)) {
                    out += kThinkOpen;
                    out += m.reasoning;
                    out += kThinkClose;
                } else {
                    out += kThinkClose;
                }
            }
            out += m.content;
            append_tool_calls(out, m, replay);
            out += kEos;
            pending_assistant = false;
            pending_tool_result = false;
        }
        // Any other role is ignored entirely.
    }
    if (pending_assistant) {
        out += kAssistant;
        out += think ? kThinkOpen : kThinkClose;
    }
}

}  // namespace

std::optional<std::string> exact_replay_block(const Message &m, const ToolReplayLookup &replay) {
    if (m.tool_calls.empty()) return std::nullopt;
    if (m.raw_dsml && !m.raw_dsml->empty()) return *m.raw_dsml;
    if (!replay) return std::nullopt;
    std::optional<std::string> matched;
    for (const ToolCall &tc : m.tool_calls) {
        if (tc.id.empty()) return std::nullopt;
        std::optional<std::string> block = replay(tc.id);
        if (!block || block->empty()) return std::nullopt;
        // All calls of one completion share one stored block; a mix of blocks means the
        // client merged or edited turns, so only the canonical form is safe.
        if (matched && *matched != *block) return std::nullopt;
        matched = std::move(block);
    }
    return matched;
}

bool history_uses_tool_context(const Conversation &conv) {
    if (conv.has_tools()) return true;
    for (const Message &m : conv.messages) {
        if ((m.role == "assistant" && !m.tool_calls.empty()) || role_is_tool(m.role)) return true;
    }
    return false;
}

std::string render_chat_prompt(const Conversation &conv, ThinkMode mode,
                               const ToolReplayLookup &replay) {
    const bool think = think_enabled(mode);
    const bool tool_context = history_uses_tool_context(conv);

    // Tool schemas go first so that a volatile tail of the client's system text (e.g. a
    // timestamp) sits at the end of the cacheable prefix, not before the large tools text.
    std::string system;
    if (conv.has_tools()) {
        system += tools_prompt_head();
        system += conv.active_tool_schemas_text();
        system += tools_prompt_tail();
    }
    ptrdiff_t last_user = -1;
    for (size_t i = 0; i < conv.messages.size(); i++) {
        const Message &m = conv.messages[i];
        if (role_is_system(m.role)) {
            if (!system.empty()) system += "\n\n";
            system += m.content;
        }
        if (role_is_user_like(m.role)) last_user = static_cast<ptrdiff_t>(i);
    }

    std::string out;
    out += kBos;
    if (mode == ThinkMode::Max) out += think_max_prefix();
    out += system;
    // Plain chat drops reasoning of turns before the last user message; agent loops keep it
    // so the model still sees why it called a tool after the result comes back.
    append_turns(out, conv.messages, 0, think,
                 [&](size_t i) { return tool_context || static_cast<ptrdiff_t>(i) > last_user; },
                 replay);
    return out;
}

std::string render_completion_prompt(std::string_view prompt, ThinkMode mode) {
    std::string out;
    out += kBos;
    if (mode == ThinkMode::Max) out += think_max_prefix();
    out += kDefaultSystemPrompt;
    out += kUser;
    out += prompt;
    out += kAssistant;
    out += think_enabled(mode) ? kThinkOpen : kThinkClose;
    return out;
}

std::string render_live_tool_tail(const Conversation &conv, size_t start, ThinkMode mode,
                                  const ToolReplayLookup &replay) {
    std::string out(kEos);
    append_turns(out, conv.messages, start, think_enabled(mode), [](size_t) { return true; },
                 replay);
    return out;
}

}  // namespace dstar::chat
