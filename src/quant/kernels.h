// Internal: the kernel sets behind the public dot / activation-quantization functions.
//
// Every set computes the same bits (see dot.h); they differ only in speed.  The public
// functions call through the active set, picked once at start-up from the CPU features
// and switchable by tests (set_kernel_isa_for_testing) so both paths can be compared.
#pragma once

#include <cstdint>

#include "quant/blocks.h"

namespace dstar::quant::detail {

struct KernelSet {
    const char *name;
    float (*dot_q8_0)(const BlockQ8_0 *row, const int8_t *xq, const float *xscale, uint64_t n);
    float (*dot_q2_k)(const BlockQ2_K *row, const BlockQ8_K *y, uint64_t nb);
    float (*dot_q4_k)(const BlockQ4_K *row, const BlockQ8_K *y, uint64_t nb);
    float (*dot_iq2_xxs)(const BlockIQ2_XXS *row, const BlockQ8_K *y, uint64_t nb);
    float (*dot_f16)(const uint16_t *row, const float *x, uint64_t n);
    void (*dot_f16_rows)(const uint16_t *rows, uint64_t stride, uint64_t n_rows, const float *x,
                         uint64_t n, float *out);
    void (*quantize_q8_0_act)(const float *x, int8_t *q, float *scale, uint64_t n);
    void (*quantize_q8_k_act)(const float *x, BlockQ8_K *y, uint64_t nb);
};

// The portable reference set (always available).
extern const KernelSet kScalarKernels;

// The AVX2 set, or nullptr when this CPU lacks AVX2/F16C.
const KernelSet *avx2_kernels();

// The set the public functions use.
const KernelSet &active_kernels();

// Scalar activation quantizers (act_quant.cpp); the AVX2 set falls back to the block
// versions for tails and for inputs its fast path cannot reproduce exactly.
void quantize_q8_0_act_scalar(const float *x, int8_t *q, float *scale, uint64_t n);
void quantize_q8_k_act_scalar(const float *x, BlockQ8_K *y, uint64_t nb);
// One block: `count` (1..32) values -> 32 codes (zero-padded) and the scale.
void quantize_q8_0_block_scalar(const float *x, uint64_t count, int8_t *q, float *scale);
// One block of 256 values.
void quantize_q8_k_block_scalar(const float *x, BlockQ8_K *y);

// AVX2 + F16C kernels (dot_avx2.cpp, dot_f16_avx2.cpp, act_quant_avx2.cpp).  Compiled for
// those extensions via target attributes: call them only when avx2_kernels() is non-null.
namespace avx2 {
float dot_q8_0(const BlockQ8_0 *row, const int8_t *xq, const float *xscale, uint64_t n);
float dot_q2_k(const BlockQ2_K *row, const BlockQ8_K *y, uint64_t nb);
float dot_q4_k(const BlockQ4_K *row, const BlockQ8_K *y, uint64_t nb);
float dot_iq2_xxs(const BlockIQ2_XXS *row, const BlockQ8_K *y, uint64_t nb);
float dot_f16(const uint16_t *row, const float *x, uint64_t n);
void dot_f16_rows(const uint16_t *rows, uint64_t stride, uint64_t n_rows, const float *x,
                  uint64_t n, float *out);
void quantize_q8_0_act(const float *x, int8_t *q, float *scale, uint64_t n);
void quantize_q8_k_act(const float *x, BlockQ8_K *y, uint64_t nb);
}  // namespace avx2

// Q4_K: unpacks the 6-bit scales and mins of the 8 sub-blocks (quants.md 5.3).
inline void unpack_q4_k_scales(const uint8_t *s, uint8_t sc[8], uint8_t m[8]) {
    for (int k = 0; k < 4; k++) {
        sc[k] = s[k] & 63;
        m[k] = s[k + 4] & 63;
    }
    for (int k = 4; k < 8; k++) {
        sc[k] = static_cast<uint8_t>((s[k + 4] & 15) | ((s[k - 4] >> 6) << 4));
        m[k] = static_cast<uint8_t>((s[k + 4] >> 4) | ((s[k] >> 6) << 4));
    }
}

}  // namespace dstar::quant::detail
