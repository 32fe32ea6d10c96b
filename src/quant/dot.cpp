// Public dot-product entry points: argument checks and dispatch to the active kernel set.
//
// Float operation order of each kernel (ds4's x86 CPU reference; integer sums are exact):
//   Q8_0     acc = 0; per block b: acc += (f16(d_w) * xscale[b]) * (float)isum_b
//   Q2_K     per block: dall = y.d * f16(d), dmin = y.d * f16(dmin);
//            sumf += dall * (float)isum - dmin * (float)summs
//   Q4_K     same shape as Q2_K with 8 sub-blocks of 32 (6-bit scales and mins)
//   IQ2_XXS  per block: sumf += (f16(d) * y.d) * (float)bsum; result 0.125f * sumf
//   F16/BF16 acc = 0; acc += w[i] * x[i], i ascending, in f32
//   F32      double acc; acc += (double)w[i] * x[i]; result (float)acc
#include "quant/dot.h"

#include "common/error.h"
#include "common/fp16.h"
#include "quant/kernels.h"

namespace dstar::quant {

namespace {

uint64_t k_blocks(const char *what, uint64_t n) {
    if (n % kQK_K != 0) {
        fail("%s: length %llu is not a multiple of 256", what, static_cast<unsigned long long>(n));
    }
    return n / kQK_K;
}

}  // namespace

float dot_q8_0(const BlockQ8_0 *row, const int8_t *xq, const float *xscale, uint64_t n) {
    return detail::active_kernels().dot_q8_0(row, xq, xscale, n);
}

float dot_q2_k(const BlockQ2_K *row, const BlockQ8_K *y, uint64_t n) {
    return detail::active_kernels().dot_q2_k(row, y, k_blocks("dot_q2_k", n));
}

float dot_q4_k(const BlockQ4_K *row, const BlockQ8_K *y, uint64_t n) {
    return detail::active_kernels().dot_q4_k(row, y, k_blocks("dot_q4_k", n));
}

float dot_iq2_xxs(const BlockIQ2_XXS *row, const BlockQ8_K *y, uint64_t n) {
    return detail::active_kernels().dot_iq2_xxs(row, y, k_blocks("dot_iq2_xxs", n));
}

float dot_f16(const uint16_t *row, const float *x, uint64_t n) {
    return detail::active_kernels().dot_f16(row, x, n);
}

void dot_f16_rows(const uint16_t *rows, uint64_t stride, uint64_t n_rows, const float *x,
                  uint64_t n, float *out) {
    detail::active_kernels().dot_f16_rows(rows, stride, n_rows, x, n, out);
}

// BF16 does not occur in the DS4 files; a plain loop is enough.
float dot_bf16(const uint16_t *row, const float *x, uint64_t n) {
    float acc = 0.0f;
    for (uint64_t i = 0; i < n; i++) acc += bf16_to_f32(row[i]) * x[i];
    return acc;
}

// Each product of two floats is exact in double, so only the (sequential) sum rounds.
float dot_f32(const float *row, const float *x, uint64_t n) {
    double acc = 0.0;
    for (uint64_t i = 0; i < n; i++) acc += static_cast<double>(row[i]) * x[i];
    return static_cast<float>(acc);
}

}  // namespace dstar::quant
