// Dense matrix products on the CPU for every supported weight type (reference numerics).
#pragma once

#include <cstdint>

#include "backend/backend.h"
#include "common/thread_pool.h"

namespace dstar::backend::cpu {

// out[t][o] = row o of W . x[t], for t < n and o in [row0, row0 + n_rows), written at
// out[t * out_stride + (o - row0)]; x[t] starts at x + t * x_stride.
// Numerics by weight type (ds4's CPU reference): Q8_0 quantizes the activation to int8 per
// 32 values; Q2_K/Q4_K/IQ2_XXS to Q8_K per 256; F16/BF16 accumulate in f32 in order; F32
// in double.  Rows are split across threads; each dot product is single-threaded, so the
// result does not depend on the thread count.
void matmul_rows(ThreadPool &pool, const Weight &w, uint64_t row0, uint64_t n_rows, const float *x,
                 uint64_t x_stride, uint32_t n, float *out, uint64_t out_stride);

// Whole-matrix product: out [n][ne1].
void matmul(ThreadPool &pool, const Weight &w, const float *x, uint32_t n, float *out);

// Row `r` of W (expert e = r / ne1) dequantized to f32 (used by embeddings).
void dequantize_weight_row(const Weight &w, uint64_t r, float *out);

}  // namespace dstar::backend::cpu
