// POST /v1/messages replies (spec server.md §11.2-§11.3): content blocks (thinking, text,
// tool_use), streamed as Anthropic SSE events with live tool_use blocks.
#include "chat/stream_splitter.h"
#include "server/api/reply_format.h"

namespace dstar::server::api::detail {
namespace {

Json anthropic_usage(const Usage &u) {
    // input_tokens counts what is neither read from nor written to the cache: with W = P - R
    // it is 0, as in ds4; the three fields always add up to the prompt.
    const uint32_t accounted = u.cached + u.written();
    const uint32_t input = u.prompt > accounted ? u.prompt - accounted : 0;
    return Json{{"input_tokens", input},
                {"output_tokens", u.generated},
                {"cache_read_input_tokens", u.cached},
                {"cache_creation_input_tokens", u.written()}};
}

class AnthropicStream final : public StreamEncoder {
public:
    AnthropicStream(const ReplySetup &s, CallIdSource &ids) : s_(s), ids_(ids), splitter_(s.thinking, s.tools, false) {}

    std::string start(const Usage &u) override {
        Json usage = anthropic_usage(u);
        usage["output_tokens"] = 0;
        Json message{{"id", s_.id},
                     {"type", "message"},
                     {"role", "assistant"},
                     {"model", s_.model},
                     {"content", Json::array()},
                     {"stop_reason", nullptr},
                     {"stop_sequence", nullptr},
                     {"usage", std::move(usage)}};
        return sse_event("message_start", Json{{"type", "message_start"}, {"message", std::move(message)}});
    }

    std::string text(std::string_view all) override {
        std::string out = encode(splitter_.update(all));
        if (open_ == Block::Thinking && think_closed(all)) out += close_block();  // signature at </think>
        return out;
    }

    FinalReply finalize(const JobResult &done, std::string_view final_text) override {
        pending_ = encode(splitter_.update(final_text, true));
        if (open_ == Block::Thinking) pending_ += close_block();
        FinalReply reply = chat_reply(done, final_text, s_.thinking, streamed_ids_, ids_);
        if (reply.recovered) {
            const size_t start = visible_text_start(final_text, s_.thinking);
            if (start != std::string_view::npos && start + sent_content_ < final_text.size()) {
                pending_ += text_delta(std::string(final_text.substr(start + sent_content_)));
            }
        }
        return reply;
    }

    std::string finish(const FinalReply &reply) override {
        std::string out = std::move(pending_);
        out += close_block();
        if (thinking_sent_ && !text_sent_ && reply.calls.empty()) {
            out += open_block(Json{{"type", "text"}, {"text", ""}}, Block::Text);
            out += close_block();
        }
        for (size_t i = streamed_ids_.size(); i < reply.calls.size(); i++) {
            const ReplyToolCall &c = reply.calls[i];
            out += open_block(Json{{"type", "tool_use"}, {"id", c.id}, {"name", c.name}, {"input", Json::object()}},
                              Block::Tool);
            out += block_delta(Json{{"type", "input_json_delta"}, {"partial_json", c.arguments}});
            out += close_block();
        }
        out += sse_event("message_delta",
                         Json{{"type", "message_delta"},
                              {"delta", Json{{"stop_reason", anthropic_stop_reason(reply.finish)}, {"stop_sequence", nullptr}}},
                              {"usage", Json{{"output_tokens", reply.usage.generated}}}});
        out += sse_event("message_stop", Json{{"type", "message_stop"}});
        return out;
    }

    std::string keepalive() const override { return sse_event("ping", Json{{"type", "ping"}}); }

private:
    enum class Block { None, Thinking, Text, Tool };

    const ReplySetup s_;
    CallIdSource &ids_;
    chat::StreamSplitter splitter_;
    Block open_ = Block::None;
    int index_ = 0;  // index of the open block, or of the next one
    bool thinking_sent_ = false, text_sent_ = false;
    std::vector<std::string> streamed_ids_;
    size_t sent_content_ = 0;
    size_t think_scan_ = 0;  // </think> search resumes here (the text only grows)
    std::string pending_;

    bool think_closed(std::string_view all) {
        static constexpr std::string_view kClose = "</think>";
        const size_t from = think_scan_;
        think_scan_ = all.size() >= kClose.size() ? all.size() - kClose.size() + 1 : 0;
        return all.find(kClose, from) != std::string_view::npos;
    }

    std::string open_block(Json content_block, Block kind) {
        std::string out = close_block();
        open_ = kind;
        return out + sse_event("content_block_start", Json{{"type", "content_block_start"},
                                                            {"index", index_},
                                                            {"content_block", std::move(content_block)}});
    }

    std::string block_delta(Json delta) const {
        return sse_event("content_block_delta",
                         Json{{"type", "content_block_delta"}, {"index", index_}, {"delta", std::move(delta)}});
    }

    std::string close_block() {
        if (open_ == Block::None) return "";
        std::string out;
        if (open_ == Block::Thinking) out += block_delta(Json{{"type", "signature_delta"}, {"signature", s_.id}});
        out += sse_event("content_block_stop", Json{{"type", "content_block_stop"}, {"index", index_}});
        open_ = Block::None;
        index_++;
        return out;
    }

    std::string text_delta(const std::string &text) {
        std::string out;
        if (open_ != Block::Text) out += open_block(Json{{"type", "text"}, {"text", ""}}, Block::Text);
        text_sent_ = true;
        return out + block_delta(Json{{"type", "text_delta"}, {"text", text}});
    }

    std::string encode(const std::vector<chat::StreamEvent> &events) {
        std::string out;
        for (const chat::StreamEvent &ev : events) {
            switch (ev.kind) {
            case chat::StreamEvent::Kind::Reasoning:
                if (open_ != Block::Thinking) {
                    out += open_block(Json{{"type", "thinking"}, {"thinking", ""}, {"signature", ""}}, Block::Thinking);
                }
                thinking_sent_ = true;
                out += block_delta(Json{{"type", "thinking_delta"}, {"thinking", ev.text}});
                break;
            case chat::StreamEvent::Kind::Content:
                sent_content_ += ev.text.size();
                out += text_delta(ev.text);
                break;
            case chat::StreamEvent::Kind::ToolCallStart: {
                const size_t index = static_cast<size_t>(ev.index);
                if (streamed_ids_.size() <= index) streamed_ids_.resize(index + 1);
                streamed_ids_[index] = ids_.next();
                out += open_block(Json{{"type", "tool_use"},
                                       {"id", streamed_ids_[index]},
                                       {"name", ev.text},
                                       {"input", Json::object()}},
                                  Block::Tool);
                break;
            }
            case chat::StreamEvent::Kind::ToolCallArgs:
                out += block_delta(Json{{"type", "input_json_delta"}, {"partial_json", ev.text}});
                break;
            case chat::StreamEvent::Kind::ToolCallEnd:
                out += close_block();
                break;
            }
        }
        return out;
    }
};

}  // namespace

std::string anthropic_json(const ReplySetup &s, const FinalReply &r) {
    Json content = Json::array();
    if (!r.reasoning.empty()) {
        content.push_back(Json{{"type", "thinking"}, {"thinking", r.reasoning}, {"signature", s.id}});
    }
    if (!r.content.empty()) content.push_back(Json{{"type", "text"}, {"text", r.content}});
    for (const ReplyToolCall &c : r.calls) {
        content.push_back(Json{{"type", "tool_use"}, {"id", c.id}, {"name", c.name}, {"input", parse_arguments_object(c.arguments)}});
    }
    // Clients expect some answer block: an empty text block when there is nothing else.
    if (r.content.empty() && r.calls.empty()) content.push_back(Json{{"type", "text"}, {"text", ""}});
    Json body{{"id", s.id},
              {"type", "message"},
              {"role", "assistant"},
              {"model", s.model},
              {"content", std::move(content)},
              {"stop_reason", anthropic_stop_reason(r.finish)},
              {"stop_sequence", nullptr},
              {"usage", anthropic_usage(r.usage)}};
    return dump_json(body);
}

std::unique_ptr<StreamEncoder> anthropic_stream(const ReplySetup &s, CallIdSource &ids) {
    return std::make_unique<AnthropicStream>(s, ids);
}

}  // namespace dstar::server::api::detail
