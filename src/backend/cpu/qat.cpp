#include "backend/cpu/qat.h"

#include <cmath>

#include "backend/shared/qat_math.h"
#include "common/error.h"

namespace dstar::backend::cpu {

void fp8_round_row(float *x, uint32_t n_nope) {
    for (uint32_t off = 0; off < n_nope; off += 64) {
        float amax = 0.0f;
        for (uint32_t i = 0; i < 64; i++) amax = fmaxf(amax, fabsf(x[off + i]));
        const float scale = shared::fp8_block_scale(amax);
        for (uint32_t i = 0; i < 64; i++) x[off + i] = shared::fp8_round_value(x[off + i], scale);
    }
}

void fp4_round_row(float *x, uint32_t n) {
    if (n % 32 != 0) fail("FP4 activation rounding needs rows of whole 32-value blocks (got %u)", n);
    for (uint32_t off = 0; off < n; off += 32) {
        float amax = 0.0f;
        for (uint32_t i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(x[off + i]));
        const float scale = shared::fp4_block_scale(amax);
        for (uint32_t i = 0; i < 32; i++) x[off + i] = shared::fp4_round_value(x[off + i], scale);
    }
}

void hadamard128(float *x) {
    for (uint32_t stride = 1; stride < 128; stride <<= 1) {
        for (uint32_t base = 0; base < 128; base += 2 * stride) {
            for (uint32_t i = 0; i < stride; i++) {
                const float a = x[base + i], b = x[base + stride + i];
                x[base + i] = a + b;
                x[base + stride + i] = a - b;
            }
        }
    }
    for (uint32_t i = 0; i < 128; i++) x[i] *= shared::kHadamard128Scale;
}

void indexer_qat_row(float *x) {
    hadamard128(x);
    fp4_round_row(x, 128);
}

}  // namespace dstar::backend::cpu
