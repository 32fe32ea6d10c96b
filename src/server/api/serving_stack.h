// The model and everything that serves it, built in dependency order once the HTTP side is
// listening: Engine (optionally warmed), tool memory (unless exact replay is disabled), disk
// cache (with --kv-disk-dir), Scheduler.  Torn down in reverse order.
#pragma once

#include <memory>

#include "engine/engine.h"
#include "kvcache/disk_cache.h"
#include "kvcache/tool_memory.h"
#include "server/api/http_server.h"
#include "server/api/options.h"
#include "server/metrics.h"
#include "server/scheduler.h"

namespace dstar::server::api {

class ServingStack {
public:
    // Loads the model and starts the worker.  Throws dstar::Error naming the problem.
    ServingStack(const ServerOptions &opt, Metrics &metrics);
    ~ServingStack();
    ServingStack(const ServingStack &) = delete;
    ServingStack &operator=(const ServingStack &) = delete;

    ServingState serving() const;
    engine::Engine &engine() { return *engine_; }
    Scheduler &scheduler() { return *scheduler_; }

    // Scheduler::shutdown(): running jobs end with an error, slots are saved to disk.
    void shutdown();

private:
    std::unique_ptr<engine::Engine> engine_;
    std::unique_ptr<kvcache::ToolMemory> memory_;
    std::unique_ptr<kvcache::DiskCache> disk_;
    std::unique_ptr<Scheduler> scheduler_;
};

// The message for a missing model file: where the real one comes from and how to make a demo.
std::string missing_model_message(const std::string &path);

}  // namespace dstar::server::api
