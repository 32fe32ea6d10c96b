// The fixed part of ds4's DSV4 session payload (kvcache.md §8.2): thirteen little-endian u32
// fields that describe the runtime which wrote a snapshot, so that a reader can reject one
// it cannot restore before touching its own state.  Session::save()/load() write and read
// the rest (tokens, logits, per-layer row counts, KvState rows).
#pragma once

#include <array>
#include <cstdint>

namespace dstar::engine {

inline constexpr uint32_t kPayloadMagic = 0x34565344;  // bytes 'D' 'S' 'V' '4'
inline constexpr uint32_t kPayloadVersion = 1;
inline constexpr uint32_t kPayloadHeaderFields = 13;
inline constexpr uint32_t kPayloadHeaderBytes = 4 * kPayloadHeaderFields;

struct PayloadHeader {
    uint32_t ctx = 0;            // field 2: context size of the saved session
    uint32_t prefill_chunk = 0;  // field 3: ds4's prefill chunk (informational for dstar)
    uint32_t raw_cap = 0;        // field 4: raw KV ring capacity of the saving backend
    uint32_t raw_window = 0;     // field 5: raw sliding-window length
    uint32_t comp_cap = 0;       // field 6: compressed KV capacity
    uint32_t tokens = 0;         // field 7: checkpoint token count
    uint32_t n_layer = 0;        // field 8
    uint32_t head_dim = 0;       // field 9: raw/compressed row width
    uint32_t idx_head_dim = 0;   // field 10: indexer row width
    uint32_t n_vocab = 0;        // field 11: logits that follow the tokens
    uint32_t raw_live = 0;       // field 12: raw rows serialised per layer = min(tokens, raw_window)
};

// Fields 0 and 1 are the magic and the version.
std::array<uint8_t, kPayloadHeaderBytes> encode_payload_header(const PayloadHeader &h);
// Throws Error "unsupported session payload version" on a wrong magic or version.
PayloadHeader decode_payload_header(const uint8_t *bytes);

// What ds4 writes as field 3 for a context: its default prefill chunk, 2048, or the whole
// context when that is smaller.  dstar's prefill gives the same bits for any chunk size, so
// a reader ignores this field (ds4 requires equality).
inline uint32_t payload_prefill_chunk(uint32_t ctx) { return ctx < 2048 ? ctx : 2048; }

}  // namespace dstar::engine
