#include "server/api/bindings.h"

#include <algorithm>

#include "chat/prompt_text.h"
#include "chat/render.h"

namespace dstar::server::api {
namespace {

std::vector<std::string> call_ids(const FinalReply &r) {
    std::vector<std::string> ids;
    for (const ReplyToolCall &c : r.calls) ids.push_back(c.id);
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    return ids;
}

// The generation closed its reasoning: the last of <think> / </think> is a closer.
bool ended_outside_think(const std::string &text) {
    const size_t close = text.rfind(chat::kThinkClose);
    if (close == std::string::npos) return false;
    const size_t open = text.rfind(chat::kThinkOpen);
    return open == std::string::npos || open < close;
}

}  // namespace

std::optional<Binding> binding_after(const JobRequest &job, const FinalReply &reply) {
    if (reply.finish == Finish::Length || reply.finish == Finish::Error) return std::nullopt;
    const bool thinking = chat::think_enabled(job.mode);

    if (job.api == Api::Responses) {
        // The assistant turn exactly as the client will replay it: reasoning only when it was
        // sent as a summary and the turn ended in tool calls (that is when clients replay it).
        Binding b;
        b.kind = Binding::Kind::Responses;
        b.visible_text = job.prompt_text;
        if (thinking) {
            if (job.conv.reasoning_summary && !reply.calls.empty()) b.visible_text += reply.reasoning;
            b.visible_text += chat::kThinkClose;
        }
        b.visible_text += reply.content;
        if (!reply.calls.empty()) b.visible_text += reply.raw_block;
        b.visible_text += chat::kEos;
        b.call_ids = call_ids(reply);
        return b;
    }
    if (job.api == Api::Messages && !reply.calls.empty()) {
        Binding b;
        b.kind = Binding::Kind::Anthropic;
        b.call_ids = call_ids(reply);
        return b;
    }
    if (job.api != Api::Chat && job.api != Api::Messages) return std::nullopt;
    // Tool-less thinking chat: the next prompt drops this turn's reasoning, so it is not a
    // token or text extension of the live session; the visible text is its key.
    if (!thinking || !reply.calls.empty() || chat::history_uses_tool_context(job.conv)) return std::nullopt;
    if (!job.prompt_text.ends_with(chat::kThinkOpen) || !ended_outside_think(reply.text)) return std::nullopt;
    Binding b;
    b.kind = Binding::Kind::Thinking;
    b.visible_text = job.prompt_text.substr(0, job.prompt_text.size() - chat::kThinkOpen.size());
    b.visible_text += chat::kThinkClose;
    b.visible_text += reply.content;
    b.visible_text += chat::kEos;
    return b;
}

}  // namespace dstar::server::api
