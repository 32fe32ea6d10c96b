// The complete per-session decode state of the model (model.md §4): for every layer the raw
// sliding window, compressed rows, indexer rows and compressor frontiers, plus the token
// count and the last token's hyper-connection streams.  Lives in backend memory; save()
// and load() move it to and from a byte buffer (the disk KV cache builds on this).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "model/config.h"

namespace dstar::model {

class KvState {
public:
    // Sizes every cache for `ctx` tokens (compressed caches: ctx/ratio + 2 rows).
    KvState(backend::Backend &be, const ModelConfig &c, uint32_t ctx);
    ~KvState();
    KvState(const KvState &) = delete;
    KvState &operator=(const KvState &) = delete;

    uint32_t ctx() const { return ctx_; }
    uint32_t n_past() const { return n_past_; }  // tokens already evaluated = next position
    void set_n_past(uint32_t n) { n_past_ = n; }
    std::vector<backend::LayerState> &layers() { return layers_; }
    float *last_hc() { return last_hc_; }        // [n_hc * n_embd] of the last evaluated token

    // Back to the empty state (position 0).
    void reset();
    // Bytes of backend memory held.
    uint64_t memory_bytes() const { return bytes_; }
    static uint64_t memory_bytes_for(const ModelConfig &c, uint32_t ctx);

    // Serialises the state (only live rows) into a self-describing little-endian buffer.
    std::vector<uint8_t> save() const;
    // Restores a buffer written by save() for the same model shape; throws Error naming the
    // mismatch (shape, context too small, truncated or corrupt buffer).
    void load(const uint8_t *data, size_t size);
    // Copies the whole state of another session of the same shape.
    void copy_from(const KvState &other);

private:
    struct Sizes {
        uint64_t raw, comp, idx_comp, frontier, idx_frontier;
    };
    Sizes sizes(uint32_t layer) const;

    backend::Backend &be_;
    ModelConfig cfg_;
    uint32_t ctx_;
    uint32_t n_past_ = 0;
    std::vector<backend::LayerState> layers_;
    float *last_hc_ = nullptr;
    uint64_t bytes_ = 0;
};

}  // namespace dstar::model
