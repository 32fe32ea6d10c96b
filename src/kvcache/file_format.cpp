#include "kvcache/file_format.h"

#include <cstring>
#include <limits>

#include "common/error.h"

namespace dstar::kvcache {

namespace {

void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void put_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t get_u32(const uint8_t *p) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) v = v << 8 | p[i];
    return v;
}
uint64_t get_u64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

std::optional<FileHeader> reject(std::string *why, std::string text) {
    if (why) *why = std::move(text);
    return std::nullopt;
}

}  // namespace

std::array<uint8_t, kPrefixBytes> encode_header(const FileHeader &h) {
    std::array<uint8_t, kPrefixBytes> b{};
    b[0] = 'K';
    b[1] = 'V';
    b[2] = 'C';
    b[3] = kFormatVersion;
    b[4] = h.quant_bits;
    b[5] = h.reason;
    b[6] = h.flags;
    b[7] = h.payload_crc ? kIntegrityCrc32c : 0;
    put_u32(&b[8], h.tokens);
    put_u32(&b[12], h.hits);
    put_u32(&b[16], h.ctx);
    put_u32(&b[20], h.payload_crc.value_or(0));
    put_u64(&b[24], h.created);
    put_u64(&b[32], h.last_used);
    put_u64(&b[40], h.payload_bytes);
    put_u32(&b[48], h.text_bytes);
    return b;
}

std::optional<FileHeader> decode_header(std::span<const uint8_t> b, std::string *why) {
    if (b.size() < kPrefixBytes)
        return reject(why, strformat("file header is truncated (%zu of %zu bytes)", b.size(), kPrefixBytes));
    if (b[0] != 'K' || b[1] != 'V' || b[2] != 'C') return reject(why, "not a KV cache file (magic is not KVC)");
    if (b[3] != kFormatVersion) return reject(why, strformat("unsupported KV cache file version %u", b[3]));
    FileHeader h;
    h.quant_bits = b[4];
    if (h.quant_bits != 2 && h.quant_bits != 4)
        return reject(why, strformat("routed-expert quant bits %u is neither 2 nor 4", h.quant_bits));
    h.reason = b[5] <= kMaxReason ? b[5] : 0;
    h.flags = b[6];
    if (b[7] == kIntegrityCrc32c) h.payload_crc = get_u32(&b[20]);
    h.tokens = get_u32(&b[8]);
    if (h.tokens == 0) return reject(why, "file holds zero tokens");
    h.hits = get_u32(&b[12]);
    h.ctx = get_u32(&b[16]);
    h.created = get_u64(&b[24]);
    h.last_used = get_u64(&b[32]);
    h.payload_bytes = get_u64(&b[40]);
    h.text_bytes = get_u32(&b[48]);
    if (h.payload_bytes > std::numeric_limits<uint64_t>::max() - kPrefixBytes - h.text_bytes)
        return reject(why, "payload size overflows");
    return h;
}

uint64_t trailer_bytes(const ToolEntries &entries) {
    if (entries.empty()) return 0;
    uint64_t n = 8;
    for (const auto &[id, block] : entries) n += 8 + id.size() + block.size();
    return n;
}

std::vector<uint8_t> encode_trailer(const ToolEntries &entries) {
    if (entries.empty()) return {};
    if (entries.size() > std::numeric_limits<uint32_t>::max()) fail("too many tool-map entries for one trailer");
    std::vector<uint8_t> out(trailer_bytes(entries));
    uint8_t *p = out.data();
    p[0] = 'K';
    p[1] = 'T';
    p[2] = 'M';
    p[3] = 1;
    put_u32(p + 4, static_cast<uint32_t>(entries.size()));
    p += 8;
    for (const auto &[id, block] : entries) {
        if (id.empty() || id.size() > kMaxToolIdBytes || block.empty() || block.size() > kMaxDsmlBytes)
            fail("tool-map entry '%.64s' has an id of %zu bytes and a block of %zu bytes (limits 1..%u, 1..%llu)",
                 id.c_str(), id.size(), block.size(), kMaxToolIdBytes, static_cast<unsigned long long>(kMaxDsmlBytes));
        put_u32(p, static_cast<uint32_t>(id.size()));
        put_u32(p + 4, static_cast<uint32_t>(block.size()));
        std::memcpy(p + 8, id.data(), id.size());
        std::memcpy(p + 8 + id.size(), block.data(), block.size());
        p += 8 + id.size() + block.size();
    }
    return out;
}

ToolEntries decode_trailer(const ReadFn &read, uint64_t available, uint64_t max_count,
                           const std::function<bool(std::string_view)> &keep) {
    ToolEntries out;
    uint8_t head[8];
    if (available < sizeof head || !read(head, sizeof head)) return out;
    available -= sizeof head;
    if (head[0] != 'K' || head[1] != 'T' || head[2] != 'M' || head[3] != 1) return out;
    const uint32_t count = get_u32(head + 4);
    if (count > max_count) return out;
    std::string id, block;
    for (uint32_t i = 0; i < count; i++) {
        uint8_t lens[8];
        if (available < sizeof lens || !read(lens, sizeof lens)) break;
        available -= sizeof lens;
        const uint32_t id_len = get_u32(lens), dsml_len = get_u32(lens + 4);
        if (id_len == 0 || id_len > kMaxToolIdBytes || dsml_len == 0 || dsml_len > kMaxDsmlBytes) break;
        if (available < static_cast<uint64_t>(id_len) + dsml_len) break;
        id.resize(id_len);
        block.resize(dsml_len);
        if (!read(id.data(), id_len) || !read(block.data(), dsml_len)) break;
        available -= static_cast<uint64_t>(id_len) + dsml_len;
        if (!keep || keep(id)) out.emplace_back(id, block);
    }
    return out;
}

}  // namespace dstar::kvcache
