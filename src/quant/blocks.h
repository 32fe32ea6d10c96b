// Byte layouts of the quantized blocks dstar reads (public ggml formats, shared/spec/quants.md).
#pragma once

#include <cstdint>

namespace dstar::quant {

constexpr int kQK8_0 = 32;  // elements per Q8_0 block
constexpr int kQK_K = 256;  // elements per K-quant / IQ2 super-block

struct BlockQ8_0 {  // 34 bytes: w[i] = d * qs[i]
    uint16_t d;     // f16
    int8_t qs[kQK8_0];
};

struct BlockQ2_K {           // 84 bytes
    uint8_t scales[16];      // low nibble scale, high nibble min, per 16 weights
    uint8_t qs[64];          // 2-bit codes
    uint16_t d;              // f16 scale of the scales
    uint16_t dmin;           // f16 scale of the mins
};

struct BlockQ4_K {           // 144 bytes
    uint16_t d;              // f16
    uint16_t dmin;           // f16
    uint8_t scales[12];      // 8 packed 6-bit (scale, min) pairs
    uint8_t qs[128];         // 4-bit codes
};

struct BlockIQ2_XXS {        // 66 bytes
    uint16_t d;              // f16
    uint16_t qs[32];         // 8 groups of 8 bytes: 4 grid indices + u32 (4x7 sign bits, 4-bit scale)
};

// Runtime activation block for K-quant / IQ2 dot products (never stored in files).
struct BlockQ8_K {           // 292 bytes
    float d;
    int8_t qs[kQK_K];
    int16_t bsums[16];       // sum of each 16 consecutive qs
};

static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ2_K) == 84);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockIQ2_XXS) == 66);
static_assert(sizeof(BlockQ8_K) == 292);

}  // namespace dstar::quant
