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
    // Becomes an exact copy of `other` (a session of the same Engine): tokens, logits and KV
    // state.  The server forks a live conversation into a second slot this way instead of
    // prefilling the shared prefix again.  Throws Error if `other` does not fit this context
    // (this session is unchanged then).
    void copy_from(const Session &other);

    // ---- snapshots in ds4's DSV4 session payload layout (kvcache.md §8.2) ----
    // The 13-field header, the tokens (u32), the logits after the last one (f32 x n_vocab),
    // per-layer compressed and indexer row counts, then every layer's rows (KvState).  A
    // ds4 build of the same model shape reads it, and this reads ds4's.
    // Bytes save() writes for the current state.
    uint64_t payload_bytes() const;
    // Streams the payload to `sink` / returns it as one buffer.  Throws Error if the session
    // is empty (there are no logits to save).
    void save(const model::ByteSink &sink) const;
    std::vector<uint8_t> save() const;
    // Restores a payload of exactly `size` bytes read from `source`.  Everything checkable
    // before the rows (header fields against this model and context, token ids, row counts,
    // the exact byte count) is checked first: such a rejection throws Error and leaves the
    // session unchanged.  If `source` itself fails while the rows are read (I/O error), the
    // session is reset to empty and the error propagates.  The prefill-chunk field is not
    // compared (dstar's prefill is chunk-invariant); ds4's other checks all apply, including
    // its rule that the tokens must leave room for one more (tokens < ctx).
    void load(const model::ByteSource &source, uint64_t size);
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
