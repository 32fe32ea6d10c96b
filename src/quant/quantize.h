// Quantization of float weights into the GGUF types ds4 files use (converter, synthetic files).
//
// Every quantizer minimises the importance-weighted squared reconstruction error
//   sum_i w_i * (x_i - dequantize(quantize(x))_i)^2
// where w_i is the importance of input column i (an imatrix entry: the mean square of the
// activation that multiplies column i), or 1 without an importance vector.  For a matrix-
// vector product y = W a that is the expected squared error of each output when the
// activation columns are uncorrelated, which is what a weight error costs the model.
//
// All functions are deterministic (the same bytes for the same input on every machine and
// run), reentrant and use no mutable global state, so callers may quantize rows or tensors
// on as many threads as they like.
#pragma once

#include <cstdint>

#include "gguf/types.h"

namespace dstar::quant {

// True for the types quantize_rows can produce: F32, F16, BF16, Q8_0, Q2_K, Q4_K, IQ2_XXS.
bool can_quantize(gguf::TensorType type);

// Quantizes `n_rows` rows of `row_len` floats (row-major, contiguous) into `out`, which must
// hold n_rows * (bytes of one row of `type`).  F32 copies, F16 and BF16 round to nearest even
// (overflow gives infinity, NaN stays NaN).  Q8_0, Q2_K, Q4_K and IQ2_XXS need `row_len` a
// multiple of the block size (32 for Q8_0, 256 for the others) and finite input; every f16
// scale they store is finite (magnitudes beyond the type's range saturate) and an all-zero
// block decodes to zeros.
// `importance`: nullptr (uniform) or `row_len` finite non-negative weights, one per column,
// shared by all rows.  Only relative values within a block matter; a block whose weights are
// all zero is quantized as if uniform.
// Throws Error (naming the problem) for an unsupported type, a partial block, a non-finite
// input of a block type, or a negative / non-finite importance.
void quantize_rows(gguf::TensorType type, const float *x, void *out, uint64_t n_rows, uint64_t row_len,
                   const float *importance = nullptr);

// One Q8_0 row of `n` values (a multiple of 32), uniform importance: the same bytes as
// quantize_rows(Q8_0, x, out, 1, n).  Kept for the synthetic-model writer.
void quantize_row_q8_0(const float *x, void *out, uint64_t n);

}  // namespace dstar::quant
