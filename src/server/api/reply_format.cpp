#include "server/api/reply_format.h"

namespace dstar::server::api {

std::string reply_json(const ReplySetup &s, const FinalReply &r) {
    switch (s.api) {
    case Api::Chat: return detail::openai_chat_json(s, r);
    case Api::Completions: return detail::completions_json(s, r);
    case Api::Responses: return detail::responses_json(s, r);
    case Api::Messages: return detail::anthropic_json(s, r);
    }
    return "{}";
}

ErrorStyle error_style_for(Api api) { return api == Api::Messages ? ErrorStyle::Anthropic : ErrorStyle::OpenAI; }

std::unique_ptr<StreamEncoder> make_stream_encoder(const ReplySetup &s, CallIdSource &ids) {
    switch (s.api) {
    case Api::Chat: return detail::openai_chat_stream(s, ids);
    case Api::Completions: return detail::completions_stream(s);
    case Api::Responses: return detail::responses_stream(s, ids);
    case Api::Messages: return detail::anthropic_stream(s, ids);
    }
    return nullptr;
}

namespace detail {

std::string sse_data(const Json &j) { return "data: " + dump_json(j) + "\n\n"; }

std::string sse_event(const char *name, const Json &j) {
    return std::string("event: ") + name + "\ndata: " + dump_json(j) + "\n\n";
}

Json usage_openai(const Usage &u) {
    return Json{{"prompt_tokens", u.prompt},
                {"completion_tokens", u.generated},
                {"total_tokens", u.prompt + u.generated},
                {"prompt_tokens_details", Json{{"cached_tokens", u.cached}, {"cache_write_tokens", u.written()}}}};
}

Json parse_arguments_object(const std::string &arguments) {
    Json j = Json::parse(arguments, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return Json::object();
    return j;
}

}  // namespace detail
}  // namespace dstar::server::api
