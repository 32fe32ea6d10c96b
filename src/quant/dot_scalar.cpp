// Portable dot-product kernels: the reference arithmetic of ds4's x86 CPU path.
//
// Integer sums inside a block may be formed in any order (they are exact); the float
// operations are written out one per statement, in ds4's order, so that the compiler
// (-ffp-contract=off, no fast-math) emits exactly these roundings.
#include <cstring>

#include "common/fp16.h"
#include "quant/dequant.h"
#include "quant/kernels.h"

namespace dstar::quant::detail {

namespace {

int32_t dot_i8(const int8_t *a, const int8_t *b, uint64_t n) {
    int32_t sum = 0;
    for (uint64_t i = 0; i < n; i++) sum += int32_t{a[i]} * int32_t{b[i]};
    return sum;
}

float dot_q8_0_scalar(const BlockQ8_0 *row, const int8_t *xq, const float *xscale, uint64_t n) {
    float acc = 0.0f;
    const uint64_t blocks = (n + kQK8_0 - 1) / kQK8_0;
    for (uint64_t b = 0; b < blocks; b++) {
        const uint64_t i0 = b * kQK8_0;
        // A partial last block only counts its first n - i0 products (ds4 does the same).
        const uint64_t count = n - i0 < kQK8_0 ? n - i0 : kQK8_0;
        const int32_t isum = dot_i8(row[b].qs, xq + i0, count);
        const float scale = f16_to_f32(row[b].d) * xscale[b];
        acc += scale * static_cast<float>(isum);
    }
    return acc;
}

float dot_q2_k_scalar(const BlockQ2_K *row, const BlockQ8_K *y, uint64_t nb) {
    float sumf = 0.0f;
    for (uint64_t b = 0; b < nb; b++) {
        const BlockQ2_K &x = row[b];
        const int8_t *q8 = y[b].qs;

        int32_t summs = 0;
        for (int j = 0; j < 16; j++) summs += int32_t{y[b].bsums[j]} * (x.scales[j] >> 4);

        const float dall = y[b].d * f16_to_f32(x.d);
        const float dmin = y[b].d * f16_to_f32(x.dmin);

        // Element i = 128h + 32j + l lives in bits 2j..2j+1 of qs[32h + l] and uses
        // scales[8h + 2j + (l >= 16)] (quants.md 5.2).
        int32_t isum = 0;
        for (int h = 0; h < 2; h++) {
            for (int j = 0; j < 4; j++) {
                for (int half = 0; half < 2; half++) {
                    int32_t sub = 0;
                    for (int l = 16 * half; l < 16 * half + 16; l++) {
                        const int q = (x.qs[32 * h + l] >> (2 * j)) & 3;
                        sub += q * q8[128 * h + 32 * j + l];
                    }
                    isum += (x.scales[8 * h + 2 * j + half] & 15) * sub;
                }
            }
        }
        const float pos = dall * static_cast<float>(isum);
        const float neg = dmin * static_cast<float>(summs);
        sumf += pos - neg;
    }
    return sumf;
}

float dot_q4_k_scalar(const BlockQ4_K *row, const BlockQ8_K *y, uint64_t nb) {
    float sumf = 0.0f;
    for (uint64_t b = 0; b < nb; b++) {
        const BlockQ4_K &x = row[b];
        const int8_t *q8 = y[b].qs;
        uint8_t sc[8], m[8];
        unpack_q4_k_scales(x.scales, sc, m);

        // Sub-block k = 2g (+1) holds the low (high) nibbles of qs[32g .. 32g+31].
        int32_t isum = 0;
        int32_t summs = 0;
        for (int g = 0; g < 4; g++) {
            int32_t lo = 0, hi = 0;
            for (int l = 0; l < 32; l++) {
                lo += (x.qs[32 * g + l] & 15) * q8[64 * g + l];
                hi += (x.qs[32 * g + l] >> 4) * q8[64 * g + 32 + l];
            }
            isum += sc[2 * g] * lo + sc[2 * g + 1] * hi;
        }
        for (int k = 0; k < 8; k++) {
            summs += m[k] * (int32_t{y[b].bsums[2 * k]} + y[b].bsums[2 * k + 1]);
        }

        const float dall = y[b].d * f16_to_f32(x.d);
        const float dmin = y[b].d * f16_to_f32(x.dmin);
        const float pos = dall * static_cast<float>(isum);
        const float neg = dmin * static_cast<float>(summs);
        sumf += pos - neg;
    }
    return sumf;
}

float dot_iq2_xxs_scalar(const BlockIQ2_XXS *row, const BlockQ8_K *y, uint64_t nb) {
    float sumf = 0.0f;
    for (uint64_t b = 0; b < nb; b++) {
        const auto *bytes = reinterpret_cast<const uint8_t *>(row[b].qs);
        const int8_t *q8 = y[b].qs;
        int32_t bsum = 0;
        for (int g = 0; g < 8; g++) {
            const uint8_t *grp = bytes + 8 * g;
            uint32_t w;
            std::memcpy(&w, grp + 4, sizeof w);
            const int32_t ls = static_cast<int32_t>(2 * (w >> 28) + 1);
            int32_t sumi = 0;
            for (int l = 0; l < 4; l++) {
                const uint64_t grid = kIq2xxsGrid[grp[l]];
                const uint8_t signs = kIq2xsSigns[(w >> (7 * l)) & 127];
                for (int k = 0; k < 8; k++) {
                    const int32_t mag = static_cast<int32_t>((grid >> (8 * k)) & 0xff);
                    const int32_t v = (signs >> k) & 1 ? -mag : mag;
                    sumi += v * q8[32 * g + 8 * l + k];
                }
            }
            bsum += ls * sumi;
        }
        const float d = f16_to_f32(row[b].d) * y[b].d;
        sumf += d * static_cast<float>(bsum);
    }
    return 0.125f * sumf;
}

float dot_f16_scalar(const uint16_t *row, const float *x, uint64_t n) {
    float acc = 0.0f;
    for (uint64_t i = 0; i < n; i++) acc += f16_to_f32(row[i]) * x[i];
    return acc;
}

void dot_f16_rows_scalar(const uint16_t *rows, uint64_t stride, uint64_t n_rows, const float *x,
                         uint64_t n, float *out) {
    for (uint64_t r = 0; r < n_rows; r++) out[r] = dot_f16_scalar(rows + r * stride, x, n);
}

}  // namespace

// The scalar set lives next to its kernels; its activation quantizers are in act_quant.cpp.
const KernelSet kScalarKernels = {
    "scalar",
    dot_q8_0_scalar,
    dot_q2_k_scalar,
    dot_q4_k_scalar,
    dot_iq2_xxs_scalar,
    dot_f16_scalar,
    dot_f16_rows_scalar,
    quantize_q8_0_act_scalar,
    quantize_q8_k_act_scalar,
};

}  // namespace dstar::quant::detail
