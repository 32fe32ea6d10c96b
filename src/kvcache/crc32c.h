// CRC-32C (Castagnoli) of a byte stream: the integrity check dstar adds to disk KV cache
// files (file_format.h), so that a flipped bit in a multi-GB payload is a rejected file, never
// a silently wrong model state.  Uses the SSE4.2 crc32 instruction where the CPU has it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace dstar::kvcache {

// Continues a CRC over `n` more bytes: crc32c(crc32c(0, a), b) == crc32c(0, a ++ b).
uint32_t crc32c(uint32_t crc, const void *data, size_t n);

}  // namespace dstar::kvcache
