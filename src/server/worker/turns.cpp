// Turns: each call advances one job by one prefill chunk or one decoded token, so jobs on
// different slots interleave.  Events, log lines, metrics and disk checkpoints happen here.
#include <algorithm>
#include <exception>

#include "server/worker/scheduler_impl.h"

namespace dstar::server {

using worker::ActiveJob;
using worker::Clock;
using worker::strfmt;

JobResult Scheduler::Impl::base_result(const ActiveJob &j) const {
    JobResult r;
    r.prompt_tokens = static_cast<uint32_t>(j.prompt.size());
    r.cached_tokens = j.cached;
    r.cache_source = j.source;
    r.queue_s = worker::seconds_between(j.q.arrival, j.start);
    r.prefill_s = j.prefill_s;
    return r;
}

void Scheduler::Impl::release_slot(ActiveJob &j) {
    worker::Slot &slot = slots[static_cast<size_t>(j.slot)];
    slot.busy = false;
    slot.last_used = ++use_clock;
}

bool Scheduler::Impl::turn(ActiveJob &j) { return j.decoder ? decode_turn(j) : prefill_turn(j); }

bool Scheduler::Impl::prefill_turn(ActiveJob &j) {
    JobRequest &req = j.q.req;
    worker::Slot &slot = slots[static_cast<size_t>(j.slot)];
    engine::Session &s = *slot.session;
    if (j.q.handle->cancelled()) {
        // The session keeps the prefix prefilled so far: a valid state for the next request.
        say(strfmt("dstar-server: %s ctx=%s%s client disconnected during prefill", worker::request_kind(req.api),
                   j.ctx.c_str(), j.flags.c_str()));
        abandon(j, "client disconnected", false);
        return true;
    }
    const uint32_t total = static_cast<uint32_t>(j.prompt.size());
    const uint32_t pos = s.pos();
    if (pos < total) {
        // Chunks end on absolute multiples of the prefill chunk (as in a cold prefill) and at
        // the cold checkpoint boundary.
        const uint32_t chunk = opt.prefill_chunk;
        uint32_t end =
            static_cast<uint32_t>(std::min<uint64_t>(total, (static_cast<uint64_t>(pos) / chunk + 1) * chunk));
        if (j.cold_len > pos && j.cold_len < total) end = std::min(end, j.cold_len);
        try {
            s.append(j.prompt.data() + pos, end - pos);
        } catch (const std::exception &e) {
            table.changed(j.slot, s.pos());
            fail_prefill(j, e.what());
            return true;
        }
        table.changed(j.slot, end);

        const Clock::time_point now = Clock::now();
        const uint32_t done = end - j.cached, todo = total - j.cached;
        JobEvent ev;
        ev.kind = JobEvent::Kind::Progress;
        ev.done = done;
        ev.total = todo;
        j.q.handle->push(std::move(ev));
        const double elapsed = worker::seconds_between(j.start, now);
        const double interval = worker::seconds_between(j.last_chunk_t, now);
        say(strfmt("dstar-server: %s ctx=%s%s prefill chunk %u/%u (%.1f%%) chunk=%.2f t/s avg=%.2f t/s %.3fs",
                   worker::request_kind(req.api), j.ctx.c_str(), j.flags.c_str(), done, todo,
                   todo ? 100.0 * done / todo : 100.0, interval > 0 ? (done - j.last_chunk_done) / interval : 0.0,
                   elapsed > 0 ? done / elapsed : 0.0, elapsed));
        j.last_chunk_t = now;
        j.last_chunk_done = done;

        if (end > j.cached) checkpoints.maybe_continued(s, slot.frontier);
        if (end == j.cold_len && j.cold_len < total) {
            checkpoints.save_cold(s, total, slot.frontier, j.suppressed_frontier);
            j.suppressed_frontier.reset();
        }
        if (end < total) return false;
    }
    return finish_prefill(j);
}

bool Scheduler::Impl::finish_prefill(ActiveJob &j) {
    JobRequest &req = j.q.req;
    worker::Slot &slot = slots[static_cast<size_t>(j.slot)];
    engine::Session &s = *slot.session;
    const uint32_t total = static_cast<uint32_t>(j.prompt.size());

    // A binding this request did not continue from describes a conversation it replaced.
    if (!j.used_binding) table.clear_binding(j.slot);
    checkpoints.maybe_continued(s, slot.frontier);
    const Clock::time_point now = Clock::now();
    j.prefill_s = worker::seconds_between(j.start, now);
    say(strfmt("dstar-server: %s ctx=%s%s prompt done %.3fs", worker::request_kind(req.api), j.ctx.c_str(),
               j.flags.c_str(), j.prefill_s));
    if (j.cold_len > 0 && j.cold_len == total) {
        checkpoints.save_cold(s, total, slot.frontier, j.suppressed_frontier);
        j.suppressed_frontier.reset();
    }
    metrics.prefill_done(total, j.cached, total - j.cached, j.prefill_s);

    JobEvent started;
    started.kind = JobEvent::Kind::Started;
    started.result = base_result(j);
    j.q.handle->push(std::move(started));

    const uint32_t room = s.ctx() - s.pos();
    worker::DecodeSetup setup;
    setup.max_tokens = std::min(req.max_tokens, room);
    setup.prompt_tokens = total;
    setup.request_ctx = j.ctx;
    setup.trace = req.trace.get();
    setup.log = log;
    setup.request_start = j.start;
    if (req.trace) req.trace->event(strfmt("prefill done; decode_max=%u ctx_room=%u", setup.max_tokens, room));
    j.decoder = std::make_unique<worker::Decoder>(req, std::move(setup), tok);
    // Jobs that were queued at shutdown are prefilled (their state is saved), then end here.
    if (stop_requested()) {
        finish_job(j, j.decoder->stop(Finish::Error, "shutdown requested"));
        return true;
    }
    return false;
}

bool Scheduler::Impl::decode_turn(ActiveJob &j) {
    worker::Slot &slot = slots[static_cast<size_t>(j.slot)];
    engine::Session &s = *slot.session;
    worker::Decoder &d = *j.decoder;
    std::string out;
    if (j.q.handle->cancelled()) {
        out = d.stop(Finish::Error, "client disconnected");
    } else if (stop_requested()) {
        out = d.stop(Finish::Error, "shutdown requested");
    } else {
        if (d.checkpoint_allowed()) checkpoints.maybe_continued(s, slot.frontier);
        const uint32_t before = s.pos();
        worker::SessionModel model(s);
        out = d.step(model);
        if (s.pos() != before || d.model_failed()) table.changed(j.slot, s.pos());
        if (d.generated() > 0 && !j.first_token_seen) {
            j.first_token_seen = true;
            metrics.first_token(worker::seconds_between(j.q.arrival, Clock::now()));
        }
    }
    if (!d.finished()) {
        if (!out.empty()) {
            JobEvent ev;
            ev.kind = JobEvent::Kind::Text;
            ev.text = std::move(out);
            j.q.handle->push(std::move(ev));
        }
        return false;
    }
    finish_job(j, out);
    return true;
}

void Scheduler::Impl::finish_job(ActiveJob &j, const std::string &flush) {
    worker::Slot &slot = slots[static_cast<size_t>(j.slot)];
    worker::Decoder &d = *j.decoder;
    if (!flush.empty()) {
        JobEvent ev;
        ev.kind = JobEvent::Kind::Text;
        ev.text = flush;
        j.q.handle->push(std::move(ev));
    }
    JobResult r = base_result(j);
    r.finish = d.finish();
    r.error = d.error();
    r.text = d.text();
    r.generated_tokens = d.generated();
    r.decode_s = d.decode_seconds();
    if (d.stop_sequence_hit() || d.model_failed()) {
        // The session holds tokens beyond the returned text (stop sequence) or is in an
        // unknown state (evaluation failed): nothing may continue from it.
        slot.session->reset();
        slot.frontier = 0;
        table.changed(j.slot, 0);
        r.live = LiveRef{};
    } else {
        r.live = table.where(j.slot);
    }
    metrics.generation_done(d.generated(), r.decode_s);
    release_slot(j);
    JobEvent done;
    done.kind = JobEvent::Kind::Done;
    done.result = std::move(r);
    j.q.handle->push(std::move(done));
}

void Scheduler::Impl::fail_prefill(ActiveJob &j, const std::string &error) {
    worker::Slot &slot = slots[static_cast<size_t>(j.slot)];
    if (j.suppressed_frontier && slot.frontier == j.cold_len) slot.frontier = *j.suppressed_frontier;
    if (j.q.req.trace) j.q.req.trace->event("prefill failed: " + error);
    say(strfmt("dstar-server: %s ctx=%s%s prefill failed: %s", worker::request_kind(j.q.req.api), j.ctx.c_str(),
               j.flags.c_str(), error.c_str()));
    JobResult r = base_result(j);
    r.finish = Finish::Error;
    r.error = error;
    r.http_status = 500;
    r.prefill_s = worker::seconds_between(j.start, Clock::now());
    release_slot(j);
    JobEvent done;
    done.kind = JobEvent::Kind::Done;
    done.result = std::move(r);
    j.q.handle->push(std::move(done));
}

// Ends a job outside the normal decode path: the client went away during prefill (the session
// keeps the valid prefix it reached) or an unexpected failure (the session may be anywhere and
// is reset).
void Scheduler::Impl::abandon(ActiveJob &j, const std::string &error, bool reset_session) {
    worker::Slot &slot = slots[static_cast<size_t>(j.slot)];
    JobResult r = base_result(j);
    if (j.decoder) {
        r.text = j.decoder->text();
        r.generated_tokens = j.decoder->generated();
    }
    r.finish = Finish::Error;
    r.error = error;
    if (reset_session) {
        slot.session->reset();
        slot.frontier = 0;
    }
    table.changed(j.slot, slot.session->pos());
    release_slot(j);
    JobEvent done;
    done.kind = JobEvent::Kind::Done;
    done.result = std::move(r);
    j.q.handle->push(std::move(done));
}

}  // namespace dstar::server
