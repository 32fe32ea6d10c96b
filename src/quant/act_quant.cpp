// Activation quantizers (Q8_0 per 32, Q8_K per 256): scalar reference and public entry points.
//
// These reproduce ds4's quantize_q8_0_activation / ds4_quantize_row_q8_K bit for bit,
// including how out-of-range products behave: lrintf returns a long, which is then
// narrowed to int before clamping (so +-inf and NaN, possible only when 1/d overflows for
// a tiny denormal block maximum, become 0).
#include "quant/act_quant.h"

#include <cmath>
#include <cstring>

#include "common/error.h"
#include "quant/kernels.h"

namespace dstar::quant {

namespace detail {

namespace {

int8_t clamp_code(float v) {
    int q = static_cast<int>(std::lrint(v));  // round half to even (default rounding mode)
    if (q > 127) q = 127;
    if (q < -128) q = -128;
    return static_cast<int8_t>(q);
}

}  // namespace

void quantize_q8_0_block_scalar(const float *x, uint64_t count, int8_t *q, float *scale) {
    float amax = 0.0f;
    for (uint64_t i = 0; i < count; i++) {
        const float ax = std::fabs(x[i]);
        if (ax > amax) amax = ax;
    }
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    *scale = d;
    for (uint64_t i = 0; i < count; i++) q[i] = clamp_code(x[i] * id);
    for (uint64_t i = count; i < kQK8_0; i++) q[i] = 0;
}

void quantize_q8_0_act_scalar(const float *x, int8_t *q, float *scale, uint64_t n) {
    const uint64_t blocks = (n + kQK8_0 - 1) / kQK8_0;
    for (uint64_t b = 0; b < blocks; b++) {
        const uint64_t i0 = b * kQK8_0;
        const uint64_t count = n - i0 < kQK8_0 ? n - i0 : kQK8_0;
        quantize_q8_0_block_scalar(x + i0, count, q + i0, scale + b);
    }
}

void quantize_q8_k_block_scalar(const float *x, BlockQ8_K *y) {
    // The signed value of the first element of largest magnitude.
    float max = 0.0f;
    float amax = 0.0f;
    for (int j = 0; j < kQK_K; j++) {
        const float ax = std::fabs(x[j]);
        if (ax > amax) {
            amax = ax;
            max = x[j];
        }
    }
    if (amax == 0.0f) {
        y->d = 0.0f;
        std::memset(y->qs, 0, sizeof y->qs);
        std::memset(y->bsums, 0, sizeof y->bsums);
        return;
    }
    const float iscale = -127.0f / max;
    for (int j = 0; j < kQK_K; j++) y->qs[j] = clamp_code(iscale * x[j]);
    for (int j = 0; j < kQK_K / 16; j++) {
        int sum = 0;
        for (int i = 0; i < 16; i++) sum += y->qs[16 * j + i];
        y->bsums[j] = static_cast<int16_t>(sum);
    }
    y->d = 1.0f / iscale;
}

void quantize_q8_k_act_scalar(const float *x, BlockQ8_K *y, uint64_t nb) {
    for (uint64_t b = 0; b < nb; b++) quantize_q8_k_block_scalar(x + b * kQK_K, y + b);
}

}  // namespace detail

void quantize_q8_0_act(const float *x, int8_t *q, float *scale, uint64_t n) {
    detail::active_kernels().quantize_q8_0_act(x, q, scale, n);
}

void quantize_q8_k_act(const float *x, BlockQ8_K *y, uint64_t n) {
    if (n % kQK_K != 0) fail("quantize_q8_k_act: length %llu is not a multiple of 256",
                             static_cast<unsigned long long>(n));
    detail::active_kernels().quantize_q8_k_act(x, y, n / kQK_K);
}

}  // namespace dstar::quant
