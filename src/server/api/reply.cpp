#include "server/api/reply.h"

#include "chat/dsml_parse.h"
#include "server/api/ids.h"

namespace dstar::server::api {

Usage usage_of(const JobResult &r) { return Usage{r.prompt_tokens, r.cached_tokens, r.generated_tokens}; }

std::string CallIdSource::next() {
    std::string id = new_tool_call_id(prefix_, [&](const std::string &candidate) {
        return used_.count(candidate) || (memory_ && memory_->contains(candidate));
    });
    used_.insert(id);
    return id;
}

FinalReply chat_reply(const JobResult &r, std::string_view text, bool thinking, const std::vector<std::string> &streamed_ids,
                      CallIdSource &ids) {
    FinalReply out;
    out.finish = r.finish;
    out.error = r.error;
    out.text = std::string(text);
    out.usage = usage_of(r);
    const chat::ParsedReply parsed = chat::parse_generated_message(text, thinking);
    if (!parsed.ok) {
        out.recovered = true;
        out.parse_error = parsed.error.empty() ? "unparsable tool-call block" : parsed.error;
        out.content = parsed.content;
        // A length stop stays length and an error stays error; anything else is a plain stop.
        if (out.finish != Finish::Length && out.finish != Finish::Error) out.finish = Finish::Stop;
        return out;
    }
    out.parse_note = parsed.recovery;
    out.has_reasoning = parsed.reasoning.has_value();
    if (parsed.reasoning) out.reasoning = *parsed.reasoning;
    out.content = parsed.content;
    out.raw_block = parsed.raw_block;
    for (size_t i = 0; i < parsed.calls.size(); i++) {
        ReplyToolCall c;
        c.id = i < streamed_ids.size() && !streamed_ids[i].empty() ? streamed_ids[i] : ids.next();
        c.name = parsed.calls[i].name;
        c.arguments = chat::compact_arguments_json(parsed.calls[i].arguments);
        out.calls.push_back(std::move(c));
    }
    if (!out.calls.empty()) out.finish = Finish::ToolCalls;
    return out;
}

FinalReply completion_reply(const JobResult &r, std::string_view text) {
    FinalReply out;
    out.finish = r.finish == Finish::ToolCalls ? Finish::Stop : r.finish;
    out.error = r.error;
    out.text = std::string(text);
    out.content = out.text;
    out.usage = usage_of(r);
    return out;
}

const char *openai_finish_reason(Finish f) { return finish_name(f); }

const char *anthropic_stop_reason(Finish f) {
    switch (f) {
    case Finish::ToolCalls: return "tool_use";
    case Finish::Length: return "max_tokens";
    case Finish::Stop:
    case Finish::Error: return "end_turn";
    }
    return "end_turn";
}

const char *responses_status(Finish f) {
    switch (f) {
    case Finish::Length: return "incomplete";
    case Finish::Error: return "failed";
    case Finish::Stop:
    case Finish::ToolCalls: return "completed";
    }
    return "completed";
}

const char *responses_item_status(Finish f) {
    return f == Finish::Length || f == Finish::Error ? "incomplete" : "completed";
}

size_t visible_text_start(std::string_view text, bool thinking) {
    if (!thinking) return 0;
    size_t from = text.starts_with("<think>") ? 7 : 0;
    const size_t close = text.find("</think>", from);
    return close == std::string_view::npos ? std::string_view::npos : close + 8;
}

}  // namespace dstar::server::api
