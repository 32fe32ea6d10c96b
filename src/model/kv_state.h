// The complete per-session decode state of the model (model.md §4): for every layer the raw
// sliding window, compressed rows, indexer rows and compressor frontiers, plus the token
// count and the last token's hyper-connection streams.  Lives in backend memory;
// write_rows()/read_rows() stream the per-layer part of ds4's DSV4 session payload
// (kvcache.md §8.2), which engine::Session wraps with tokens and logits.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "model/config.h"

namespace dstar::model {

// Byte streams for snapshots, so that a multi-GB state never needs a second copy in memory.
// A sink takes the next n bytes; a source fills the next n bytes or throws Error.
using ByteSink = std::function<void(const void *data, size_t n)>;
using ByteSource = std::function<void(void *data, size_t n)>;

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

    // ---- the per-layer rows of ds4's session payload (kvcache.md §8.2 item 5) ----
    // Rows of each layer's raw ring: the sliding window, or the context if smaller.
    uint32_t raw_capacity() const { return layers_.empty() ? 1 : layers_[0].raw_cap; }
    // ds4's "compressed KV capacity": ctx / (smallest compression ratio) + 2 rows (ctx when
    // no layer compresses).
    uint32_t comp_capacity() const;
    // Rows a state of n tokens holds in `layer`: compressed attention rows (n / ratio on a
    // compressed layer, else 0) and indexer rows (the same on an indexer layer, else 0).
    uint32_t comp_rows(uint32_t layer, uint32_t n) const;
    uint32_t index_rows(uint32_t layer, uint32_t n) const;
    uint32_t comp_row_capacity(uint32_t layer) const { return layers_[layer].comp_cap; }
    // Bytes write_rows() writes for a state of n tokens.
    uint64_t rows_bytes(uint32_t n) const;
    // For every layer in order: the last min(n_past, raw_capacity) raw rows oldest first (the
    // logical order, independent of the ring), then on compressed layers the compressed rows
    // and the compressor's kv and score frontiers, then on indexer layers the indexer rows
    // and the indexer compressor's kv and score frontiers.  Raw little-endian f32.
    void write_rows(const ByteSink &sink) const;
    // Replaces the state with n tokens' rows in write_rows() layout read from `source`.  The
    // caller has validated n (n <= ctx) and the byte count; if `source` throws midway the
    // state is reset to empty and the error propagates.  The last token's hyper-connection
    // streams are not part of the payload and read as zeros (nothing consumes them yet).
    void read_rows(uint32_t n, const ByteSource &source);

    // Copies the whole state of another session of the same model shape (any context size
    // that holds its tokens).  Throws Error on a different shape or too small a context.
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
