#include "engine/session_payload.h"

#include "common/error.h"

namespace dstar::engine {

namespace {

void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

uint32_t get_u32(const uint8_t *p) {
    return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
           static_cast<uint32_t>(p[3]) << 24;
}

}  // namespace

std::array<uint8_t, kPayloadHeaderBytes> encode_payload_header(const PayloadHeader &h) {
    const uint32_t fields[kPayloadHeaderFields] = {kPayloadMagic, kPayloadVersion, h.ctx,     h.prefill_chunk,
                                                    h.raw_cap,     h.raw_window,      h.comp_cap, h.tokens,
                                                    h.n_layer,     h.head_dim,        h.idx_head_dim,
                                                    h.n_vocab,     h.raw_live};
    std::array<uint8_t, kPayloadHeaderBytes> out{};
    for (uint32_t i = 0; i < kPayloadHeaderFields; i++) put_u32(out.data() + 4 * i, fields[i]);
    return out;
}

PayloadHeader decode_payload_header(const uint8_t *b) {
    if (get_u32(b) != kPayloadMagic || get_u32(b + 4) != kPayloadVersion)
        fail("unsupported session payload version (magic %08x, version %u; expected DSV4 version %u)", get_u32(b),
             get_u32(b + 4), kPayloadVersion);
    PayloadHeader h;
    uint32_t *dst[] = {&h.ctx,     &h.prefill_chunk, &h.raw_cap,      &h.raw_window, &h.comp_cap, &h.tokens,
                       &h.n_layer, &h.head_dim,      &h.idx_head_dim, &h.n_vocab,    &h.raw_live};
    for (uint32_t i = 0; i < 11; i++) *dst[i] = get_u32(b + 8 + 4 * i);
    return h;
}

}  // namespace dstar::engine
