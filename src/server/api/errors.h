// Error responses (spec server.md §5.5): a status, a message, and the body in the shape the
// client's API expects.  OpenAI-style endpoints answer {"error":{"message","type",...}};
// Anthropic endpoints {"type":"error","error":{"type","message",...}}, which Anthropic SDKs
// parse and from which ds4 clients still read error.message.
#pragma once

#include <cstdint>
#include <string>

namespace dstar::server::api {

enum class ErrorStyle { OpenAI, Anthropic };

struct ApiError {
    int status = 400;
    std::string message;
    std::string code;              // OpenAI "code" member ("" = none)
    std::string param;             // OpenAI "param" member ("" = none)
    int64_t n_prompt_tokens = -1;  // context-length errors: both >= 0
    int64_t n_ctx = -1;
};

ApiError bad_request(std::string message);
// "Prompt has N tokens, but the configured context size is C tokens" with code
// context_length_exceeded; param: "messages", "prompt" or "input".
ApiError context_length_error(int64_t prompt_tokens, int64_t ctx, std::string param);
// 404 "model '<id>' not found", code model_not_found.
ApiError model_not_found(const std::string &model);

// The JSON body (no trailing newline).
std::string error_body(const ApiError &e, ErrorStyle style);

// An error inside an already started SSE stream: "event: error\ndata: {...}\n\n".
std::string sse_error_event(const std::string &message, ErrorStyle style);

}  // namespace dstar::server::api
