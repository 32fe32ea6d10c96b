// Internals of Scheduler (server/scheduler.h), shared by scheduler.cpp (queue, thread, public
// methods), admission.cpp (slot choice and prefix reuse) and turns.cpp (prefill and decode
// turns).  Everything except `mu`, `queue`, `stopping`, `active_count` and `table` belongs to the
// worker thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "engine/session.h"
#include "server/scheduler.h"
#include "server/worker/cache_trace.h"
#include "server/worker/checkpoints.h"
#include "server/worker/decoder.h"
#include "server/worker/live_reuse.h"
#include "server/worker/slot_table.h"
#include "server/worker/worker_log.h"

namespace dstar::server {

namespace worker {

using Clock = std::chrono::steady_clock;

inline double seconds_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
}

// One live session (worker-owned; its published part lives in SlotTable).
struct Slot {
    std::unique_ptr<engine::Session> session;
    bool busy = false;
    uint64_t last_used = 0;  // value of the use clock when a job last took or left it; 0 = never
    uint32_t frontier = 0;   // last continued-save frontier (kvcache.md §5.2)
};

struct QueuedJob {
    JobRequest req;
    std::shared_ptr<JobHandle> handle;
    Clock::time_point arrival;
};

// A job that holds a slot: prefilling, then decoding.
struct ActiveJob {
    QueuedJob q;
    int slot = -1;
    Clock::time_point start;  // when the cache decision was made
    std::string source;       // cache_source label
    uint32_t cached = 0;
    std::vector<int32_t> prompt;  // the effective prompt
    bool used_binding = false;    // the match went through the slot's binding
    std::string ctx;              // "CACHED..PROMPT:SUFFIX" for log lines
    std::string flags;            // RESPPROTO / TOOLS words for log lines

    // Disk checkpoints.
    uint32_t cold_len = 0;
    std::optional<uint32_t> suppressed_frontier;

    // Prefill progress (log lines).
    Clock::time_point last_chunk_t;
    uint32_t last_chunk_done = 0;
    double prefill_s = 0;

    // Decode.
    std::unique_ptr<worker::Decoder> decoder;
    bool first_token_seen = false;
};

}  // namespace worker

struct Scheduler::Impl {
    Impl(engine::Engine &engine, const SchedulerOptions &opt, kvcache::DiskCache *disk, kvcache::ToolMemory *memory,
         Metrics &metrics, worker::LogFn log);

    engine::Engine &engine;
    const tok::Tokenizer &tok;
    SchedulerOptions opt;
    Metrics &metrics;
    worker::LogFn log;
    worker::Checkpoints checkpoints;

    // Shared with client threads.
    worker::SlotTable table;
    mutable std::mutex mu;
    std::condition_variable cv;
    std::deque<worker::QueuedJob> queue;
    bool stopping = false;
    std::atomic<size_t> active_count{0};
    std::mutex join_mu;
    std::thread thread;

    // Worker thread only.
    std::vector<worker::Slot> slots;
    std::deque<std::unique_ptr<worker::ActiveJob>> active;  // round-robin order
    uint64_t use_clock = 0;
    uint64_t seed_counter = 0;

    void say(const std::string &line) const {
        if (log) log(line);
    }
    bool stop_requested() const;

    // scheduler.cpp
    void run();
    void drop_cancelled_queued();
    bool take_next_queued(worker::QueuedJob &out);
    void shutdown_saves();
    static void reject(worker::QueuedJob &q, int http_status, std::string error);

    // admission.cpp
    struct LiveChoice {
        int slot;
        worker::LiveMatch match;
    };
    bool has_idle_slot() const;
    void admit(worker::QueuedJob q);
    std::optional<LiveChoice> best_live_match(const JobRequest &req) const;
    void take_live(worker::ActiveJob &j, LiveChoice choice, worker::CacheDiag &diag);
    void take_miss(worker::ActiveJob &j, worker::CacheDiag &diag, worker::CacheOutcome &outcome);
    int choose_victim() const;
    uint32_t fork_min_tokens() const;

    // turns.cpp: one turn of a job; true when the job is finished (Done was pushed).
    bool turn(worker::ActiveJob &j);
    bool prefill_turn(worker::ActiveJob &j);
    bool finish_prefill(worker::ActiveJob &j);
    bool decode_turn(worker::ActiveJob &j);
    void finish_job(worker::ActiveJob &j, const std::string &flush);
    void fail_prefill(worker::ActiveJob &j, const std::string &error);
    void abandon(worker::ActiveJob &j, const std::string &error, bool reset_session);
    void release_slot(worker::ActiveJob &j);
    JobResult base_result(const worker::ActiveJob &j) const;
};

}  // namespace dstar::server
