// Turning a job's events into each API's wire format (spec server.md §8-§11, §13): a
// non-streaming JSON body, or an SSE stream built incrementally from the generated text.  Pure
// functions of their inputs (no sockets), so every sequence can be tested with synthetic text.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "chat/conversation.h"
#include "server/api/errors.h"
#include "server/api/json_text.h"
#include "server/api/reply.h"
#include "server/job.h"

namespace dstar::server::api {

struct ReplySetup {
    Api api = Api::Chat;
    std::string id;                  // chatcmpl-N, cmpl-N or resp_<24 hex>
    std::string model;               // echoed as the client sent it
    int64_t created = 0;             // unix seconds
    bool thinking = false;           // the prompt ended with <think>
    bool tools = false;              // tools are active
    bool include_usage = false;      // chat/completions stream_options.include_usage
    bool reasoning_summary = false;  // Responses: the client opted in to reasoning summaries
    std::vector<chat::ToolSpec> tool_specs;  // Responses: client names and namespaces
};

// The reply of a finished job for a non-streaming request (JSON, no trailing newline).
std::string reply_json(const ReplySetup &s, const FinalReply &r);

// Anthropic error bodies for /v1/messages, OpenAI ones for the rest.
ErrorStyle error_style_for(Api api);

// One SSE response.  Call order: start, text* (whole text so far, it only grows), finalize,
// finish.  Each call returns the bytes to write (possibly empty).
class StreamEncoder {
public:
    virtual ~StreamEncoder() = default;
    // The opening events, once prefill is done (usage final except generated tokens).
    virtual std::string start(const Usage &u) = 0;
    virtual std::string text(std::string_view all) = 0;
    // Generation ended: flushes held-back text and parses the reply, reusing the tool-call ids
    // already streamed.  The resulting bytes are kept for finish(): the caller records the
    // reply (tool memory, live bindings) first, so that a client reacting to the final events
    // at once finds that state in place.
    virtual FinalReply finalize(const JobResult &done, std::string_view final_text) = 0;
    virtual std::string finish(const FinalReply &reply) = 0;
    // A keepalive while waiting (queue, prefill).
    virtual std::string keepalive() const = 0;
};

// ids: tool-call id source ("call_" or "toolu_"); must outlive the encoder.
std::unique_ptr<StreamEncoder> make_stream_encoder(const ReplySetup &s, CallIdSource &ids);

// Internal pieces shared by the format files.
namespace detail {
std::string sse_data(const Json &j);                           // "data: {...}\n\n"
std::string sse_event(const char *name, const Json &j);         // "event: name\ndata: {...}\n\n"
Json usage_openai(const Usage &u);                              // chat/completions usage object
Json parse_arguments_object(const std::string &arguments);      // {} if not a JSON object

std::string openai_chat_json(const ReplySetup &s, const FinalReply &r);
std::string completions_json(const ReplySetup &s, const FinalReply &r);
std::string responses_json(const ReplySetup &s, const FinalReply &r);
std::string anthropic_json(const ReplySetup &s, const FinalReply &r);
std::unique_ptr<StreamEncoder> openai_chat_stream(const ReplySetup &s, CallIdSource &ids);
std::unique_ptr<StreamEncoder> completions_stream(const ReplySetup &s);
std::unique_ptr<StreamEncoder> responses_stream(const ReplySetup &s, CallIdSource &ids);
std::unique_ptr<StreamEncoder> anthropic_stream(const ReplySetup &s, CallIdSource &ids);
}  // namespace detail

}  // namespace dstar::server::api
