#include "server/api/http_server.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "common/error.h"
#include "server/api/log.h"
#include "server/api/reply_format.h"
#include "server/api/server_context.h"

namespace dstar::server::api {
namespace {

using Clock = std::chrono::steady_clock;

// Request arrival, for /metrics durations: the pre-routing handler, the handler, the response
// write and the logger of one request all run on the same connection thread.
thread_local std::optional<Clock::time_point> t_request_start;

// The metrics label of a request: its route, never the raw path (unknown paths would make the
// label set unbounded).
std::string endpoint_label(const httplib::Request &req) {
    static const char *const kRoutes[] = {"/v1/chat/completions", "/v1/completions", "/v1/responses",
                                          "/v1/messages",         "/v1/messages/count_tokens", "/v1/models",
                                          "/health",              "/metrics"};
    if (req.method == "OPTIONS") return "OPTIONS";
    for (const char *r : kRoutes) {
        if (req.path == r) return r;
    }
    if (req.path.rfind("/v1/models/", 0) == 0) return "/v1/models/{id}";
    return "other";
}

ErrorStyle style_for_path(const std::string &path) {
    return path.rfind("/v1/messages", 0) == 0 ? ErrorStyle::Anthropic : ErrorStyle::OpenAI;
}

// Bodies for the errors httplib itself produces (no route, unreadable request, body too large).
std::string http_error_message(int status, size_t body_limit) {
    switch (status) {
    case 400: return "bad HTTP request";
    case 404: return "unknown endpoint";
    case 413: return strformat("request body exceeds the %zu MiB limit", body_limit >> 20);
    case 414: return "request URI too long";
    default: return strformat("HTTP error %d", status);
    }
}

}  // namespace

PrepareEnv ServerContext::prepare_env() const {
    PrepareEnv env;
    env.tokenizer = state.tokenizer;
    env.models = &models;
    env.ctx = opt.ctx;
    env.default_max_tokens = opt.default_max_tokens;
    env.memory = state.memory;
    env.disk = state.disk;
    Scheduler *scheduler = state.scheduler;
    env.live_call = [scheduler](const std::string &id) { return scheduler->live_call_id(id); };
    return env;
}

void send_json(httplib::Response &res, int status, const std::string &json) {
    res.status = status;
    res.set_content(json + "\n", "application/json");
}

void send_error(httplib::Response &res, const ApiError &e, ErrorStyle style) {
    send_json(res, e.status, error_body(e, style));
}

bool check_serving(ServerContext &ctx, httplib::Response &res, ErrorStyle style) {
    ApiError e;
    e.status = 503;
    if (ctx.shutting_down.load()) e.message = "server shutting down";
    else if (!ctx.ready.load(std::memory_order_acquire)) e.message = "model is loading";
    else return true;
    send_error(res, e, style);
    return false;
}

struct ApiServer::Impl {
    Impl(HttpOptions o, Metrics &m, Trace *t) : ctx(std::move(o), m, t) {}

    ServerContext ctx;
    httplib::Server svr;
    std::thread listener;
    std::atomic<bool> listener_done{false};
    int port = -1;
    bool stopped = false;

    void configure();
    void routes();
    bool read_body(const httplib::Request &req, httplib::Response &res, const httplib::ContentReader &reader,
                   std::string &body, ErrorStyle style) const;
    void health(httplib::Response &res) const;
    void count_tokens(const std::string &body, httplib::Response &res);
};

void ApiServer::Impl::configure() {
    const uint32_t threads = ctx.opt.http_threads;
    svr.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    svr.set_address_family(AF_INET);
    // httplib's default also sets SO_REUSEPORT, which would let a second process bind the
    // same port; only SO_REUSEADDR (quick restarts) is wanted.
    svr.set_socket_options([](socket_t sock) {
        int yes = 1;
        setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    // Streams are many small writes (one SSE event per token): without TCP_NODELAY, Nagle's
    // algorithm would hold each one until the previous was acknowledged.  (Accepted sockets
    // inherit it from the listening socket on Linux.)
    svr.set_tcp_nodelay(true);
    svr.set_read_timeout(ctx.opt.read_timeout);
    svr.set_write_timeout(ctx.opt.write_timeout);
    svr.set_payload_max_length(ctx.opt.body_limit);
    if (ctx.opt.cors) {
        svr.set_default_headers({{"Access-Control-Allow-Origin", "*"},
                                 {"Access-Control-Allow-Methods", "GET, POST, OPTIONS"},
                                 {"Access-Control-Allow-Headers", "*"}});
    }
    svr.set_pre_routing_handler([](const httplib::Request &, httplib::Response &) {
        t_request_start = Clock::now();
        return httplib::Server::HandlerResponse::Unhandled;
    });
    svr.set_logger([this](const httplib::Request &req, const httplib::Response &res) {
        const double seconds =
            t_request_start ? std::chrono::duration<double>(Clock::now() - *t_request_start).count() : 0.0;
        t_request_start.reset();
        ctx.metrics.request_done(endpoint_label(req), res.status, seconds);
        if (res.status >= 400) {
            log_line(strformat("dstar-server: %s %s -> %d", req.method.empty() ? "?" : req.method.c_str(),
                               req.path.empty() ? "?" : req.path.c_str(), res.status));
        }
    });
    // Every error carries a JSON body, including the ones httplib answers by itself.
    svr.set_error_handler(httplib::Server::HandlerWithResponse([this](const httplib::Request &req, httplib::Response &res) {
        if (!res.body.empty() || res.content_length_ > 0) return httplib::Server::HandlerResponse::Unhandled;
        ApiError e;
        e.status = res.status;
        e.message = http_error_message(res.status, ctx.opt.body_limit);
        res.set_content(error_body(e, style_for_path(req.path)) + "\n", "application/json");
        return httplib::Server::HandlerResponse::Handled;
    }));
    svr.set_exception_handler([](const httplib::Request &req, httplib::Response &res, std::exception_ptr ep) {
        std::string what = "unknown exception";
        try {
            std::rethrow_exception(ep);
        } catch (const std::exception &e) {
            what = e.what();
        } catch (...) {
        }
        log_line("dstar-server: internal error on " + req.path + ": " + what);
        ApiError e;
        e.status = 500;
        e.message = "internal error: " + what;
        send_error(res, e, style_for_path(req.path));
    });
}

bool ApiServer::Impl::read_body(const httplib::Request &req, httplib::Response &res, const httplib::ContentReader &reader,
                                std::string &body, ErrorStyle style) const {
    // Without a length or chunked encoding the body is empty (ds4); httplib would otherwise
    // read until the client closes.
    if (!req.has_header("Content-Length") && req.get_header_value("Transfer-Encoding") != "chunked") return true;
    bool too_large = false;
    const size_t limit = ctx.opt.body_limit;
    const bool ok = reader([&](const char *data, size_t n) {
        if (body.size() + n > limit) {
            too_large = true;
            return false;
        }
        body.append(data, n);
        return true;
    });
    if (ok) return true;
    ApiError e;
    e.status = too_large || res.status == 413 ? 413 : 400;
    e.message = http_error_message(e.status, limit);
    send_error(res, e, style);
    res.set_header("Connection", "close");
    return false;
}

void ApiServer::Impl::health(httplib::Response &res) const {
    Json h;
    if (ctx.shutting_down.load()) {
        h["status"] = "shutting_down";
        send_json(res, 503, dump_json(h));
        return;
    }
    if (!ctx.ready.load(std::memory_order_acquire)) {
        h["status"] = "loading";
        send_json(res, 503, dump_json(h));
        return;
    }
    h["status"] = "ok";
    h["model"] = kModelId;
    h["ctx"] = ctx.opt.ctx;
    h["slots"] = ctx.opt.slots;
    h["queue_depth"] = ctx.state.scheduler->queue_depth();
    h["active_jobs"] = ctx.state.scheduler->active_jobs();
    send_json(res, 200, dump_json(h));
}

void ApiServer::Impl::count_tokens(const std::string &body, httplib::Response &res) {
    if (!check_serving(ctx, res, ErrorStyle::Anthropic)) return;
    const TokenCount c = count_prompt_tokens(body, ctx.prepare_env());
    if (c.error) {
        send_error(res, *c.error, ErrorStyle::Anthropic);
        return;
    }
    send_json(res, 200, dump_json(Json{{"input_tokens", c.tokens}}));
}

void ApiServer::Impl::routes() {
    svr.Options(".*", [](const httplib::Request &, httplib::Response &res) { res.status = 204; });
    svr.Get("/v1/models", [this](const httplib::Request &, httplib::Response &res) {
        send_json(res, 200, dump_json(ctx.models.list()));
    });
    svr.Get("/v1/models/(.+)", [this](const httplib::Request &req, httplib::Response &res) {
        const std::string id = req.matches[1];
        if (ctx.models.accepts(id)) send_json(res, 200, dump_json(ctx.models.model_object(id)));
        else send_error(res, model_not_found(id), ErrorStyle::OpenAI);
    });
    svr.Get("/health", [this](const httplib::Request &, httplib::Response &res) { health(res); });
    svr.Get("/metrics", [this](const httplib::Request &, httplib::Response &res) {
        res.set_content(ctx.metrics.render(), "text/plain; version=0.0.4");
    });

    struct Route {
        const char *path;
        Api api;
    };
    for (const Route r : {Route{"/v1/chat/completions", Api::Chat}, Route{"/v1/completions", Api::Completions},
                          Route{"/v1/responses", Api::Responses}, Route{"/v1/messages", Api::Messages}}) {
        const Api api = r.api;
        svr.Post(r.path, [this, api](const httplib::Request &req, httplib::Response &res, const httplib::ContentReader &reader) {
            std::string body;
            if (read_body(req, res, reader, body, error_style_for(api))) handle_generate(ctx, api, body, res);
        });
    }
    svr.Post("/v1/messages/count_tokens",
             [this](const httplib::Request &req, httplib::Response &res, const httplib::ContentReader &reader) {
                 std::string body;
                 if (read_body(req, res, reader, body, ErrorStyle::Anthropic)) count_tokens(body, res);
             });
}

ApiServer::ApiServer(HttpOptions opt, Metrics &metrics, Trace *trace)
    : impl_(std::make_unique<Impl>(std::move(opt), metrics, trace)) {
    impl_->configure();
    impl_->routes();
}

ApiServer::~ApiServer() { stop(); }

void ApiServer::start() {
    Impl &m = *impl_;
    const HttpOptions &o = m.ctx.opt;
    errno = 0;
    m.port = o.port == 0 ? m.svr.bind_to_any_port(o.host) : (m.svr.bind_to_port(o.host, o.port) ? o.port : -1);
    if (m.port <= 0) {
        fail("failed to listen on %s:%d: %s", o.host.c_str(), o.port, errno ? std::strerror(errno) : "bind failed");
    }
    m.listener = std::thread([&m] {
        m.svr.listen_after_bind();
        m.listener_done = true;
    });
    // stop() only acts on a running server: wait until the accept loop is up (or gave up).
    while (!m.svr.is_running() && !m.listener_done) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    log_line(strformat("dstar-server: listening on http://%s:%d", o.host.c_str(), m.port));
}

int ApiServer::port() const { return impl_->port; }

void ApiServer::set_ready(const ServingState &state) {
    ServerContext &ctx = impl_->ctx;
    ctx.state = state;
    const uint32_t slots = ctx.opt.slots;
    ctx.metrics.set_gauges([state, slots] {
        std::vector<std::pair<std::string, std::pair<std::string, double>>> g;
        auto add = [&](const char *name, const char *help, double v) { g.push_back({name, {help, v}}); };
        add("dstar_queue_depth", "Jobs waiting for a session slot.", double(state.scheduler->queue_depth()));
        add("dstar_active_jobs", "Jobs running on a session slot.", double(state.scheduler->active_jobs()));
        add("dstar_session_slots", "Live session slots (--sessions).", double(slots));
        if (state.disk && state.disk->enabled()) {
            const kvcache::Stats s = state.disk->stats();
            add("dstar_disk_cache_files", "KV checkpoint files in the disk cache.", double(s.files));
            add("dstar_disk_cache_bytes", "Bytes of KV checkpoint files in the disk cache.", double(s.bytes));
            add("dstar_disk_cache_hits", "Disk cache lookups that loaded a checkpoint.", double(s.hits));
            add("dstar_disk_cache_misses", "Disk cache lookups without a usable checkpoint.", double(s.misses));
            add("dstar_disk_cache_stores", "Checkpoints written to the disk cache.", double(s.stores));
            add("dstar_disk_cache_evictions", "Checkpoints evicted from the disk cache.", double(s.evictions));
            add("dstar_disk_cache_rejected_files", "Corrupt or foreign checkpoint files moved aside.",
                double(s.rejected_files));
        }
        if (state.memory) {
            add("dstar_tool_memory_ids", "Tool-call ids held for exact DSML replay.", double(state.memory->size()));
            add("dstar_tool_memory_bytes", "Bytes accounted by the tool-call replay memory.", double(state.memory->bytes()));
        }
        return g;
    });
    ctx.ready.store(true, std::memory_order_release);
    log_line("dstar-server: ready");
}

bool ApiServer::ready() const { return impl_->ctx.ready.load(std::memory_order_acquire); }

void ApiServer::begin_shutdown() { impl_->ctx.shutting_down.store(true); }

bool ApiServer::shutting_down() const { return impl_->ctx.shutting_down.load(); }

void ApiServer::stop() {
    Impl &m = *impl_;
    if (m.stopped) return;
    m.stopped = true;
    if (m.listener.joinable()) {
        m.svr.stop();
        m.listener.join();
    }
    // The gauges read the serving state, which the caller destroys after this.
    m.ctx.metrics.set_gauges({});
}

}  // namespace dstar::server::api
