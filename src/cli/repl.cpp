#include "cli/repl.h"

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <unistd.h>

#include "chat/engine_prompt.h"
#include "chat/prompt_text.h"
#include "cli/printer.h"
#include "cli/run.h"
#include "common/error.h"
#include "common/mapped_file.h"
#include "engine/prompt.h"
#include "engine/sampler.h"
#include "engine/session.h"

namespace dstar::cli {

namespace {

// The conversation as exact tokens (ds4's CLI transcript, prompt.md §3.2): BOS, the Think Max
// prefix when active, the system text, then per turn USER text ASSISTANT marker, the sampled
// tokens and EOS.  Past reasoning is kept.
class Transcript {
public:
    Transcript(engine::Engine &e, const Options &o) : e_(e), o_(o) {}

    std::vector<int32_t> header(chat::ThinkMode mode) const {
        chat::PromptPieces p{chat::PromptPiece::token(chat::SpecialToken::Bos)};
        if (mode == chat::ThinkMode::Max) p.push_back(chat::PromptPiece::plain(chat::think_max_prefix()));
        if (!o_.system.empty()) p.push_back(chat::PromptPiece::plain(o_.system));
        return engine::encode_pieces(e_.tokenizer(), p);
    }

    engine::Engine &e_;
    const Options &o_;
    std::vector<int32_t> turns;  // everything after the header
};

void help() {
    std::printf("commands: /think  /nothink  /think-max  /ctx N  /read FILE  /help  /quit\n"
                "Ctrl-C stops a generation; at the prompt (or Ctrl-D) it exits.\n");
}

}  // namespace

int run_repl(engine::Engine &e, Options o) {
    const tok::Tokenizer &tok = e.tokenizer();
    auto session = std::make_unique<engine::Session>(e, o.ctx, o.prefill_chunk);
    engine::Sampler sampler(o.sampling);
    Transcript tr(e, o);
    const bool tty = isatty(fileno(stdin));
    std::fprintf(stderr, "dstar: interactive chat, mode %s, context %u. /help for commands.\n",
                 chat::think_mode_name(effective_mode(o)), o.ctx);
    install_interrupt_handler();
    for (;;) {
        if (tty) {
            std::printf("> ");
            std::fflush(stdout);
        }
        std::string line;
        clear_interrupt();
        if (!std::getline(std::cin, line)) break;
        if (interrupted()) break;
        std::string text = line;
        if (line == "/quit" || line == "/exit") break;
        if (line == "/help") {
            help();
            continue;
        }
        if (line == "/think" || line == "/nothink" || line == "/think-max") {
            o.think = line == "/think" ? chat::ThinkMode::High : line == "/nothink" ? chat::ThinkMode::None
                                                                                   : chat::ThinkMode::Max;
            if (o.think == chat::ThinkMode::Max && effective_mode(o) != chat::ThinkMode::Max)
                std::fprintf(stderr, "dstar: Think Max needs a context of at least %lld tokens; using plain thinking\n",
                             static_cast<long long>(chat::kThinkMaxMinContext));
            std::fprintf(stderr, "dstar: mode %s\n", chat::think_mode_name(effective_mode(o)));
            continue;
        }
        if (line.rfind("/ctx", 0) == 0) {
            const long n = std::strtol(line.c_str() + 4, nullptr, 10);
            if (n <= 0) {
                std::fprintf(stderr, "dstar: /ctx needs a positive number\n");
                continue;
            }
            o.ctx = static_cast<uint32_t>(n);
            session = std::make_unique<engine::Session>(e, o.ctx, o.prefill_chunk);
            std::fprintf(stderr, "dstar: context %u (the conversation is kept and re-evaluated)\n", o.ctx);
            continue;
        }
        if (line.rfind("/read", 0) == 0) {
            std::string path = line.substr(5);
            path.erase(0, path.find_first_not_of(" \t"));
            if (path.empty()) {
                std::fprintf(stderr, "dstar: /read needs a file path\n");
                continue;
            }
            try {
                text = read_file(path);
            } catch (const Error &err) {
                std::fprintf(stderr, "dstar: %s\n", err.what());
                continue;
            }
        } else if (!line.empty() && line[0] == '/') {
            std::fprintf(stderr, "dstar: unknown command %s (/help)\n", line.c_str());
            continue;
        }
        if (text.empty()) continue;

        // Build this turn and the full prompt.
        const chat::ThinkMode mode = effective_mode(o);
        chat::PromptPieces turn{chat::PromptPiece::token(chat::SpecialToken::User), chat::PromptPiece::plain(text)};
        const chat::PromptPieces pre = chat::assistant_prefix(mode);
        turn.insert(turn.end(), pre.begin(), pre.end());
        std::vector<int32_t> prompt = tr.header(mode);
        const size_t turns_before = tr.turns.size();
        prompt.insert(prompt.end(), tr.turns.begin(), tr.turns.end());
        const std::vector<int32_t> turn_ids = engine::encode_pieces(tok, turn);
        prompt.insert(prompt.end(), turn_ids.begin(), turn_ids.end());
        try {
            session->sync(prompt);
        } catch (const Error &err) {
            std::fprintf(stderr, "dstar: %s\n", err.what());
            session->reset();
            continue;
        }
        tr.turns.insert(tr.turns.end(), turn_ids.begin(), turn_ids.end());

        TokenPrinter printer(tok, stdout, chat::think_enabled(mode));
        int generated = 0;
        bool stopped_early = false;
        while (generated < o.n_predict) {
            if (interrupted()) {
                stopped_early = true;
                break;
            }
            if (session->pos() >= session->ctx()) {
                std::fprintf(stderr, "\ndstar: context full (%u tokens); /ctx N to enlarge\n", session->ctx());
                break;
            }
            const int32_t id = sampler.sample(session->logits().data(), e.config().n_vocab);
            if (id == tok.eos()) break;
            printer.token(id);
            tr.turns.push_back(id);
            generated++;
            try {
                session->append(id);
            } catch (const Error &err) {
                std::fprintf(stderr, "\ndstar: %s\n", err.what());
                break;
            }
        }
        printer.finish();
        if (stopped_early && generated == 0) {
            tr.turns.resize(turns_before);  // nothing answered: forget the turn
        } else {
            tr.turns.push_back(tok.eos());
        }
        if (stopped_early) std::fprintf(stderr, "dstar: stopped\n");
    }
    return 0;
}

}  // namespace dstar::cli
