// GGML tensor type ids and block geometry (the public GGUF format table).
#pragma once

#include <cstdint>
#include <string>

namespace dstar::gguf {

// Type ids as stored in a GGUF tensor directory.  Only the ones dstar computes with have
// kernels in quant/; the others are known so that files containing them can be sized,
// listed and rejected with a clear message.
enum class TensorType : uint32_t {
    F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
    Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
    IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21,
    IQ2_S = 22, IQ4_XS = 23, I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28,
    IQ1_M = 29, BF16 = 30, TQ1_0 = 34, TQ2_0 = 35, MXFP4 = 39,
};

struct TypeInfo {
    TensorType type;
    const char *name;
    uint32_t block_elems;  // elements per block (1 for plain types)
    uint32_t block_bytes;  // bytes per block
};

// nullptr for an id that is not in the table.
const TypeInfo *type_info(uint32_t id);
inline const TypeInfo *type_info(TensorType t) { return type_info(static_cast<uint32_t>(t)); }

// "F16", "IQ2_XXS", ... or "type#<id>" for unknown ids.
std::string type_name(uint32_t id);
inline std::string type_name(TensorType t) { return type_name(static_cast<uint32_t>(t)); }

// Parses a name like "q8_0" or "Q8_0" (case-insensitive).  Returns false if unknown.
bool type_from_name(const std::string &name, TensorType *out);

// Bytes of a row of `elems` elements; elems must be a multiple of the block size.
// Returns false (and leaves *bytes) on a partial block or overflow.
bool row_bytes(TensorType t, uint64_t elems, uint64_t *bytes);

}  // namespace dstar::gguf
