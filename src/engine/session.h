// One conversation's state on an Engine: the evaluated tokens, the KV state and the
// logits of the last position.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "engine/engine.h"
#include "model/kv_state.h"

namespace dstar::engine {

class Session {
public:
    // `ctx`: context size in tokens; `prefill_chunk`: tokens per forward batch in prefill.
    Session(Engine &engine, uint32_t ctx, uint32_t prefill_chunk = 256);

    uint32_t ctx() const { return state_.ctx(); }
    uint32_t pos() const { return state_.n_past(); }
    const std::vector<int32_t> &tokens() const { return tokens_; }
    const std::vector<float> &logits() const { return logits_; }  // after the last token
    uint32_t prefill_chunk() const { return chunk_; }
    void set_prefill_chunk(uint32_t n) { chunk_ = n ? n : 1; }

    using Progress = std::function<void(uint32_t done, uint32_t total)>;
    // Makes the session hold exactly `prompt`: when the current tokens are a prefix of it
    // only the suffix is evaluated, otherwise the state restarts from empty.  Prefill runs
    // in chunks of prefill_chunk tokens.  Throws Error (context overflow, bad token).
    void sync(const std::vector<int32_t> &prompt, const Progress &progress = nullptr);
    // Appends tokens and evaluates them (decode: one token).  A full context or an invalid
    // token id throws Error and leaves the session unchanged; a failure during evaluation
    // resets it (never a half-updated state).
    void append(const int32_t *tokens, uint32_t n);
    void append(int32_t token) { append(&token, 1); }
    // Appends tokens and returns the logits after every one of them (n rows of n_vocab):
    // teacher forcing and speculative verification.
    std::vector<float> append_all_logits(const int32_t *tokens, uint32_t n);
    void reset();

    // Snapshot: tokens, logits and the whole KV state in one byte buffer.
    std::vector<uint8_t> save() const;
    // Restores a snapshot of a session of the same model (throws Error on a mismatch or a
    // corrupt buffer; the session is unchanged then).
    void load(const std::vector<uint8_t> &bytes);

private:
    void check_room(const int32_t *tokens, uint32_t n) const;

    Engine &engine_;
    model::KvState state_;
    std::vector<int32_t> tokens_;
    std::vector<float> logits_;
    uint32_t chunk_;
};

}  // namespace dstar::engine
