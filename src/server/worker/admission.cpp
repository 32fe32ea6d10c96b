// Admission: a queued job takes an idle slot.  The slot is the idle one whose live session it
// reuses most (kvcache.md §2 rules 1-6, 409 rule); on a miss it is an empty slot, else the
// least recently used idle one (saved to disk as "evict" first), filled by a live fork of
// another slot, a disk checkpoint, or nothing (cold prefill).
#include <chrono>
#include <exception>

#include "server/worker/live_reuse.h"
#include "server/worker/scheduler_impl.h"

namespace dstar::server {

using worker::ActiveJob;
using worker::Clock;
using worker::LiveMatch;
using worker::LiveRule;
using worker::QueuedJob;
using worker::strfmt;

namespace {

// A request without a seed gets one from the clock, the request number and a counter (ds4
// also mixes in time and a sequence number): concurrent requests never share a sequence.
uint64_t derive_seed(uint64_t number, uint64_t counter) {
    const uint64_t now = static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
    uint64_t s = now ^ (number << 32) ^ (counter * 0x9e3779b97f4a7c15ULL);
    return s ? s : 1;
}

std::string conflict_message(Api api) {
    return api == Api::Messages
               ? "Anthropic continuation state is not available; retry by replaying the full messages history"
               : "Responses continuation state is not available; retry by replaying the full input history";
}

}  // namespace

bool Scheduler::Impl::has_idle_slot() const {
    for (const worker::Slot &s : slots)
        if (!s.busy) return true;
    return false;
}

int Scheduler::Impl::choose_victim() const {
    int best = -1;
    for (size_t i = 0; i < slots.size(); i++) {
        const worker::Slot &s = slots[i];
        if (s.busy) continue;
        if (s.session->pos() == 0) return static_cast<int>(i);
        if (best < 0 || s.last_used < slots[static_cast<size_t>(best)].last_used) best = static_cast<int>(i);
    }
    return best;
}

// A fork is worth a copy of the whole KV state once the shared prefix is at least a prefill
// chunk or the disk cache's minimum checkpoint, whichever is smaller.
uint32_t Scheduler::Impl::fork_min_tokens() const {
    const uint32_t disk_min = checkpoints.enabled() ? checkpoints.min_tokens() : 512;
    const uint32_t m = std::min(disk_min, opt.prefill_chunk);
    return m ? m : 1;
}

// Rules 1-6 against every idle slot; the most reused tokens win (then the most recent slot).
// A request whose tool outputs only a live binding can answer accepts rules 1-3 only.
std::optional<Scheduler::Impl::LiveChoice> Scheduler::Impl::best_live_match(const JobRequest &req) const {
    std::optional<LiveChoice> best;
    for (size_t i = 0; i < slots.size(); i++) {
        if (slots[i].busy) continue;
        const std::optional<Binding> b = table.binding(static_cast<int>(i));
        LiveMatch m = worker::match_live(req, slots[i].session->tokens(), b ? &*b : nullptr, tok);
        if (m.rule == LiveRule::None) continue;
        if (req.requires_live_tool_state && !worker::live_rule_is_tool_binding(m.rule)) continue;
        if (!best || m.cached > best->match.cached ||
            (m.cached == best->match.cached && slots[i].last_used > slots[static_cast<size_t>(best->slot)].last_used))
            best = LiveChoice{static_cast<int>(i), std::move(m)};
    }
    return best;
}

void Scheduler::Impl::take_live(ActiveJob &j, LiveChoice choice, worker::CacheDiag &diag) {
    const JobRequest &req = j.q.req;
    const LiveMatch &m = choice.match;
    diag = worker::capture_cache_diag(slots[static_cast<size_t>(choice.slot)].session->tokens(), req.prompt_tokens);
    j.slot = choice.slot;
    j.source = worker::live_rule_label(m.rule);
    j.cached = m.cached;
    j.used_binding = worker::live_rule_uses_binding(m.rule);
    j.prompt = std::move(choice.match.effective);
    metrics.kv_lookup("live");
    if (m.rule == LiveRule::ResponsesVisible || m.rule == LiveRule::ResponsesToolOutput)
        say(strfmt("dstar-server: responses live continuation RESPPROTO match=%s ids=%zu cached=%u prompt=%zu",
                   m.rule == LiveRule::ResponsesVisible ? "visible-prefix" : "tool-output-ids", m.matched_ids, j.cached,
                   j.prompt.size()));
    else if (m.rule == LiveRule::AnthropicToolOutput)
        say(strfmt("dstar-server: anthropic live continuation match=tool-output-ids ids=%zu cached=%u prompt=%zu",
                   m.matched_ids, j.cached, j.prompt.size()));
    else if (m.rule == LiveRule::ThinkingVisible)
        say(strfmt("dstar-server: thinking live continuation match=visible-prefix cached=%u prompt=%zu", j.cached,
                   j.prompt.size()));
}

// kvcache.md §2.1 with several slots: the victim slot is saved and refilled from a live fork,
// a disk checkpoint or nothing.
void Scheduler::Impl::take_miss(ActiveJob &j, worker::CacheDiag &diag, worker::CacheOutcome &outcome) {
    const JobRequest &req = j.q.req;
    // The idle session closest to the prompt explains the miss in the log and the trace.
    const int victim = choose_victim();
    int ref = victim;
    uint32_t ref_common = 0;
    for (size_t i = 0; i < slots.size(); i++) {
        if (slots[i].busy || slots[i].session->pos() == 0) continue;
        const uint32_t c = worker::common_prefix(slots[i].session->tokens(), req.prompt_tokens);
        if (slots[static_cast<size_t>(ref)].session->pos() == 0 || c > ref_common) {
            ref = static_cast<int>(i);
            ref_common = c;
        }
    }
    diag = worker::capture_cache_diag(slots[static_cast<size_t>(ref)].session->tokens(), req.prompt_tokens);
    if (diag.old_pos > 0)
        say(strfmt("dstar-server: live kv cache miss%s live=%u prompt=%u common=%u reason=%s",
                   req.api == Api::Responses ? " RESPPROTO" : "", diag.old_pos, diag.prompt_len, diag.common,
                   worker::cache_miss_reason(diag)));

    worker::Slot &v = slots[static_cast<size_t>(victim)];
    j.slot = victim;
    v.frontier = 0;
    // The victim's conversation may come back: keep it on disk before replacing it.
    checkpoints.save_live(*v.session, kvcache::SaveReason::Evict, table.binding(victim));

    int fork_from = -1;
    std::optional<worker::ForkMatch> fork;
    for (size_t i = 0; i < slots.size(); i++) {
        if (static_cast<int>(i) == victim) continue;
        auto f = worker::match_fork(req, slots[i].session->tokens(), fork_min_tokens(), tok);
        if (f && (!fork || f->cached > fork->cached)) {
            fork = std::move(f);
            fork_from = static_cast<int>(i);
        }
    }
    std::optional<kvcache::LoadHit> hit;
    if (fork) {
        v.session->copy_from(*slots[static_cast<size_t>(fork_from)].session);
        v.frontier = slots[static_cast<size_t>(fork_from)].frontier;
        j.source = "live-fork";
        j.cached = fork->cached;
        j.prompt = std::move(fork->effective);
        metrics.kv_lookup("live");
        say(strfmt("dstar-server: live fork slot=%d from slot=%d cached=%u prompt=%zu", victim, fork_from, j.cached,
                   j.prompt.size()));
    } else if ((hit = checkpoints.load(req.prompt_text, *v.session))) {
        v.frontier = hit->tokens;
        j.source = "disk-text";
        j.cached = hit->tokens;
        j.prompt = worker::extend_with_text(v.session->tokens(),
                                            std::string_view(req.prompt_text).substr(hit->text_bytes), tok);
        outcome.disk_cached = hit->tokens;
        outcome.disk_file = hit->file;
        metrics.kv_lookup("disk");
    } else {
        v.session->reset();
        j.source = "none";
        j.cached = 0;
        j.prompt = req.prompt_tokens;
        metrics.kv_lookup("miss");
    }
    table.changed(victim, v.session->pos());
}

void Scheduler::Impl::admit(QueuedJob q) {
    auto owned = std::make_unique<ActiveJob>();
    ActiveJob &j = *owned;
    j.q = std::move(q);
    JobRequest &req = j.q.req;
    if (j.q.handle->cancelled()) {
        reject(j.q, 0, "client disconnected");
        return;
    }
    if (req.prompt_tokens.empty()) {  // rendered prompts always start with BOS
        reject(j.q, 500, "the prompt has no tokens");
        return;
    }
    try {
        if (req.sampling.seed == 0) req.sampling.seed = derive_seed(req.number, ++seed_counter);
        std::optional<LiveChoice> live = best_live_match(req);
        if (!live && req.requires_live_tool_state) {
            say(strfmt("dstar-server: %s request %llu rejected: live tool state is gone (409)",
                       worker::request_kind(req.api), static_cast<unsigned long long>(req.number)));
            reject(j.q, 409, conflict_message(req.api));
            return;
        }
        worker::CacheDiag diag;
        worker::CacheOutcome outcome;
        if (live)
            take_live(j, std::move(*live), diag);
        else
            take_miss(j, diag, outcome);

        worker::Slot &slot = slots[static_cast<size_t>(j.slot)];
        slot.busy = true;
        slot.last_used = ++use_clock;
        j.start = Clock::now();
        j.last_chunk_t = j.start;
        const uint32_t total = static_cast<uint32_t>(j.prompt.size());
        j.ctx = worker::ctx_span(j.cached, total);
        j.flags = worker::flags_suffix(worker::log_flags(req.api == Api::Responses, req.tools, false, false, false));

        if (req.trace) {
            outcome.slot = j.slot;
            outcome.source = j.source;
            outcome.cached = j.cached;
            outcome.effective_tokens = total;
            worker::trace_cache_decision(*req.trace, diag, outcome, tok);
            req.trace->section("generated text");
        }
        say(strfmt("dstar-server: %s ctx=%s%s prompt start", worker::request_kind(req.api), j.ctx.c_str(),
                   j.flags.c_str()));

        // A prompt that reused nothing may leave a cold checkpoint at its stable boundary.
        if (j.cached == 0) {
            j.cold_len = checkpoints.cold_len(j.prompt);
            j.suppressed_frontier = checkpoints.suppress_continued(j.cold_len, slot.frontier);
        }
    } catch (const std::exception &e) {
        // Never lose a job to an unexpected failure: it ends with the reason, its slot reset.
        say(strfmt("dstar-server: request admission failed: %s", e.what()));
        if (j.slot >= 0) {
            worker::Slot &slot = slots[static_cast<size_t>(j.slot)];
            slot.session->reset();
            slot.busy = false;
            table.changed(j.slot, 0);
        }
        reject(j.q, 500, e.what());
        return;
    }
    active_count.fetch_add(1);
    active.push_back(std::move(owned));
}

}  // namespace dstar::server
