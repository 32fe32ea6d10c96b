// dstar-bench: prefill and decode speed of a model file on a backend.
//
//   dstar-bench -m FILE [--backend cuda|cpu] [-t N] [--chunk N] [--bandwidth GBPS]
//               [--prompt N] [--gen N] [--ctx N]                         simple mode
//   dstar-bench -m FILE (--prompt-file F | --chat-prompt-file F | --random-prompt SEED)
//               [--ctx-start N] [--ctx-max N] [--step-incr N | --step-mul F] [--gen-tokens N]
//               [--ctx-alloc N] [--csv FILE]                              ds4-bench's sweep
//
// Before either, the load is timed in three parts (open and validate the file, weight
// upload/binding, first token of a 1-token prompt) so that "model load to first token" can be
// compared with ds4.  Decode speeds are set against the memory floor (model.md §6): the bytes
// one step must read, and with --bandwidth the fraction of bandwidth / bytes reached.
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "chat/engine_prompt.h"
#include "cli/bench_floor.h"
#include "cli/bench_options.h"
#include "cli/bench_sweep.h"
#include "common/error.h"
#include "common/mapped_file.h"
#include "engine/engine.h"
#include "engine/prompt.h"
#include "engine/sampler.h"
#include "engine/session.h"
#include "gguf/reader.h"
#include "model/weights.h"

using namespace dstar;
using namespace dstar::cli::bench;

namespace {

double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct LoadTimes {
    double open_s = 0;         // map the file, parse and validate the layout, build the tokenizer
    double upload_s = 0;       // the rest of engine construction: backend, weight upload/binding
    double first_token_s = 0;  // a fresh session evaluating a 1-token prompt and picking a token
    double total() const { return open_s + upload_s + first_token_s; }
};

// The Engine opens the file itself; the open step is timed on its own first (the same work:
// mapping, parsing, binding and validating every tensor, the tokenizer) and the upload is the
// rest of the Engine's construction.
std::unique_ptr<engine::Engine> load_engine(const engine::EngineOptions &eo, LoadTimes *lt) {
    const double t0 = now_s();
    {
        gguf::Reader reader(eo.model_path);
        const model::ModelWeights weights = model::bind_model(reader);
        engine::load_tokenizer(reader, weights.config.n_vocab);
    }
    const double t1 = now_s();
    auto e = std::make_unique<engine::Engine>(eo);
    const double t2 = now_s();
    {
        engine::Session probe(*e, 2, 1);
        probe.sync({e->tokenizer().bos()});
        engine::argmax(probe.logits().data(), e->config().n_vocab);
    }
    const double t3 = now_s();
    lt->open_s = t1 - t0;
    lt->upload_s = t2 - t1 > lt->open_s ? t2 - t1 - lt->open_s : 0.0;
    lt->first_token_s = t3 - t2;
    return e;
}

void report_load(const engine::Engine &e, const LoadTimes &lt) {
    std::fprintf(stderr, "dstar-bench: model: %s\n", e.describe().c_str());
    std::fprintf(stderr,
                 "dstar-bench: load: open+validate %.3f s, weight upload/binding %.3f s, first token %.3f s; "
                 "model load to first token %.3f s\n",
                 lt.open_s, lt.upload_s, lt.first_token_s, lt.total());
    std::fprintf(stderr, "summary load open_s=%.3f upload_s=%.3f first_token_s=%.3f load_to_first_token_s=%.3f\n",
                 lt.open_s, lt.upload_s, lt.first_token_s, lt.total());
}

// One decode result against the floor: stderr text and a key=value summary line.
void report_decode(const char *label, uint32_t ctx, uint32_t gen, double gen_tps, double floor_bytes,
                   double bandwidth_gbps) {
    const double effective = gen_tps * floor_bytes / 1e9;
    std::fprintf(stderr,
                 "dstar-bench: %s at %u tokens of context: %.2f tokens/s; floor %.3f GB/token -> %.1f GB/s effective",
                 label, ctx, gen_tps, floor_bytes / 1e9, effective);
    const double floor_tps = floor_tokens_per_second(floor_bytes, bandwidth_gbps);
    if (floor_tps > 0)
        std::fprintf(stderr, "; at %.0f GB/s the floor is %.1f tokens/s: %.1f%% of it", bandwidth_gbps, floor_tps,
                     100.0 * gen_tps / floor_tps);
    std::fputc('\n', stderr);
    std::fprintf(stderr,
                 "summary decode ctx_tokens=%u gen_tokens=%u gen_tps=%.2f floor_bytes=%.0f effective_gbps=%.2f", ctx, gen,
                 gen_tps, floor_bytes, effective);
    if (floor_tps > 0)
        std::fprintf(stderr, " bandwidth_gbps=%.1f floor_tps=%.2f floor_fraction=%.4f", bandwidth_gbps, floor_tps,
                     gen_tps / floor_tps);
    std::fputc('\n', stderr);
}

int run_simple(engine::Engine &e, const BenchOptions &o) {
    const model::ModelConfig &c = e.config();
    const uint32_t ctx = o.ctx ? o.ctx : o.prompt_tokens + o.gen + 1;
    const std::vector<int32_t> prompt =
        random_prompt(1, o.prompt_tokens, c.n_vocab, e.tokenizer().bos(), e.tokenizer().eos());
    engine::Session s(e, ctx, o.chunk());
    const double t0 = now_s();
    s.sync(prompt);
    const double t1 = now_s();
    for (uint32_t i = 0; i < o.gen; i++) s.append(engine::argmax(s.logits().data(), c.n_vocab));
    const double t2 = now_s();
    const double prefill = o.prompt_tokens / (t1 - t0);
    const double decode = o.gen / (t2 - t1);
    const double floor_bytes = mean_decode_floor_bytes(e.weights(), o.prompt_tokens, o.gen);
    std::printf("model:    %s\n", e.describe().c_str());
    std::printf("prefill:  %u tokens in %.3f s = %.2f tokens/s (chunk %u)\n", o.prompt_tokens, t1 - t0, prefill,
                o.chunk());
    std::printf("decode:   %u tokens in %.3f s = %.2f tokens/s (%.2f ms/token)\n", o.gen, t2 - t1, decode,
                1000.0 * (t2 - t1) / o.gen);
    std::printf("floor:    %.2f MB read per decoded token (weights + KV) -> %.2f GB/s effective\n", floor_bytes / 1e6,
                decode * floor_bytes / 1e9);
    report_decode("decode", o.prompt_tokens, o.gen, decode, floor_bytes, o.bandwidth_gbps);
    return 0;
}

std::vector<int32_t> sweep_tokens(const engine::Engine &e, const BenchOptions &o) {
    const tok::Tokenizer &tok = e.tokenizer();
    if (o.random_seed) return random_prompt(*o.random_seed, o.plan.ctx_max, e.config().n_vocab, tok.bos(), tok.eos());
    if (!o.prompt_file.empty()) return tok.encode_text(read_file(o.prompt_file));
    const std::string text = read_file(o.chat_prompt_file);
    return engine::encode_pieces(tok, chat::one_shot_prompt(o.system, text, chat::ThinkMode::None));
}

int run_sweep_mode(engine::Engine &e, const BenchOptions &o) {
    const std::vector<int32_t> tokens = sweep_tokens(e, o);
    if (tokens.size() < o.plan.ctx_max)
        fail("the prompt has %zu tokens, need at least --ctx-max=%u", tokens.size(), o.plan.ctx_max);
    FILE *out = stdout;
    if (!o.csv_path.empty()) {
        out = std::fopen(o.csv_path.c_str(), "wb");
        if (!out) fail("cannot create '%s': %s", o.csv_path.c_str(), std::strerror(errno));
    }
    std::fprintf(stderr, "dstar-bench: sweep of %zu frontiers, session of %u tokens, prefill chunk %u\n",
                 frontiers(o.plan).size(), o.ctx_alloc, o.chunk());
    std::fprintf(out, "%s\n", csv_header().c_str());
    std::fflush(out);
    try {
        engine::Session s(e, o.ctx_alloc, o.chunk());
        run_sweep(s, tokens, o.plan, e.tokenizer().eos(), [&](const SweepRow &row) {
            std::fprintf(out, "%s\n", csv_row(row).c_str());
            std::fflush(out);
            std::fprintf(stderr, "dstar-bench: prefill of %u tokens to %u: %.2f tokens/s\n", row.prefill_tokens,
                         row.ctx_tokens, row.prefill_seconds > 0 ? row.prefill_tokens / row.prefill_seconds : 0.0);
            std::fprintf(stderr, "summary prefill ctx_tokens=%u prefill_tokens=%u prefill_tps=%.2f\n", row.ctx_tokens,
                         row.prefill_tokens, row.prefill_seconds > 0 ? row.prefill_tokens / row.prefill_seconds : 0.0);
            const double gen_tps = row.gen_seconds > 0 ? row.gen_tokens / row.gen_seconds : 0.0;
            report_decode("generation", row.ctx_tokens, row.gen_tokens, gen_tps,
                          mean_decode_floor_bytes(e.weights(), row.ctx_tokens, row.gen_tokens), o.bandwidth_gbps);
        });
    } catch (...) {
        if (out != stdout) std::fclose(out);
        throw;
    }
    if (out != stdout && std::fclose(out) != 0) fail("cannot write '%s': %s", o.csv_path.c_str(), std::strerror(errno));
    return 0;
}

}  // namespace

int main(int argc, char **argv) {
    BenchOptions o;
    try {
        o = parse_bench_options(std::vector<std::string>(argv + 1, argv + argc));
    } catch (const Error &err) {
        std::fprintf(stderr, "dstar-bench: %s\n%s", err.what(), bench_usage().c_str());
        return 2;
    }
    if (o.help) {
        std::fputs(bench_usage().c_str(), stdout);
        return 0;
    }
    try {
        LoadTimes lt;
        std::unique_ptr<engine::Engine> e = load_engine(o.engine, &lt);
        report_load(*e, lt);
        return o.sweep() ? run_sweep_mode(*e, o) : run_simple(*e, o);
    } catch (const Error &err) {
        std::fprintf(stderr, "dstar-bench: %s\n", err.what());
        return 1;
    }
}
