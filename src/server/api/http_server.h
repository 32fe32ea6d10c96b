// The HTTP side of dstar-server (spec server.md §5, §7A-§13): cpp-httplib with its own pool of
// connection threads, the routes of the four APIs plus /health, /metrics and count_tokens,
// JSON error bodies everywhere, optional CORS.  It listens before the model is loaded so that
// /health can say "loading"; set_ready() opens the model endpoints.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "kvcache/disk_cache.h"
#include "kvcache/tool_memory.h"
#include "server/metrics.h"
#include "server/scheduler.h"
#include "server/trace.h"

namespace dstar::server::api {

struct HttpOptions {
    std::string host = "127.0.0.1";
    int port = 8000;                 // 0: any free port (tests)
    bool cors = false;
    uint32_t http_threads = 128;     // connection threads: streams served at once
    uint32_t ctx = 32768;            // --ctx
    uint32_t default_max_tokens = 393216;  // -n
    uint32_t slots = 4;              // reported by /health
    std::vector<std::string> model_aliases;
    std::chrono::seconds read_timeout{10};   // a client that stalls while sending is dropped
    std::chrono::seconds write_timeout{10};  // a client that stops reading is dropped
    size_t body_limit = size_t(64) << 20;    // larger bodies get 413
    std::chrono::milliseconds keepalive_interval{5000};  // SSE keepalives while waiting
};

// What a ready server serves with.  All pointers stay valid until stop() returned.
struct ServingState {
    const tok::Tokenizer *tokenizer = nullptr;
    Scheduler *scheduler = nullptr;
    kvcache::DiskCache *disk = nullptr;      // null: no disk cache
    kvcache::ToolMemory *memory = nullptr;   // null: exact tool replay disabled
};

class ApiServer {
public:
    // trace may be null (no --trace).  Log lines go to stderr (api/log.h).
    ApiServer(HttpOptions opt, Metrics &metrics, Trace *trace);
    ~ApiServer();  // stop()
    ApiServer(const ApiServer &) = delete;
    ApiServer &operator=(const ApiServer &) = delete;

    // Binds (IPv4, SO_REUSEADDR) and starts accepting in a background thread.  Throws
    // dstar::Error naming the address if it cannot listen.
    void start();
    int port() const;  // the bound port (after start)

    // Opens the model endpoints; also installs the /metrics gauges that read this state.
    void set_ready(const ServingState &state);
    bool ready() const;

    // From now on new requests get 503 "server shutting down"; requests in flight go on (the
    // caller then shuts the scheduler down, which ends them).
    void begin_shutdown();
    bool shutting_down() const;

    // Stops listening and waits for every connection thread.  Idempotent.
    void stop();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace dstar::server::api
