// State shared by the HTTP server's handlers (internal to dstar_server_api).
#pragma once

#include <httplib.h>

#include <atomic>
#include <optional>
#include <string>

#include "server/api/errors.h"
#include "server/api/http_server.h"
#include "server/api/models.h"
#include "server/api/prepare.h"

namespace dstar::server::api {

struct ServerContext {
    ServerContext(HttpOptions o, Metrics &m, Trace *t)
        : opt(std::move(o)), metrics(m), trace(t), models(opt.model_aliases, opt.ctx, opt.default_max_tokens) {}

    const HttpOptions opt;
    Metrics &metrics;
    Trace *const trace;
    const ModelCatalog models;

    // Set once by set_ready (before `ready` turns true), read-only afterwards.
    ServingState state;
    std::atomic<bool> ready{false};
    std::atomic<bool> shutting_down{false};
    std::atomic<uint64_t> request_counter{0};  // chatcmpl-N / cmpl-N and trace numbers

    PrepareEnv prepare_env() const;
};

// JSON body + "\n" with the given status.
void send_json(httplib::Response &res, int status, const std::string &json);
void send_error(httplib::Response &res, const ApiError &e, ErrorStyle style);
// 503 while loading or shutting down; true when a model endpoint may proceed.
bool check_serving(ServerContext &ctx, httplib::Response &res, ErrorStyle style);

// POST /v1/chat/completions, /v1/completions, /v1/responses, /v1/messages.
void handle_generate(ServerContext &ctx, Api api, const std::string &body, httplib::Response &res);

}  // namespace dstar::server::api
