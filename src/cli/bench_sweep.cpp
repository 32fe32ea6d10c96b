#include "cli/bench_sweep.h"

#include <chrono>
#include <cmath>
#include <random>

#include "common/error.h"

namespace dstar::cli::bench {

namespace {

double now_seconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

void validate(const SweepPlan &p) {
    if (p.ctx_start == 0) fail("--ctx-start must be a positive number of tokens");
    if (p.ctx_max == 0) fail("--ctx-max must be a positive number of tokens");
    if (p.gen_tokens == 0) fail("--gen-tokens must be a positive number of tokens");
    if (p.ctx_start > p.ctx_max) fail("--ctx-start (%u) must be <= --ctx-max (%u)", p.ctx_start, p.ctx_max);
    if (!std::isfinite(p.step_mul) || p.step_mul < 1.0) fail("--step-mul must be a finite number >= 1");
    if (p.step_mul == 1.0 && p.step_incr == 0) fail("--step-incr must be positive when --step-mul is 1");
}

uint32_t next_frontier(const SweepPlan &p, uint32_t current) {
    if (current >= p.ctx_max) return p.ctx_max;
    uint64_t next;
    if (p.step_mul == 1.0) {
        next = static_cast<uint64_t>(current) + p.step_incr;
    } else {
        const double v = std::ceil(static_cast<double>(current) * p.step_mul);
        next = v >= static_cast<double>(p.ctx_max) ? p.ctx_max : static_cast<uint64_t>(v);
        if (next <= current) next = static_cast<uint64_t>(current) + 1;
    }
    return next > p.ctx_max ? p.ctx_max : static_cast<uint32_t>(next);
}

std::vector<uint32_t> frontiers(const SweepPlan &p) {
    validate(p);
    std::vector<uint32_t> out;
    for (uint32_t f = p.ctx_start;; f = next_frontier(p, f)) {
        out.push_back(f);
        if (f >= p.ctx_max) break;
    }
    return out;
}

std::string csv_header() { return "ctx_tokens,prefill_tokens,prefill_tps,gen_tokens,gen_tps,kvcache_bytes"; }

std::string csv_row(const SweepRow &r) {
    const double prefill_tps = r.prefill_seconds > 0 ? r.prefill_tokens / r.prefill_seconds : 0.0;
    const double gen_tps = r.gen_seconds > 0 ? r.gen_tokens / r.gen_seconds : 0.0;
    return strformat("%u,%u,%.2f,%u,%.2f,%llu", r.ctx_tokens, r.prefill_tokens, prefill_tps, r.gen_tokens, gen_tps,
                     static_cast<unsigned long long>(r.kvcache_bytes));
}

int32_t argmax_excluding(const float *logits, uint32_t n_vocab, int32_t excluded) {
    int32_t best = -1;
    for (uint32_t i = 0; i < n_vocab; i++) {
        const auto id = static_cast<int32_t>(i);
        if (id == excluded) continue;
        if (best < 0 || logits[i] > logits[best]) best = id;
    }
    return best;
}

std::vector<int32_t> random_prompt(uint64_t seed, uint32_t n_tokens, uint32_t n_vocab, int32_t bos, int32_t eos) {
    if (n_vocab < 2) fail("a random prompt needs a vocabulary of at least 2 tokens");
    std::mt19937_64 rng(seed);
    std::vector<int32_t> out;
    out.reserve(n_tokens);
    if (n_tokens > 0) out.push_back(bos);
    while (out.size() < n_tokens) {
        // Plain modulo rather than a distribution object: the standard leaves those
        // implementation-defined, and the sequence must be the same everywhere.
        const auto id = static_cast<int32_t>(rng() % n_vocab);
        if (id != eos) out.push_back(id);
    }
    return out;
}

void run_sweep(engine::Session &s, const std::vector<int32_t> &tokens, const SweepPlan &plan, int32_t eos,
               const std::function<void(const SweepRow &)> &on_row) {
    const std::vector<uint32_t> fronts = frontiers(plan);
    if (tokens.size() < plan.ctx_max)
        fail("the benchmark sequence has %zu tokens, need at least --ctx-max=%u", tokens.size(), plan.ctx_max);
    if (static_cast<uint64_t>(plan.ctx_max) + plan.gen_tokens >= s.ctx())
        fail("the session context (%u) must be greater than ctx-max + gen-tokens (%u + %u)", s.ctx(), plan.ctx_max,
             plan.gen_tokens);
    uint32_t previous = 0;
    for (const uint32_t f : fronts) {
        SweepRow row;
        row.ctx_tokens = f;
        row.prefill_tokens = f - previous;
        row.gen_tokens = plan.gen_tokens;
        const std::vector<int32_t> prefix(tokens.begin(), tokens.begin() + f);

        const double p0 = now_seconds();
        s.sync(prefix);  // incremental: only the tokens after the restored previous frontier
        row.prefill_seconds = now_seconds() - p0;

        const std::vector<uint8_t> snapshot = s.save();  // untimed, the disk KV payload bytes
        row.kvcache_bytes = snapshot.size();

        const uint32_t vocab = static_cast<uint32_t>(s.logits().size());
        row.generated.reserve(plan.gen_tokens);
        const double g0 = now_seconds();
        for (uint32_t i = 0; i < plan.gen_tokens; i++) {
            const int32_t t = argmax_excluding(s.logits().data(), vocab, eos);
            if (t < 0) fail("no token other than EOS to generate at frontier %u", f);
            s.append(t);
            row.generated.push_back(t);
        }
        row.gen_seconds = now_seconds() - g0;

        s.load(snapshot);  // untimed
        on_row(row);
        previous = f;
    }
}

}  // namespace dstar::cli::bench
