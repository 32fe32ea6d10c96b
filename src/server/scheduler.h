// The engine worker (spec server.md §15, kvcache.md, extended): one thread owns the Engine and
// several session slots.  Unlike ds4's single live session, each slot keeps its own live
// checkpoint, so interleaved agents stop evicting each other; jobs on different slots advance
// in turns (one prefill chunk or one decoded token per turn), so a long prefill does not
// stall other streams.  Disk checkpoints (cold/continued/evict/shutdown) follow kvcache.md.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "kvcache/disk_cache.h"
#include "kvcache/tool_memory.h"
#include "server/job.h"
#include "server/metrics.h"

namespace dstar::server {

struct SchedulerOptions {
    uint32_t ctx = 32768;           // --ctx: context of every slot
    uint32_t slots = 4;             // --sessions: live sessions kept in memory
    uint32_t prefill_chunk = 2048;  // tokens per prefill turn
    uint32_t default_max_tokens = 393216;  // -n
};

class Scheduler {
public:
    // disk / memory may be null (cache disabled / exact replay disabled).  log: server log lines.
    Scheduler(engine::Engine &engine, const SchedulerOptions &opt, kvcache::DiskCache *disk,
              kvcache::ToolMemory *memory, Metrics &metrics,
              std::function<void(const std::string &)> log = {});
    ~Scheduler();  // shutdown() then joins the worker
    Scheduler(const Scheduler &) = delete;
    Scheduler &operator=(const Scheduler &) = delete;

    // Queues a job; events arrive on the returned handle.  After shutdown() began the job gets
    // Done with http_status 503 at once.
    std::shared_ptr<JobHandle> submit(JobRequest req);

    // Installs a binding on the slot if it is still exactly where the job left it
    // (same epoch and position); any other binding of that slot is cleared.  Returns false if
    // the slot moved on.
    bool bind(const LiveRef &where, Binding b);

    // True if some slot's live binding holds this tool-call id (parse-time validation of tool
    // outputs, kvcache.md §3.4).
    bool live_call_id(const std::string &id) const;

    size_t queue_depth() const;   // jobs waiting for a slot
    size_t active_jobs() const;   // jobs on a slot

    // Stops accepting jobs, ends running generations with Finish::Error "shutdown requested",
    // lets queued ones finish the same way, then saves every slot holding >= min_tokens as
    // "shutdown".  Idempotent; blocks until the worker is idle.
    void shutdown();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace dstar::server
