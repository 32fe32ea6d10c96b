// POST /v1/chat/completions replies (spec server.md §8.2-§8.3).
#include "chat/stream_splitter.h"
#include "server/api/reply_format.h"

namespace dstar::server::api::detail {
namespace {

Json tool_call_json(const ReplyToolCall &c, int index, bool with_index) {
    Json j;
    if (with_index) j["index"] = index;
    j["id"] = c.id;
    j["type"] = "function";
    j["function"] = Json{{"name", c.name}, {"arguments", c.arguments}};
    return j;
}

class ChatStream final : public StreamEncoder {
public:
    ChatStream(const ReplySetup &s, CallIdSource &ids) : s_(s), ids_(ids), splitter_(s.thinking, s.tools, true) {}

    std::string start(const Usage &) override { return chunk(Json{{"role", "assistant"}}); }

    std::string text(std::string_view all) override { return encode(splitter_.update(all)); }

    FinalReply finalize(const JobResult &done, std::string_view final_text) override {
        pending_ = encode(splitter_.update(final_text, true));
        FinalReply reply = chat_reply(done, final_text, s_.thinking, streamed_ids_, ids_);
        if (reply.recovered) {
            // The bytes held back as a possible tool block go out as content after all.
            const size_t start = visible_text_start(final_text, s_.thinking);
            if (start != std::string_view::npos && start + sent_content_ < final_text.size()) {
                pending_ += chunk(Json{{"content", std::string(final_text.substr(start + sent_content_))}});
            }
        }
        // Calls the live projection did not stream (it saw the block only at the end, or it
        // gave up on unexpected syntax) are sent whole.
        Json late = Json::array();
        for (size_t i = streamed_ids_.size(); i < reply.calls.size(); i++) {
            late.push_back(tool_call_json(reply.calls[i], static_cast<int>(i), true));
        }
        if (!late.empty()) pending_ += chunk(Json{{"tool_calls", late}});
        return reply;
    }

    std::string finish(const FinalReply &reply) override {
        std::string out = std::move(pending_);
        out += chunk(Json::object(), openai_finish_reason(reply.finish));
        if (s_.include_usage) {
            Json u = head();
            u["choices"] = Json::array();
            u["usage"] = usage_openai(reply.usage);
            out += sse_data(u);
        }
        out += "data: [DONE]\n\n";
        return out;
    }

    std::string keepalive() const override { return ": prefill\n\n"; }

private:
    const ReplySetup s_;
    CallIdSource &ids_;
    chat::StreamSplitter splitter_;
    std::vector<std::string> streamed_ids_;  // per invoke index
    size_t sent_content_ = 0;
    std::string pending_;

    Json head() const {
        return Json{{"id", s_.id}, {"object", "chat.completion.chunk"}, {"created", s_.created}, {"model", s_.model}};
    }

    std::string chunk(Json delta, const char *finish = nullptr) const {
        Json c = head();
        Json choice{{"index", 0}, {"delta", std::move(delta)}};
        choice["finish_reason"] = finish ? Json(finish) : Json(nullptr);
        c["choices"] = Json::array({std::move(choice)});
        return sse_data(c);
    }

    std::string encode(const std::vector<chat::StreamEvent> &events) {
        std::string out;
        for (const chat::StreamEvent &ev : events) {
            switch (ev.kind) {
            case chat::StreamEvent::Kind::Reasoning:
                out += chunk(Json{{"reasoning_content", ev.text}});
                break;
            case chat::StreamEvent::Kind::Content:
                sent_content_ += ev.text.size();
                out += chunk(Json{{"content", ev.text}});
                break;
            case chat::StreamEvent::Kind::ToolCallStart: {
                const size_t index = static_cast<size_t>(ev.index);
                if (streamed_ids_.size() <= index) streamed_ids_.resize(index + 1);
                streamed_ids_[index] = ids_.next();
                Json call{{"index", ev.index},
                          {"id", streamed_ids_[index]},
                          {"type", "function"},
                          {"function", Json{{"name", ev.text}, {"arguments", ""}}}};
                out += chunk(Json{{"tool_calls", Json::array({std::move(call)})}});
                break;
            }
            case chat::StreamEvent::Kind::ToolCallArgs: {
                Json call{{"index", ev.index}, {"function", Json{{"arguments", ev.text}}}};
                out += chunk(Json{{"tool_calls", Json::array({std::move(call)})}});
                break;
            }
            case chat::StreamEvent::Kind::ToolCallEnd:
                break;
            }
        }
        return out;
    }
};

}  // namespace

std::string openai_chat_json(const ReplySetup &s, const FinalReply &r) {
    Json message{{"role", "assistant"}, {"content", r.content}};
    if (!r.reasoning.empty()) message["reasoning_content"] = r.reasoning;
    if (!r.calls.empty()) {
        Json calls = Json::array();
        for (size_t i = 0; i < r.calls.size(); i++) calls.push_back(tool_call_json(r.calls[i], static_cast<int>(i), false));
        message["tool_calls"] = std::move(calls);
    }
    Json body{{"id", s.id}, {"object", "chat.completion"}, {"created", s.created}, {"model", s.model}};
    body["choices"] = Json::array({Json{{"index", 0},
                                        {"message", std::move(message)},
                                        {"finish_reason", openai_finish_reason(r.finish)}}});
    body["usage"] = usage_openai(r.usage);
    return dump_json(body);
}

std::unique_ptr<StreamEncoder> openai_chat_stream(const ReplySetup &s, CallIdSource &ids) {
    return std::make_unique<ChatStream>(s, ids);
}

}  // namespace dstar::server::api::detail
