// The DeepSeek V4 Flash forward pass (model.md §3), written once as a sequence of backend
// ops.  Prefill and decode are the same code: a batch of n tokens at the session's next
// positions goes through every layer (layer-major), then the head.  Each evaluation is one
// backend step (backend.h): a backend that records its work (CUDA graphs) replays the
// recording of an earlier evaluation with the same step key instead of being called op by
// op.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "model/kv_state.h"
#include "model/weights.h"

namespace dstar::model {

enum class Logits {
    None,  // no logits (e.g. a non-final prefill chunk)
    Last,  // logits of the last token of the batch
    All,   // logits after every token of the batch (teacher forcing, verification)
};

class Forward {
public:
    // Binds every weight to the backend.  `weights` must outlive the Forward.
    Forward(const ModelWeights &weights, backend::Backend &be, backend::Numerics num = {});
    ~Forward();
    Forward(const Forward &) = delete;
    Forward &operator=(const Forward &) = delete;

    const ModelConfig &config() const { return cfg_; }
    backend::Backend &backend() { return be_; }
    const backend::Numerics &numerics() const { return num_; }

    // Evaluates `n` tokens at positions state.n_past() ... and advances the state.
    // With Logits::Last/All, `logits` receives 1 or n rows of n_vocab floats (host memory).
    // Throws Error if the context would overflow or a token id is invalid; the state is
    // left unchanged in that case.
    void eval(KvState &state, const int32_t *tokens, uint32_t n, Logits mode, std::vector<float> *logits);

private:
    struct LayerBinding;
    struct Scratch;
    void ensure_scratch(uint32_t n);
    // Whether layer l's indexer scores queries for a batch ending at pos0 + n (only once more
    // compressed rows exist than it keeps, model.md §3.5).
    bool indexer_queries(uint32_t l, uint32_t pos0, uint32_t n) const;
    // The backend's step key (backend.h, StepInfo): everything the ops' host-side choices
    // depend on besides the position and the token ids.
    std::string step_key(KvState &state, uint32_t n, Logits mode, uint32_t pos0) const;
    // All ops of one evaluation: the layers, then the head into the logits scratch.
    void run_ops(KvState &state, const int32_t *tokens, uint32_t n, uint32_t pos0, Logits mode);
    void attention_layer(uint32_t l, KvState &state, uint32_t n, uint32_t pos0);
    void ffn_layer(uint32_t l, const int32_t *tokens, uint32_t n);

    const ModelWeights &w_;
    const ModelConfig &cfg_;
    backend::Backend &be_;
    backend::Numerics num_;
    std::vector<LayerBinding> layers_;
    backend::Weight tok_embd_, out_hc_fn_, out_hc_scale_, out_hc_base_, out_norm_, output_;
    Scratch *scratch_ = nullptr;
    uint32_t scratch_n_ = 0;
};

}  // namespace dstar::model
