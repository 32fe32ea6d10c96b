#include "engine/sampler.h"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace dstar::engine {

int32_t argmax(const float *logits, uint32_t n_vocab) {
    int32_t best = 0;
    float best_v = -INFINITY;
    for (uint32_t i = 0; i < n_vocab; i++)
        if (logits[i] > best_v) {
            best_v = logits[i];
            best = static_cast<int32_t>(i);
        }
    return best;
}

std::vector<TokenScore> top_logprobs(const float *logits, uint32_t n_vocab, int k) {
    if (k <= 0) return {};
    k = std::min<int>(k, static_cast<int>(n_vocab));
    std::vector<TokenScore> out;
    out.reserve(static_cast<size_t>(k) + 1);
    float max_logit = -INFINITY;
    for (uint32_t i = 0; i < n_vocab; i++) {
        const float v = logits[i];
        if (!std::isfinite(v)) continue;
        max_logit = std::max(max_logit, v);
        // Insertion keeps ties in id order (a later equal logit goes after).
        if (static_cast<int>(out.size()) == k && v <= out.back().logit) continue;
        auto it = std::upper_bound(out.begin(), out.end(), v,
                                   [](float val, const TokenScore &s) { return val > s.logit; });
        out.insert(it, TokenScore{static_cast<int32_t>(i), v, 0.0f});
        if (static_cast<int>(out.size()) > k) out.pop_back();
    }
    if (!std::isfinite(max_logit)) return {};
    double sum = 0.0;
    for (uint32_t i = 0; i < n_vocab; i++)
        if (std::isfinite(logits[i])) sum += std::exp(static_cast<double>(logits[i]) - static_cast<double>(max_logit));
    const double logsum = static_cast<double>(max_logit) + std::log(sum);
    for (auto &s : out) s.logprob = static_cast<float>(static_cast<double>(s.logit) - logsum);
    return out;
}

Sampler::Sampler(const SamplerParams &p) : p_(p) {
    rng_ = p.seed ? p.seed
                  : static_cast<uint64_t>(std::chrono::high_resolution_clock::now().time_since_epoch().count());
}

// xorshift64* (ds4's sampler RNG); a zero state is replaced by a fixed odd constant.
float Sampler::next_uniform() {
    uint64_t x = rng_;
    if (x == 0) x = 0x9e3779b97f4a7c15ULL;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_ = x;
    const uint64_t r = x * 0x2545f4914f6cdd1dULL;
    return static_cast<float>((r >> 40) & 0xffffffu) / 16777216.0f;
}

int32_t Sampler::sample_full_vocab(const float *logits, uint32_t n_vocab, float top_p, float min_p) {
    const float temp = p_.temperature;
    float max_logit = -INFINITY;
    int32_t best = 0;
    uint32_t finite = 0;
    for (uint32_t i = 0; i < n_vocab; i++) {
        if (!std::isfinite(logits[i])) continue;
        finite++;
        if (logits[i] > max_logit) {
            max_logit = logits[i];
            best = static_cast<int32_t>(i);
        }
    }
    if (finite == 0) return argmax(logits, n_vocab);
    if (top_p >= 1.0f) {
        // min-p against the top token's unnormalised weight (which is 1).
        float sum = 0.0f;
        for (uint32_t i = 0; i < n_vocab; i++) {
            if (!std::isfinite(logits[i])) continue;
            const float p = expf((logits[i] - max_logit) / temp);
            if (p >= min_p) sum += p;
        }
        if (sum <= 0.0f || !std::isfinite(sum)) return best;
        float r = next_uniform() * sum;
        for (uint32_t i = 0; i < n_vocab; i++) {
            if (!std::isfinite(logits[i])) continue;
            const float p = expf((logits[i] - max_logit) / temp);
            if (p < min_p) continue;
            r -= p;
            if (r <= 0.0f) return static_cast<int32_t>(i);
        }
        return best;
    }
    struct Cand {
        int32_t id;
        float logit, prob;
    };
    std::vector<Cand> cand;
    cand.reserve(finite);
    float sum = 0.0f;
    for (uint32_t i = 0; i < n_vocab; i++) {
        if (!std::isfinite(logits[i])) continue;
        const float p = expf((logits[i] - max_logit) / temp);
        cand.push_back({static_cast<int32_t>(i), logits[i], p});
        sum += p;
    }
    if (sum <= 0.0f || !std::isfinite(sum)) return best;
    std::stable_sort(cand.begin(), cand.end(), [](const Cand &a, const Cand &b) { return a.logit > b.logit; });
    const float min_prob = (cand[0].prob / sum) * min_p;
    float kept = 0.0f;
    size_t n = 0;
    for (size_t i = 0; i < cand.size(); i++) {
        const float p = cand[i].prob / sum;
        if (i > 0 && p < min_prob) break;
        kept += cand[i].prob;
        n++;
        if (kept / sum >= top_p) break;
    }
    if (n == 0) return best;
    float r = next_uniform() * kept;
    for (size_t i = 0; i < n; i++) {
        r -= cand[i].prob;
        if (r <= 0.0f) return cand[i].id;
    }
    return cand[n - 1].id;
}

int32_t Sampler::sample(const float *logits, uint32_t n_vocab) {
    if (p_.temperature <= 0.0f) return argmax(logits, n_vocab);
    float top_p = p_.top_p;
    if (top_p <= 0.0f || top_p > 1.0f) top_p = 1.0f;
    const float min_p = std::max(0.0f, p_.min_p);
    int top_k = p_.top_k;
    if (top_k <= 0) return sample_full_vocab(logits, n_vocab, top_p, min_p);
    top_k = std::min<int>({top_k, 1024, static_cast<int>(n_vocab)});

    // The top_k largest logits in descending order (earlier id first on ties).
    std::vector<TokenScore> top = top_logprobs(logits, n_vocab, top_k);
    if (top.empty()) return argmax(logits, n_vocab);
    std::vector<float> probs(top.size());
    float sum = 0.0f;
    for (size_t i = 0; i < top.size(); i++) {
        probs[i] = expf((top[i].logit - top[0].logit) / p_.temperature);
        sum += probs[i];
    }
    if (sum <= 0.0f || !std::isfinite(sum)) return top[0].id;
    const float min_prob = (probs[0] / sum) * min_p;
    float kept = 0.0f;
    size_t n = 0;
    for (size_t i = 0; i < top.size(); i++) {
        const float p = probs[i] / sum;
        if (i > 0 && p < min_prob) break;
        kept += probs[i];
        n++;
        if (kept / sum >= top_p) break;
    }
    if (n == 0) return top[0].id;
    float r = next_uniform() * kept;
    for (size_t i = 0; i < n; i++) {
        r -= probs[i];
        if (r <= 0.0f) return top[i].id;
    }
    return top[n - 1].id;
}

}  // namespace dstar::engine
