// Token sampling with ds4's semantics: greedy, temperature, top-k, top-p, min-p, seeded RNG.
#pragma once

#include <cstdint>
#include <vector>

namespace dstar::engine {

struct SamplerParams {
    float temperature = 1.0f;  // <= 0: greedy (argmax)
    int top_k = 0;             // 0: off; capped at 1024 like ds4
    float top_p = 1.0f;        // nucleus mass; 1 (or <= 0, > 1): off
    float min_p = 0.05f;       // keep tokens with p >= min_p * p(top)
    uint64_t seed = 0;         // 0: derive from the clock
};

struct TokenScore {
    int32_t id;
    float logit;
    float logprob;  // log-softmax in double precision, stored as f32
};

// Index of the largest finite logit (lowest id on ties).
int32_t argmax(const float *logits, uint32_t n_vocab);

// The k largest logits, sorted by logit then lower id, with log-probabilities (ds4's
// ds4_session_top_logprobs).
std::vector<TokenScore> top_logprobs(const float *logits, uint32_t n_vocab, int k);

class Sampler {
public:
    explicit Sampler(const SamplerParams &p);
    const SamplerParams &params() const { return p_; }
    int32_t sample(const float *logits, uint32_t n_vocab);
    // The RNG state (to checkpoint a generation).
    uint64_t rng_state() const { return rng_; }
    void set_rng_state(uint64_t s) { rng_ = s; }

private:
    int32_t sample_full_vocab(const float *logits, uint32_t n_vocab, float top_p, float min_p);
    float next_uniform();

    SamplerParams p_;
    uint64_t rng_;
};

}  // namespace dstar::engine
