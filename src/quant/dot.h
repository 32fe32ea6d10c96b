// Dot products of one weight row with one activation vector.
//
// Each function reproduces ds4's CPU reference arithmetic exactly: integer sums inside a
// block (order-free), then float accumulation across blocks in ascending order with the
// same operation order as ds4 (listed per function in dot.cpp).  SIMD versions (AVX2,
// chosen at run time) only vectorise the order-free integer part or independent rows,
// so every variant returns identical bits.
#pragma once

#include <cstdint>

#include "quant/blocks.h"

namespace dstar::quant {

// Q8_0 row (n/32 blocks) . Q8_0-quantized activation (q, scale from quantize_q8_0_act).
// acc = 0; for each block b: acc += (f16(d_w) * scale[b]) * (float)isum_b.
float dot_q8_0(const BlockQ8_0 *row, const int8_t *xq, const float *xscale, uint64_t n);

// K-quant / IQ2 rows . Q8_K activation; n a multiple of 256.
float dot_q2_k(const BlockQ2_K *row, const BlockQ8_K *y, uint64_t n);
float dot_q4_k(const BlockQ4_K *row, const BlockQ8_K *y, uint64_t n);
float dot_iq2_xxs(const BlockIQ2_XXS *row, const BlockQ8_K *y, uint64_t n);

// F16 row . f32 vector: acc = 0; acc += f16(w[i]) * x[i] for i ascending (f32).
float dot_f16(const uint16_t *row, const float *x, uint64_t n);
// BF16 row . f32 vector, same order as dot_f16.
float dot_bf16(const uint16_t *row, const float *x, uint64_t n);
// F32 row . f32 vector accumulated in double (ds4's matvec_f32), rounded to f32 at the end.
float dot_f32(const float *row, const float *x, uint64_t n);

// `rows` F16 rows (stride `stride` elements) against one vector: out[r] = dot_f16(row r).
// Same bits as calling dot_f16 per row; interleaves rows for instruction-level parallelism.
void dot_f16_rows(const uint16_t *rows, uint64_t stride, uint64_t n_rows, const float *x,
                  uint64_t n, float *out);

// Name of the kernel set chosen at run time ("avx2" or "scalar"), for logs and benchmarks.
const char *kernel_isa();

// Tests and benchmarks: switches every function of quant/ (dots and activation quantizers)
// to the named kernel set: "scalar", "avx2", or "auto" (the best this CPU supports).
// Returns false and changes nothing if the set is unknown or unsupported here.
// Not meant to be called while other threads run kernels.
bool set_kernel_isa_for_testing(const char *isa);

}  // namespace dstar::quant
