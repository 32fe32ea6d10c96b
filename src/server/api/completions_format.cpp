// POST /v1/completions replies (spec server.md §9): the raw generated text, no parsing.
#include "chat/stream_splitter.h"
#include "server/api/reply_format.h"

namespace dstar::server::api::detail {
namespace {

Json completion_chunk(const ReplySetup &s, const std::string &text, const char *finish) {
    Json choice{{"text", text}, {"index", 0}};
    choice["finish_reason"] = finish ? Json(finish) : Json(nullptr);
    return Json{{"id", s.id},
                {"object", "text_completion"},
                {"created", s.created},
                {"model", s.model},
                {"choices", Json::array({std::move(choice)})}};
}

class CompletionsStream final : public StreamEncoder {
public:
    explicit CompletionsStream(const ReplySetup &s) : s_(s) {}

    std::string start(const Usage &) override { return ""; }  // no role chunk on this endpoint

    std::string text(std::string_view all) override { return deltas(all, false); }

    FinalReply finalize(const JobResult &done, std::string_view final_text) override {
        pending_ = deltas(final_text, true);
        return completion_reply(done, final_text);
    }

    std::string finish(const FinalReply &reply) override {
        std::string out = std::move(pending_);
        out += sse_data(completion_chunk(s_, "", openai_finish_reason(reply.finish)));
        if (s_.include_usage) {
            Json u{{"id", s_.id}, {"object", "text_completion"}, {"created", s_.created}, {"model", s_.model}};
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
    size_t sent_ = 0;
    std::string pending_;

    // Everything new except an incomplete UTF-8 character at the end.
    std::string deltas(std::string_view all, bool final) {
        const size_t limit = chat::utf8_safe_limit(all, sent_, all.size(), final);
        if (limit <= sent_) return "";
        std::string out = sse_data(completion_chunk(s_, std::string(all.substr(sent_, limit - sent_)), nullptr));
        sent_ = limit;
        return out;
    }
};

}  // namespace

std::string completions_json(const ReplySetup &s, const FinalReply &r) {
    Json body = completion_chunk(s, r.content, openai_finish_reason(r.finish));
    body["usage"] = usage_openai(r.usage);
    return dump_json(body);
}

std::unique_ptr<StreamEncoder> completions_stream(const ReplySetup &s) { return std::make_unique<CompletionsStream>(s); }

}  // namespace dstar::server::api::detail
