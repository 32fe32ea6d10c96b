// The disk KV cache file format, version 1 (kvcache.md §8), as ds4 writes it:
//
//   0       48 B  fixed header (below)
//   48      4 B   u32 key text length T
//   52      T B   key text
//   52+T    P B   DSV4 session payload (engine::Session::save), P from the header
//   52+T+P  ...   tool-id map trailer "KTM" (present iff flag bit 0)
//
// Header: "KVC", version 1, routed-expert quant bits (2|4), save reason, extension flags,
// reserved byte, u32 tokens, u32 hits, u32 context size, 4 reserved bytes, u64 created,
// u64 last used, u64 payload bytes; all little-endian.
//
// dstar extension (ds4 writes zeros in reserved bytes and never reads them, so files stay
// interchangeable): reserved byte 7 = 1 says reserved bytes 20..23 hold the CRC-32C of the
// payload, which dstar checks while loading.  Files without it (ds4's) load unchecked.
//
// Pure functions: no I/O.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dstar::kvcache {

inline constexpr size_t kHeaderBytes = 48;
inline constexpr size_t kPrefixBytes = 52;  // header + key text length
inline constexpr uint8_t kFormatVersion = 1;
inline constexpr uint8_t kFlagToolMap = 1;            // bit 0: tool-id map trailer present
inline constexpr uint8_t kFlagResponsesVisible = 2;   // bit 1: key = Responses visible text
inline constexpr uint8_t kFlagThinkingVisible = 4;    // bit 2: key = thinking visible text
inline constexpr uint8_t kIntegrityCrc32c = 1;        // reserved byte 7 (dstar extension)
inline constexpr uint8_t kMaxReason = 6;              // 5, 6: ds4-agent's reasons

struct FileHeader {
    uint8_t quant_bits = 0;   // 2 or 4
    uint8_t reason = 0;       // SaveReason values; 5/6 are ds4-agent's; > 6 reads as 0
    uint8_t flags = 0;        // kFlag* bits
    uint32_t tokens = 0;
    uint32_t hits = 0;
    uint32_t ctx = 0;         // context size the snapshot was written with
    uint64_t created = 0;     // Unix seconds
    uint64_t last_used = 0;   // Unix seconds
    uint64_t payload_bytes = 0;
    uint32_t text_bytes = 0;  // the u32 after the fixed header
    std::optional<uint32_t> payload_crc;  // the dstar extension, when present

    // Offset of the trailer = end of the payload (decode_header guarantees no overflow).
    uint64_t payload_end() const { return kPrefixBytes + text_bytes + payload_bytes; }
};

// The first 52 bytes of a file.
std::array<uint8_t, kPrefixBytes> encode_header(const FileHeader &h);
// Parses the first 52 bytes; nullopt with *why naming the problem when they are too short,
// have another magic or version, quant bits other than 2/4, zero tokens, or sizes whose sum
// overflows.
std::optional<FileHeader> decode_header(std::span<const uint8_t> bytes, std::string *why = nullptr);

// ---- tool-id map trailer (kvcache.md §8.3) ----
// u8[3] "KTM", u8 version 1, u32 count, then per entry u32 id length, u32 DSML length, id,
// DSML block.
using ToolEntries = std::vector<std::pair<std::string, std::string>>;  // (tool id, DSML block)
inline constexpr uint32_t kMaxToolIdBytes = 256;
inline constexpr uint64_t kMaxDsmlBytes = uint64_t(512) << 20;

// Size of the trailer for these entries; 0 when there are none (no trailer is written then).
uint64_t trailer_bytes(const ToolEntries &entries);
std::vector<uint8_t> encode_trailer(const ToolEntries &entries);

// Reads a trailer through `read` (fills exactly n bytes, or returns false when the data
// ends), of which `available` bytes exist.  ds4's tolerance: another magic/version, or a
// count above max_count, yields nothing; an entry whose id length is 0 or > 256, whose DSML
// length is 0 or > 512 MiB, or which runs past `available`, ends reading and keeps the
// entries before it.  Only entries whose id passes `keep` (all if empty) are returned.
using ReadFn = std::function<bool(void *dst, size_t n)>;
ToolEntries decode_trailer(const ReadFn &read, uint64_t available, uint64_t max_count,
                           const std::function<bool(std::string_view id)> &keep = {});

}  // namespace dstar::kvcache
