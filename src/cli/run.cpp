#include "cli/run.h"

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>

#include "chat/engine_prompt.h"
#include "cli/printer.h"
#include "common/error.h"
#include "common/mapped_file.h"
#include "engine/prompt.h"
#include "engine/sampler.h"
#include "engine/session.h"

namespace dstar::cli {

namespace {

std::atomic<bool> g_interrupt{false};

void on_sigint(int) {
    // A second Ctrl-C while one is pending falls back to the default action (exit).
    if (g_interrupt.exchange(true)) {
        std::signal(SIGINT, SIG_DFL);
        std::raise(SIGINT);
    }
}

double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// JSON string escaping for token texts, as ds4's logprob dump does it: token bytes may be
// partial UTF-8, so invalid strings have every byte >= 0x80 escaped as \u00XX (the "bytes"
// array stays authoritative).
bool utf8_valid(const std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
        const unsigned char c = static_cast<unsigned char>(s[i++]);
        if (c < 0x80) continue;
        int need;
        if (c >= 0xc2 && c <= 0xdf) need = 1;
        else if (c >= 0xe0 && c <= 0xef) need = 2;
        else if (c >= 0xf0 && c <= 0xf4) need = 3;
        else return false;
        if (i + static_cast<size_t>(need) > s.size()) return false;
        const unsigned char c1 = static_cast<unsigned char>(s[i]);
        if ((c == 0xe0 && c1 < 0xa0) || (c == 0xed && c1 >= 0xa0) || (c == 0xf0 && c1 < 0x90) ||
            (c == 0xf4 && c1 >= 0x90))
            return false;
        for (int j = 0; j < need; j++)
            if ((static_cast<unsigned char>(s[i + static_cast<size_t>(j)]) & 0xc0) != 0x80) return false;
        i += static_cast<size_t>(need);
    }
    return true;
}

void json_string(std::FILE *f, std::string_view s) {
    const bool valid = utf8_valid(s);
    std::fputc('"', f);
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') {
            std::fputc('\\', f);
            std::fputc(c, f);
        } else if (c == '\n') std::fputs("\\n", f);
        else if (c == '\r') std::fputs("\\r", f);
        else if (c == '\t') std::fputs("\\t", f);
        else if (c < 0x20 || (!valid && c >= 0x80)) std::fprintf(f, "\\u%04x", c);
        else std::fputc(c, f);
    }
    std::fputc('"', f);
}

void json_token(std::FILE *f, const tok::Tokenizer &tok, int32_t id) {
    const std::string_view b = tok.token_bytes_view(id);
    std::fprintf(f, "{\"id\":%d,\"text\":", id);
    json_string(f, b);
    std::fputs(",\"bytes\":[", f);
    for (size_t i = 0; i < b.size(); i++) std::fprintf(f, i ? ",%u" : "%u", static_cast<unsigned char>(b[i]));
    std::fputs("]}", f);
}

void prefill(engine::Session &s, const std::vector<int32_t> &prompt) {
    const bool tty = isatty(fileno(stderr));
    s.sync(prompt, [&](uint32_t done, uint32_t total) {
        if (tty && total > s.prefill_chunk())
            std::fprintf(stderr, "\rdstar: prefill %u/%u%s", done, total, done == total ? "\n" : "");
    });
}

}  // namespace

void install_interrupt_handler() {
    struct sigaction sa{};
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
}
bool interrupted() { return g_interrupt.load(); }
void clear_interrupt() {
    g_interrupt = false;
    install_interrupt_handler();
}

chat::ThinkMode effective_mode(const Options &o) { return chat::think_mode_for_context(o.think, o.ctx); }

std::vector<int32_t> build_prompt(const engine::Engine &e, const Options &o) {
    if (chat::is_prerendered_prompt(o.prompt)) return e.tokenizer().encode_rendered(o.prompt);
    return engine::encode_pieces(e.tokenizer(), chat::one_shot_prompt(o.system, o.prompt, effective_mode(o)));
}

int run_dump_tokens(const engine::Engine &e, const Options &o) {
    // Like ds4: the text itself through the rendered-chat encoder (no template).
    const tok::Tokenizer &tok = e.tokenizer();
    const std::vector<int32_t> ids = tok.encode_rendered(o.prompt);
    std::printf("[");
    for (size_t i = 0; i < ids.size(); i++) std::printf(i ? ", %d" : "%d", ids[i]);
    std::printf("]\n");
    for (int32_t id : ids) std::printf("%6d  %s\n", id, tok.token_string(id).c_str());
    return 0;
}

int run_generation(engine::Engine &e, const Options &o) {
    const std::vector<int32_t> prompt = build_prompt(e, o);
    engine::Session s(e, o.ctx, o.prefill_chunk);
    const double t0 = now_s();
    prefill(s, prompt);
    const double t1 = now_s();
    engine::Sampler sampler(o.sampling);
    TokenPrinter printer(e.tokenizer(), stdout, chat::think_enabled(effective_mode(o)));
    const uint32_t vocab = e.config().n_vocab;
    int max_tokens = o.n_predict;
    const int room = static_cast<int>(s.ctx()) - static_cast<int>(s.pos());
    if (max_tokens > room - 1) max_tokens = room > 1 ? room - 1 : 0;
    install_interrupt_handler();
    int generated = 0;
    const double t2 = now_s();
    while (generated < max_tokens && !interrupted()) {
        const int32_t tok = sampler.sample(s.logits().data(), vocab);
        if (tok == e.tokenizer().eos()) break;
        printer.token(tok);
        generated++;
        if (generated >= max_tokens) break;
        s.append(tok);
    }
    const double t3 = now_s();
    printer.finish();
    std::fprintf(stderr, "dstar: prompt %zu tokens, prefill %.2f t/s, generation %d tokens, %.2f t/s\n", prompt.size(),
                 t1 > t0 ? static_cast<double>(prompt.size()) / (t1 - t0) : 0.0, generated,
                 t3 > t2 ? static_cast<double>(generated) / (t3 - t2) : 0.0);
    return 0;
}

int run_dump_logprobs(engine::Engine &e, const Options &o) {
    const std::vector<int32_t> prompt = build_prompt(e, o);
    engine::Session s(e, o.ctx, o.prefill_chunk);
    prefill(s, prompt);
    std::FILE *f = std::fopen(o.dump_logprobs.c_str(), "wb");
    if (!f) fail("cannot open --dump-logprobs file '%s': %s", o.dump_logprobs.c_str(), std::strerror(errno));
    const int k = o.logprobs_top_k > 128 ? 128 : o.logprobs_top_k;
    const tok::Tokenizer &tok = e.tokenizer();
    const uint32_t vocab = e.config().n_vocab;
    std::fprintf(f, "{\n  \"source\":\"ds4\",\n  \"prompt_tokens\":%zu,\n  \"ctx\":%u,\n  \"top_k\":%d,\n  \"steps\":[\n",
                 prompt.size(), o.ctx, k);
    int max_tokens = o.n_predict;
    const int room = static_cast<int>(s.ctx()) - static_cast<int>(s.pos());
    if (max_tokens > room - 1) max_tokens = room > 1 ? room - 1 : 0;
    for (int step = 0; step < max_tokens; step++) {
        const std::vector<engine::TokenScore> top = engine::top_logprobs(s.logits().data(), vocab, k);
        const int32_t id = engine::argmax(s.logits().data(), vocab);
        if (step) std::fputs(",\n", f);
        std::fprintf(f, "    {\"step\":%d,\"selected\":", step);
        json_token(f, tok, id);
        std::fputs(",\"top_logprobs\":[", f);
        for (size_t i = 0; i < top.size(); i++) {
            if (i) std::fputc(',', f);
            std::fputs("{\"token\":", f);
            json_token(f, tok, top[i].id);
            std::fprintf(f, ",\"logit\":%.9g,\"logprob\":%.9g}", static_cast<double>(top[i].logit),
                         static_cast<double>(top[i].logprob));
        }
        std::fputs("]}", f);
        if (id == tok.eos()) break;
        s.append(id);
    }
    std::fputs("\n  ]\n}\n", f);
    if (std::fclose(f) != 0) fail("cannot write --dump-logprobs file '%s'", o.dump_logprobs.c_str());
    return 0;
}

int run_prompt_ids(engine::Engine &e, const Options &o) {
    engine::Session s(e, std::max<uint32_t>(o.ctx, static_cast<uint32_t>(o.prompt_ids.size())), o.prefill_chunk);
    const std::vector<float> logits =
        s.append_all_logits(o.prompt_ids.data(), static_cast<uint32_t>(o.prompt_ids.size()));
    if (!o.dump_logits.empty()) {
        write_file_atomic(o.dump_logits, logits.data(), logits.size() * sizeof(float));
        std::fprintf(stderr, "dstar: wrote %zu x %u logits to %s\n", o.prompt_ids.size(), e.config().n_vocab,
                     o.dump_logits.c_str());
    }
    // With -n N: the greedy continuation's N token ids on stdout.
    if (!o.n_given || o.n_predict <= 0) return 0;
    const uint32_t vocab = e.config().n_vocab;
    int32_t next = engine::argmax(s.logits().data(), vocab);
    std::printf("%d", next);
    for (int i = 1; i < o.n_predict && s.pos() < s.ctx(); i++) {
        s.append(next);
        next = engine::argmax(s.logits().data(), vocab);
        std::printf(" %d", next);
    }
    std::printf("\n");
    return 0;
}

}  // namespace dstar::cli
