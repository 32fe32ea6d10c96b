// Dequantization of weight rows to float (reference semantics of each format).
#pragma once

#include <cstdint>

#include "gguf/types.h"

namespace dstar::quant {

// True if dstar can dequantize / compute with this weight type:
// F32, F16, BF16, Q8_0, Q2_K, Q4_K, IQ2_XXS.
bool is_supported_weight_type(gguf::TensorType t);

// Decodes `n` elements (a multiple of the block size) of type `t` starting at `src`.
// Evaluation order follows shared/spec/quants.md, so results are exact.
// Throws Error for an unsupported type or a partial block.
void dequantize_row(gguf::TensorType t, const void *src, float *dst, uint64_t n);

// The IQ2_XXS codebook (256 entries of 8 magnitude bytes) and sign table.
extern const uint64_t kIq2xxsGrid[256];
extern const uint8_t kIq2xsSigns[128];

}  // namespace dstar::quant
