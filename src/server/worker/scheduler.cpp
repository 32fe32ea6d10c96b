// Scheduler: the queue, the worker thread and the thread-safe public methods.  The worker loop
// admits queued jobs while a slot is idle (admission.cpp), then gives each active job one turn
// in round-robin order (turns.cpp): one prefill chunk or one decoded token.
#include <exception>

#include "common/error.h"
#include "server/worker/scheduler_impl.h"

namespace dstar::server {

using worker::ActiveJob;
using worker::Clock;
using worker::QueuedJob;
using worker::strfmt;

Scheduler::Impl::Impl(engine::Engine &engine_, const SchedulerOptions &opt_, kvcache::DiskCache *disk,
                      kvcache::ToolMemory *memory, Metrics &metrics_, worker::LogFn log_)
    : engine(engine_),
      tok(engine_.tokenizer()),
      opt(opt_),
      metrics(metrics_),
      log(std::move(log_)),
      checkpoints(disk, memory, engine_.tokenizer()),
      table(opt_.slots) {
    if (opt.slots == 0) throw Error("the scheduler needs at least one session slot (--sessions)");
    if (opt.ctx == 0) throw Error("the context size must be positive");
    if (opt.prefill_chunk == 0) throw Error("the prefill chunk must be positive");
    // Every slot's KV memory is allocated now, so that a context too large for the machine
    // fails at startup rather than on the first busy afternoon.
    slots.resize(opt.slots);
    for (worker::Slot &s : slots) s.session = std::make_unique<engine::Session>(engine, opt.ctx, opt.prefill_chunk);
}

bool Scheduler::Impl::stop_requested() const {
    std::lock_guard<std::mutex> lk(mu);
    return stopping;
}

void Scheduler::Impl::reject(QueuedJob &q, int http_status, std::string error) {
    JobEvent ev;
    ev.kind = JobEvent::Kind::Done;
    ev.result.finish = Finish::Error;
    ev.result.http_status = http_status;
    ev.result.error = std::move(error);
    ev.result.queue_s = worker::seconds_between(q.arrival, Clock::now());
    q.handle->push(std::move(ev));
}

void Scheduler::Impl::drop_cancelled_queued() {
    std::vector<QueuedJob> dropped;
    {
        std::lock_guard<std::mutex> lk(mu);
        for (auto it = queue.begin(); it != queue.end();) {
            if (it->handle->cancelled()) {
                dropped.push_back(std::move(*it));
                it = queue.erase(it);
            } else {
                ++it;
            }
        }
    }
    for (QueuedJob &q : dropped) {
        say(strfmt("dstar-server: %s request %llu dropped: client disconnected while queued",
                   worker::request_kind(q.req.api), static_cast<unsigned long long>(q.req.number)));
        reject(q, 0, "client disconnected");
    }
}

bool Scheduler::Impl::take_next_queued(QueuedJob &out) {
    std::lock_guard<std::mutex> lk(mu);
    if (queue.empty()) return false;
    out = std::move(queue.front());
    queue.pop_front();
    return true;
}

void Scheduler::Impl::run() {
    for (;;) {
        drop_cancelled_queued();
        // FIFO: the head of the queue takes the next idle slot.
        QueuedJob q;
        while (has_idle_slot() && take_next_queued(q)) admit(std::move(q));
        if (active.empty()) {
            std::unique_lock<std::mutex> lk(mu);
            if (!queue.empty()) continue;
            if (stopping) break;
            cv.wait(lk, [&] { return stopping || !queue.empty(); });
            continue;
        }
        std::unique_ptr<ActiveJob> j = std::move(active.front());
        active.pop_front();
        bool finished = true;
        try {
            finished = turn(*j);
        } catch (const std::exception &e) {
            say(strfmt("dstar-server: %s ctx=%s%s job failed: %s", worker::request_kind(j->q.req.api), j->ctx.c_str(),
                       j->flags.c_str(), e.what()));
            abandon(*j, e.what(), true);
        }
        if (finished)
            active_count.fetch_sub(1);
        else
            active.push_back(std::move(j));
    }
    shutdown_saves();
}

void Scheduler::Impl::shutdown_saves() {
    for (size_t i = 0; i < slots.size(); i++) {
        try {
            checkpoints.save_live(*slots[i].session, kvcache::SaveReason::Shutdown, table.binding(static_cast<int>(i)));
        } catch (const std::exception &e) {
            say(strfmt("dstar-server: shutdown save of slot %zu failed: %s", i, e.what()));
        }
    }
}

Scheduler::Scheduler(engine::Engine &engine, const SchedulerOptions &opt, kvcache::DiskCache *disk,
                     kvcache::ToolMemory *memory, Metrics &metrics, std::function<void(const std::string &)> log)
    : impl_(std::make_unique<Impl>(engine, opt, disk, memory, metrics, std::move(log))) {
    impl_->thread = std::thread([this] { impl_->run(); });
}

Scheduler::~Scheduler() { shutdown(); }

std::shared_ptr<JobHandle> Scheduler::submit(JobRequest req) {
    auto handle = std::make_shared<JobHandle>();
    QueuedJob q{std::move(req), handle, Clock::now()};
    {
        std::lock_guard<std::mutex> lk(impl_->mu);
        if (!impl_->stopping) {
            impl_->queue.push_back(std::move(q));
            impl_->cv.notify_one();
            return handle;
        }
    }
    Impl::reject(q, 503, "server shutting down");
    return handle;
}

bool Scheduler::bind(const LiveRef &where, Binding b) { return impl_->table.bind(where, std::move(b)); }

bool Scheduler::live_call_id(const std::string &id) const { return impl_->table.has_call_id(id); }

size_t Scheduler::queue_depth() const {
    std::lock_guard<std::mutex> lk(impl_->mu);
    return impl_->queue.size();
}

size_t Scheduler::active_jobs() const { return impl_->active_count.load(); }

void Scheduler::shutdown() {
    {
        std::lock_guard<std::mutex> lk(impl_->mu);
        impl_->stopping = true;
    }
    impl_->cv.notify_all();
    std::lock_guard<std::mutex> lk(impl_->join_mu);
    if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace dstar::server
