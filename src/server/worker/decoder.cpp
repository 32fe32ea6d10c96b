#include "server/worker/decoder.h"

#include <exception>

#include "chat/stream_splitter.h"

namespace dstar::server::worker {

namespace {
double seconds(std::chrono::steady_clock::duration d) { return std::chrono::duration<double>(d).count(); }
}  // namespace

Decoder::Decoder(const JobRequest &req, DecodeSetup setup, const tok::Tokenizer &tok)
    : req_(req),
      setup_(std::move(setup)),
      tok_(tok),
      sampler_(req.sampling),
      tools_(req.tools && req.api != Api::Completions),
      think_gates_(chat::think_enabled(req.mode)),
      watch_(req.prompt_text, req.mode),
      stops_(req.stop) {}

bool Decoder::checkpoint_allowed() const {
    if (!tools_) return true;
    return !watch_.saw_start() && tracker_.state() == chat::DsmlDecodeState::Outside;
}

double Decoder::decode_seconds() const { return seconds((finished_ ? t_end_ : Clock::now()) - t0_); }

std::string Decoder::flags_now() const {
    return log_flags(req_.api == Api::Responses, req_.tools, watch_.inside_reasoning(), tools_ && watch_.saw_start(),
                     tools_ && watch_.saw_end());
}

// The bytes of text_[streamed_, limit) that may go out now, never splitting a UTF-8 character
// unless this is the final flush.
std::string Decoder::take_stream(size_t limit, bool final) {
    if (limit > text_.size()) limit = text_.size();
    limit = chat::utf8_safe_limit(text_, streamed_, limit, final);
    if (limit <= streamed_) return {};
    std::string out = text_.substr(streamed_, limit - streamed_);
    streamed_ = limit;
    return out;
}

void Decoder::log_decode_progress() {
    if (!setup_.log) return;
    const Clock::time_point now = Clock::now();
    const double elapsed = seconds(now - t0_);
    const double interval = seconds(now - last_log_t_);
    const uint32_t interval_tokens = generated_ - last_log_generated_;
    const double chunk_tps = interval > 0 ? interval_tokens / interval : 0.0;
    const double avg_tps = elapsed > 0 ? generated_ / elapsed : 0.0;
    setup_.log(strfmt("dstar-server: %s ctx=%s gen=%u%s decoding chunk=%.2f t/s avg=%.2f t/s %.3fs",
                      request_kind(req_.api),
                      ctx_span(setup_.prompt_tokens + last_log_generated_, setup_.prompt_tokens + generated_).c_str(),
                      generated_, flags_suffix(flags_now()).c_str(), chunk_tps, avg_tps, elapsed));
    last_log_t_ = now;
    last_log_generated_ = generated_;
}

void Decoder::observe_tool_markers(std::string_view piece) {
    const bool had_start = watch_.saw_start(), had_end = watch_.saw_end();
    watch_.feed(piece, text_);
    if (!tools_) return;
    if (think_gates_ && watch_.inside_reasoning()) return;  // markers in reasoning are not executable
    if (watch_.saw_orphan_end() && !orphan_logged_) {
        orphan_logged_ = true;
        if (setup_.log)
            setup_.log(
                strfmt("dstar-server: chat ctx=%s%s ignored orphan tool-call end marker after %u generated tokens",
                       setup_.request_ctx.c_str(),
                       flags_suffix(log_flags(req_.api == Api::Responses, req_.tools, false, false, false)).c_str(),
                       generated_));
        if (setup_.trace)
            setup_.trace->event(strfmt("ignored orphan tool-call end marker after %u generated tokens", generated_));
    }
    if (setup_.trace) {
        if (watch_.saw_start() && !had_start)
            setup_.trace->event(strfmt("entered tool-call block after %u generated tokens", generated_));
        if (watch_.saw_end() && !had_end)
            setup_.trace->event(strfmt("closed tool-call block after %u generated tokens", generated_));
        if (generated_ >= next_tool_progress_) {
            setup_.trace->event(strfmt("progress gen=%u dsml_start=%d dsml_end=%d", generated_,
                                       watch_.saw_start() ? 1 : 0, watch_.saw_end() ? 1 : 0));
            next_tool_progress_ += 128;
        }
    }
}

std::string Decoder::step(DecodeModel &m) {
    if (finished_) return {};
    if (generated_ >= setup_.max_tokens || m.pos() >= m.ctx()) return end(Finish::Length, {});

    const std::vector<float> &logits = m.logits();
    if (logits.size() != static_cast<size_t>(tok_.n_vocab()))
        return end(Finish::Error, strfmt("no logits to sample from (%zu values for a vocabulary of %d)", logits.size(),
                                         tok_.n_vocab()));
    // DSML syntax is decoded greedily; payloads keep the request's sampling (server.md §7.1 rule 2).
    const bool greedy = tools_ && chat::dsml_state_is_greedy(tracker_.state());
    const uint32_t n_vocab = static_cast<uint32_t>(logits.size());
    const int32_t token = greedy ? engine::argmax(logits.data(), n_vocab) : sampler_.sample(logits.data(), n_vocab);
    // The sampled EOS ends the turn and is not evaluated: the next prompt renders it.
    if (token == tok_.eos()) return end(Finish::Stop, {});

    try {
        m.append(token);
    } catch (const std::exception &e) {
        model_failed_ = true;
        return end(Finish::Error, e.what());
    }
    generated_++;

    const std::string_view piece = tok_.token_bytes_view(token);
    if (setup_.trace) setup_.trace->text(piece);
    text_.append(piece);
    if (tools_) tracker_.update(text_);
    observe_tool_markers(piece);

    const std::optional<size_t> hit = stops_.scan(text_);
    std::string out = take_stream(hit ? *hit : stops_.safe_len(text_.size()), hit.has_value());

    if (generated_ >= next_decode_log_) {
        log_decode_progress();
        next_decode_log_ += 50;
    }
    if (hit) {
        text_.resize(*hit);
        stop_hit_ = true;
        return out + end(Finish::Stop, {});
    }
    if (tools_ && watch_.saw_end()) return out + end(Finish::ToolCalls, {});
    return out;
}

std::string Decoder::stop(Finish finish, std::string error) {
    if (finished_) return {};
    return end(finish, std::move(error));
}

std::string Decoder::end(Finish finish, std::string error) {
    finished_ = true;
    t_end_ = Clock::now();
    finish_ = finish;
    error_ = std::move(error);
    // A partial tool call that was already streamed cannot be retracted: fail the turn rather
    // than let a client run a half-written call.
    if (tools_ && watch_.unterminated() && finish_ != Finish::Error) {
        finish_ = Finish::Error;
        error_ = "unterminated tool call";
    }
    if (generated_ > last_log_generated_) log_decode_progress();
    if (setup_.log) {
        const double elapsed = seconds(t_end_ - setup_.request_start);
        const std::string flags = flags_suffix(flags_now());
        if (finish_ == Finish::Error && !error_.empty())
            setup_.log(strfmt("dstar-server: %s ctx=%s gen=%u%s finish=%s error=\"%s\" %.3fs", request_kind(req_.api),
                              setup_.request_ctx.c_str(), generated_, flags.c_str(), finish_name(finish_),
                              error_.c_str(), elapsed));
        else
            setup_.log(strfmt("dstar-server: %s ctx=%s gen=%u%s finish=%s %.3fs", request_kind(req_.api),
                              setup_.request_ctx.c_str(), generated_, flags.c_str(), finish_name(finish_), elapsed));
    }
    return take_stream(text_.size(), true);
}

}  // namespace dstar::server::worker
