// The four generating endpoints: prepare the request, queue the job, and answer with one JSON
// body or an SSE stream (spec server.md §8-§13, §15).
#include <chrono>
#include <ctime>

#include "common/error.h"
#include "server/api/bindings.h"
#include "server/api/ids.h"
#include "server/api/log.h"
#include "server/api/reply_format.h"
#include "server/api/server_context.h"
#include "server/api/trace_report.h"

namespace dstar::server::api {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::chrono::milliseconds kPoll{250};

ApiError job_failure(Api api, const JobResult &r) {
    ApiError e;
    e.status = r.http_status;
    if (r.http_status == 409) {
        e.message = api == Api::Messages
                        ? "Anthropic continuation state is not available; retry by replaying the full messages history"
                        : "Responses continuation state is not available; retry by replaying the full input history";
    } else if (r.http_status == 503) {
        e.message = "server shutting down";
    } else {
        e.message = r.error.empty() ? "generation failed" : r.error;
    }
    return e;
}

// One queued job, from submission to the last byte.  Shared with the SSE content provider,
// which runs after the handler returned.
struct Call {
    Call(ServerContext &c, Api a, PreparedRequest &prepared, std::string_view body)
        : ctx(c), state(c.state), api(a), params(prepared.params), ids(a == Api::Messages ? "toolu_" : "call_", c.state.memory),
          t0(Clock::now()) {
        JobRequest &job = prepared.job;
        job.number = ++ctx.request_counter;
        // The facts the reply needs later; the job itself (with its tokens) goes to the worker.
        info.api = job.api;
        info.number = job.number;
        info.conv = job.conv;
        info.mode = job.mode;
        info.tools = job.tools;
        info.prompt_text = job.prompt_text;
        info.stream = job.stream;

        setup.api = api;
        setup.model = job.conv.model;
        setup.created = static_cast<int64_t>(std::time(nullptr));
        const std::string n = std::to_string(job.number);
        setup.id = api == Api::Responses ? random_id("resp_", 12) : (api == Api::Completions ? "cmpl-" : "chatcmpl-") + n;
        setup.thinking = api != Api::Completions && job.prompt_text.ends_with("<think>");
        setup.tools = job.tools;
        setup.include_usage = params.include_usage;
        setup.reasoning_summary = job.conv.reasoning_summary;
        setup.tool_specs = job.conv.tool_specs;

        if (ctx.trace) {
            job.trace = ctx.trace->begin(job.number);
            trace_request(*job.trace, job, params, prepared.replay, body);
            trace = job.trace;
        }
        handle = state.scheduler->submit(std::move(job));
    }

    ServerContext &ctx;
    const ServingState state;
    const Api api;
    const GenParams params;
    JobRequest info;
    ReplySetup setup;
    CallIdSource ids;
    std::shared_ptr<JobHandle> handle;
    std::shared_ptr<TraceRecord> trace;
    const Clock::time_point t0;

    double elapsed() const { return std::chrono::duration<double>(Clock::now() - t0).count(); }

    FinalReply reply_of(const JobResult &r, std::string_view text) {
        return api == Api::Completions ? completion_reply(r, text) : chat_reply(r, text, setup.thinking, {}, ids);
    }

    // Waits for the first event that decides the HTTP status: Started (the prompt is in, the
    // answer will be a 200) or Done (refused, or finished before any token).
    JobEvent wait_decided() {
        for (;;) {
            std::optional<JobEvent> ev = handle->next(std::chrono::seconds(1));
            if (ev && (ev->kind == JobEvent::Kind::Done || ev->kind == JobEvent::Kind::Started)) return std::move(*ev);
        }
    }

    JobResult wait_done() {
        for (;;) {
            std::optional<JobEvent> ev = handle->next(std::chrono::seconds(1));
            if (ev && ev->kind == JobEvent::Kind::Done) return std::move(ev->result);
        }
    }

    void whole(httplib::DataSink &sink);

    // The reply exists: remember its tool calls for exact replay and bind the slot for the
    // client's continuation, before the client can see the final bytes and send its next
    // request.  Nothing is bound for a client that went away.
    void record(const JobResult &r, const FinalReply &reply, bool client_alive) {
        if (client_alive) {
            if (state.memory && !reply.calls.empty() && !reply.raw_block.empty()) {
                std::vector<std::string> call_ids;
                for (const ReplyToolCall &c : reply.calls) call_ids.push_back(c.id);
                state.memory->remember(call_ids, reply.raw_block);
            }
            if (r.live.slot >= 0) {
                if (std::optional<Binding> b = binding_after(info, reply)) state.scheduler->bind(r.live, std::move(*b));
            }
        }
        if (reply.recovered) {
            log_line(strformat("dstar-server: %s #%llu invalid tool call returned as assistant text finish=%s: %s",
                               api_name(api), static_cast<unsigned long long>(info.number), finish_name(reply.finish),
                               reply.parse_error.c_str()));
        }
        if (trace) {
            if (!client_alive) trace->event("client disconnected");
            trace_reply(*trace, r, reply, elapsed());
            ctx.trace->finish(*trace);
        }
        log_line(strformat("dstar-server: %s #%llu%s prompt=%u cached=%u gen=%u cache=%s%s finish=%s %.2fs", api_name(api),
                           static_cast<unsigned long long>(info.number), info.stream ? " stream" : "", r.prompt_tokens,
                           r.cached_tokens, r.generated_tokens, r.cache_source.empty() ? "none" : r.cache_source.c_str(),
                           reply.calls.empty() ? "" : strformat(" tools=%zu", reply.calls.size()).c_str(),
                           client_alive ? finish_name(reply.finish) : "client-disconnected", elapsed()));
    }

    // A job the worker refused (409 continuation gone, 500 prefill failed, 503 shutdown).
    ApiError failed(const JobResult &r) {
        const ApiError e = job_failure(api, r);
        log_line(strformat("dstar-server: %s #%llu failed: %d %s", api_name(api),
                           static_cast<unsigned long long>(info.number), e.status, e.message.c_str()));
        // 409s are not traced (as ds4); a prefill failure is, with the worker's event.
        if (trace && r.http_status != 409) {
            trace->line("error", std::to_string(e.status) + " " + e.message);
            ctx.trace->finish(*trace);
        }
        return e;
    }

    void stream(std::optional<JobEvent> first, httplib::DataSink &sink);
};

// A non-streaming reply whose generation is running.  No byte of JSON is ready before the end,
// but a client that gave up must not keep the engine busy until max_tokens: while waiting, a
// space goes out every couple of seconds (whitespace before a JSON value is valid JSON), and a
// failed write cancels the job.  (ds4 cannot notice such a client at all.)
void Call::whole(httplib::DataSink &sink) {
    const std::chrono::milliseconds heartbeat = std::min<std::chrono::milliseconds>(std::chrono::seconds(2), ctx.opt.keepalive_interval);
    const std::chrono::milliseconds poll = std::min(kPoll, heartbeat);
    Clock::time_point last_write = Clock::now();
    for (;;) {
        std::optional<JobEvent> ev = handle->next(poll);
        // Token events come all the time while generating: the heartbeat goes by the clock.
        if (!(ev && ev->kind == JobEvent::Kind::Done) && Clock::now() - last_write >= heartbeat) {
            last_write = Clock::now();
            if (!sink.write(" ", 1)) {
                handle->cancel();
                const JobResult r = wait_done();
                if (r.http_status != 0)
                    failed(r);
                else
                    record(r, reply_of(r, r.text), false);
                return;
            }
        }
        if (!ev || ev->kind != JobEvent::Kind::Done) continue;
        const JobResult &r = ev->result;
        if (r.http_status != 0) {
            // The status line went out already: the body is the error object alone.
            const std::string json = error_body(failed(r), error_style_for(api)) + "\n";
            sink.write(json.data(), json.size());
            return;
        }
        const FinalReply reply = reply_of(r, r.text);
        record(r, reply, true);
        const std::string json = reply_json(setup, reply) + "\n";
        sink.write(json.data(), json.size());
        return;
    }
}

void Call::stream(std::optional<JobEvent> ev, httplib::DataSink &sink) {
    std::unique_ptr<StreamEncoder> enc = make_stream_encoder(setup, ids);
    std::string all;  // generated text so far
    bool started = false, alive = true;
    Clock::time_point last_write = t0;
    auto write = [&](const std::string &bytes) {
        if (!alive || bytes.empty()) return;
        if (!sink.write(bytes.data(), bytes.size())) alive = false;
        last_write = Clock::now();
    };
    auto start = [&](const JobResult &partial) {
        if (started) return;
        write(enc->start(usage_of(partial)));
        started = true;
    };
    const std::chrono::milliseconds poll = std::min(kPoll, ctx.opt.keepalive_interval);
    for (;;) {
        if (!ev) {
            // Waiting (queue, prefill, a slow token): notice a client that went away, keep a
            // live one from timing out.
            if (!sink.is_writable()) alive = false;
            else if (Clock::now() - last_write >= ctx.opt.keepalive_interval) write(enc->keepalive());
        } else if (ev->kind == JobEvent::Kind::Started) {
            start(ev->result);
        } else if (ev->kind == JobEvent::Kind::Text) {
            start(JobResult{});
            all += ev->text;
            write(enc->text(all));
        } else if (ev->kind == JobEvent::Kind::Done) {
            const JobResult &r = ev->result;
            if (r.http_status != 0) {
                write(sse_error_event(failed(r).message, error_style_for(api)));
                return;
            }
            start(r);
            const bool extends = r.text.size() >= all.size() && r.text.compare(0, all.size(), all) == 0;
            const FinalReply reply = enc->finalize(r, extends ? std::string_view(r.text) : std::string_view(all));
            record(r, reply, alive);
            write(enc->finish(reply));
            return;
        }
        if (!alive) break;
        ev = handle->next(poll);
    }
    // The client is gone: stop the job and wait for its end, so its trace block is complete.
    handle->cancel();
    const JobResult r = wait_done();
    if (r.http_status != 0) {
        failed(r);
        return;
    }
    const bool extends = r.text.size() >= all.size() && r.text.compare(0, all.size(), all) == 0;
    record(r, reply_of(r, extends ? std::string_view(r.text) : std::string_view(all)), false);
}

}  // namespace

// A 200 reply whose body `produce` writes as the job runs.  The provider runs outside
// httplib's handler try-block: an exception there would end the process, so it ends only
// this reply; headers that could not be written (client gone already) stop the job.
template <class Produce>
static void provide_body(const std::shared_ptr<Call> &call, httplib::Response &res, const char *content_type,
                         Produce produce) {
    res.status = 200;
    res.set_chunked_content_provider(
        content_type,
        [call, produce = std::move(produce)](size_t, httplib::DataSink &sink) mutable {
            try {
                produce(sink);
            } catch (const std::exception &e) {
                log_line(strformat("dstar-server: %s #%llu reply failed: %s", api_name(call->api),
                                   static_cast<unsigned long long>(call->info.number), e.what()));
                return false;
            }
            sink.done();
            return true;
        },
        [call](bool success) {
            if (!success) call->handle->cancel();
        });
}

// Non-streaming: the status is known once the job started generating (or ended before).
static void answer_whole(const std::shared_ptr<Call> &call, httplib::Response &res, ErrorStyle style) {
    JobEvent first = call->wait_decided();
    if (first.kind == JobEvent::Kind::Done) {
        const JobResult &r = first.result;
        if (r.http_status != 0) {
            send_error(res, call->failed(r), style);
            return;
        }
        const FinalReply reply = call->reply_of(r, r.text);
        call->record(r, reply, true);
        send_json(res, 200, reply_json(call->setup, reply));
        return;
    }
    provide_body(call, res, "application/json", [call](httplib::DataSink &sink) { call->whole(sink); });
}

void handle_generate(ServerContext &ctx, Api api, const std::string &body, httplib::Response &res) {
    const ErrorStyle style = error_style_for(api);
    if (!check_serving(ctx, res, style)) return;
    Prepared prepared = prepare_request(api, body, ctx.prepare_env());
    if (prepared.error) {
        send_error(res, *prepared.error, style);
        return;
    }
    auto call = std::make_shared<Call>(ctx, api, prepared.request, body);

    if (!call->params.stream) {
        answer_whole(call, res, style);
        return;
    }

    // A job the worker refuses at once still gets a real HTTP status; anything that takes
    // longer than a keepalive interval is answered as a stream (errors then come as an SSE
    // error event).
    std::optional<JobEvent> first = call->handle->next(ctx.opt.keepalive_interval);
    if (first && first->kind == JobEvent::Kind::Done && first->result.http_status != 0) {
        send_error(res, call->failed(first->result), style);
        return;
    }
    res.set_header("Cache-Control", "no-cache");
    provide_body(call, res, "text/event-stream",
                 [call, first = std::move(first)](httplib::DataSink &sink) mutable { call->stream(std::move(first), sink); });
}

}  // namespace dstar::server::api
