// ds4-bench's measurement method (features.md §8): one fixed token sequence walked to growing
// context frontiers, timing only the newest prefill interval at each, then a fixed greedy
// generation from an in-memory snapshot that is restored afterwards.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/session.h"

namespace dstar::cli::bench {

struct SweepPlan {
    uint32_t ctx_start = 2048;  // first frontier
    uint32_t ctx_max = 32768;   // last frontier (always a row)
    uint32_t step_incr = 2048;  // next = current + step_incr when step_mul is 1
    double step_mul = 1.0;      // else next = ceil(current * step_mul), at least current + 1
    uint32_t gen_tokens = 128;  // greedy decode steps per frontier
};

// Throws Error naming the problem: a zero value, ctx_start > ctx_max, step_mul < 1 or not
// finite.
void validate(const SweepPlan &plan);
// The frontier after `current` (ds4-bench's rule, clamped to ctx_max).
uint32_t next_frontier(const SweepPlan &plan, uint32_t current);
// Every frontier from ctx_start to ctx_max inclusive.  Validates the plan.
std::vector<uint32_t> frontiers(const SweepPlan &plan);

// One CSV row.  prefill_tokens = frontier - previous frontier (the frontier on the first row).
struct SweepRow {
    uint32_t ctx_tokens = 0;
    uint32_t prefill_tokens = 0;
    double prefill_seconds = 0;
    uint32_t gen_tokens = 0;
    double gen_seconds = 0;
    uint64_t kvcache_bytes = 0;  // size of the serialised session snapshot at the frontier
    std::vector<int32_t> generated;  // the tokens of the timed generation
};

// "ctx_tokens,prefill_tokens,prefill_tps,gen_tokens,gen_tps,kvcache_bytes" (no newline).
std::string csv_header();
// The row as ds4-bench prints it: rates with 2 decimals, 0.00 for a zero duration.
std::string csv_row(const SweepRow &row);

// Greedy choice that never picks `excluded` (EOS), so every row generates the same number of
// tokens.  Ties go to the lowest id.  Returns -1 only when n_vocab is 1 and that is excluded.
int32_t argmax_excluding(const float *logits, uint32_t n_vocab, int32_t excluded);

// A deterministic sequence for models without a benchmark text (synthetic files): BOS, then
// ids drawn uniformly from the vocabulary except EOS, from a 64-bit Mersenne Twister seeded
// with `seed` (the standard fixes its output, so every platform gets the same ids).
std::vector<int32_t> random_prompt(uint64_t seed, uint32_t n_tokens, uint32_t n_vocab, int32_t bos, int32_t eos);

// Runs the sweep on `session` (fresh or not; it must hold ctx_max + gen_tokens + 1 tokens)
// over `tokens` (at least ctx_max of them), calling on_row after each frontier.  Between
// rows the session is restored to the frontier's snapshot, so it ends holding the first
// ctx_max tokens.  Throws Error (too short a sequence or context, evaluation failures).
void run_sweep(engine::Session &session, const std::vector<int32_t> &tokens, const SweepPlan &plan, int32_t eos,
               const std::function<void(const SweepRow &)> &on_row);

}  // namespace dstar::cli::bench
