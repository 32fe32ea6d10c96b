// Whole-model comparison of two backends (the CUDA backend against the CPU reference):
// teacher-forced logits over a prompt and a greedy continuation, with the ds4 oracle's
// tier-2 measures (shared/testdata/ds4-oracle/README.md), and greedy reproducibility.
// Used by the dstar-compare-backends tool and the CUDA model test.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/engine.h"

namespace dstar::backend::compare {

// One scored row (a prompt position or a generated step) of the test backend against the
// reference.
struct RowStats {
    float ref_margin = 0;       // reference top-1 minus top-2 logit
    bool argmax_equal = true;
    double e = 0;               // max over the reference's top-20 ids of |log-softmax difference|
    double kl = 0;              // KL(reference || test) of the softmax
    double max_abs = 0;         // largest |logit difference|
};

// The oracle README's tier-2 bars.
constexpr double kMargin = 1.0, kMaxE = 6.0, kMeanE = 0.30, kMeanKl = 0.013;

struct Report {
    std::string name;
    size_t n_prompt = 0;           // rows [0, n_prompt) are prompt positions, then generated steps
    std::vector<RowStats> rows;
    std::vector<int32_t> generated;  // the reference's greedy tokens (fed to both)

    double mean_e() const;
    double max_e() const;
    double mean_kl_generated() const;
    double max_abs() const;
    size_t argmax_failures() const;     // rows with reference margin >= kMargin and another argmax
    size_t argmax_differences() const;  // all rows with another argmax
    // Tier 2: no argmax failure, every e <= kMaxE, mean e <= kMeanE, mean KL over the
    // generated steps <= kMeanKl.
    bool passes() const;
    std::string summary() const;
    // One line per row whose argmax differs (reference margin first, largest first) and per
    // row among the `worst` largest errors: where the two backends part ways.
    std::string details(size_t worst = 5) const;
};

RowStats compare_row(const float *ref, const float *test, uint32_t vocab);

// `ref` evaluates `prompt` (logits at every position, in prefill chunks of `chunk`) and then
// generates `gen` tokens greedily one at a time; `test` does the same with the reference's
// tokens fed to it (teacher forcing).
Report teacher_forced(engine::Engine &ref, engine::Engine &test, const std::vector<int32_t> &prompt, uint32_t gen,
                      uint32_t chunk, const std::string &name);

// Greedy decoding of `gen` tokens after `prompt`, twice in fresh sessions: equal tokens and
// bit-identical logits at every step?
struct Repro {
    bool identical = true;
    size_t first_difference = 0;  // step of the first difference (when not identical)
    std::vector<int32_t> tokens;
};
Repro greedy_twice(engine::Engine &e, const std::vector<int32_t> &prompt, uint32_t gen, uint32_t chunk);

// `n` token ids: BOS, then seeded random ids below the vocabulary size.
std::vector<int32_t> random_prompt(const engine::Engine &e, uint32_t n, uint32_t seed);

}  // namespace dstar::backend::compare
