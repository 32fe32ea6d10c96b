#include "server/api/errors.h"

#include "server/api/json_text.h"

namespace dstar::server::api {
namespace {

std::string openai_type(int status) {
    return status >= 500 ? "server_error" : "invalid_request_error";
}

std::string anthropic_type(int status) {
    if (status == 404) return "not_found_error";
    if (status == 413) return "request_too_large";
    if (status >= 500) return "api_error";
    return "invalid_request_error";
}

}  // namespace

ApiError bad_request(std::string message) {
    ApiError e;
    e.message = std::move(message);
    return e;
}

ApiError context_length_error(int64_t prompt_tokens, int64_t ctx, std::string param) {
    ApiError e;
    e.message = "Prompt has " + std::to_string(prompt_tokens) +
                " tokens, but the configured context size is " + std::to_string(ctx) + " tokens";
    e.code = "context_length_exceeded";
    e.param = std::move(param);
    e.n_prompt_tokens = prompt_tokens;
    e.n_ctx = ctx;
    return e;
}

ApiError model_not_found(const std::string &model) {
    ApiError e;
    e.status = 404;
    e.message = "model '" + model + "' not found";
    e.code = "model_not_found";
    return e;
}

std::string error_body(const ApiError &e, ErrorStyle style) {
    Json err;
    if (style == ErrorStyle::OpenAI) {
        err["message"] = e.message;
        err["type"] = openai_type(e.status);
        if (!e.param.empty()) err["param"] = e.param;
        if (!e.code.empty()) err["code"] = e.code;
    } else {
        err["type"] = anthropic_type(e.status);
        err["message"] = e.message;
    }
    if (e.n_prompt_tokens >= 0 && e.n_ctx >= 0) {
        err["n_prompt_tokens"] = e.n_prompt_tokens;
        err["n_ctx"] = e.n_ctx;
    }
    Json body;
    if (style == ErrorStyle::Anthropic) body["type"] = "error";
    body["error"] = std::move(err);
    return dump_json(body);
}

std::string sse_error_event(const std::string &message, ErrorStyle style) {
    Json body;
    if (style == ErrorStyle::OpenAI) {
        body["error"] = Json{{"message", message}, {"type", "server_error"}};
    } else {
        body["type"] = "error";
        body["error"] = Json{{"type", "api_error"}, {"message", message}};
    }
    return "event: error\ndata: " + dump_json(body) + "\n\n";
}

}  // namespace dstar::server::api
