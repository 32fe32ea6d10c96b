// Weight-row dequantization with the evaluation order of quants.md (bit-exact floats).
#include "quant/dequant.h"

#include <cstring>

#include "common/error.h"
#include "common/fp16.h"
#include "quant/kernels.h"

namespace dstar::quant {

namespace {

void dequant_q8_0(const BlockQ8_0 *x, float *y, uint64_t nb) {
    for (uint64_t b = 0; b < nb; b++, y += kQK8_0) {
        const float d = f16_to_f32(x[b].d);
        for (int i = 0; i < kQK8_0; i++) y[i] = d * static_cast<float>(x[b].qs[i]);
    }
}

// quants.md 5.2: per 16 weights dl = d * scale and ml = dmin * min first, then dl*q - ml.
void dequant_q2_k(const BlockQ2_K *x, float *y, uint64_t nb) {
    for (uint64_t b = 0; b < nb; b++, y += kQK_K) {
        const float d = f16_to_f32(x[b].d);
        const float dmin = f16_to_f32(x[b].dmin);
        for (int h = 0; h < 2; h++) {
            for (int j = 0; j < 4; j++) {
                for (int half = 0; half < 2; half++) {
                    const uint8_t sc = x[b].scales[8 * h + 2 * j + half];
                    const float dl = d * static_cast<float>(sc & 15);
                    const float ml = dmin * static_cast<float>(sc >> 4);
                    for (int l = 16 * half; l < 16 * half + 16; l++) {
                        const int q = (x[b].qs[32 * h + l] >> (2 * j)) & 3;
                        y[128 * h + 32 * j + l] = dl * static_cast<float>(q) - ml;
                    }
                }
            }
        }
    }
}

// quants.md 5.3: d1 = d * sc_k and m1 = dmin * m_k first, then d1*q - m1.
void dequant_q4_k(const BlockQ4_K *x, float *y, uint64_t nb) {
    for (uint64_t b = 0; b < nb; b++, y += kQK_K) {
        const float d = f16_to_f32(x[b].d);
        const float dmin = f16_to_f32(x[b].dmin);
        uint8_t sc[8], m[8];
        detail::unpack_q4_k_scales(x[b].scales, sc, m);
        for (int k = 0; k < 8; k++) {
            const float d1 = d * static_cast<float>(sc[k]);
            const float m1 = dmin * static_cast<float>(m[k]);
            const uint8_t *qs = x[b].qs + 32 * (k / 2);
            const int shift = 4 * (k % 2);
            for (int l = 0; l < 32; l++) {
                y[32 * k + l] = d1 * static_cast<float>((qs[l] >> shift) & 15) - m1;
            }
        }
    }
}

// quants.md 5.4: db = (d * (0.5 + ls)) * 0.25, then (db * mag) * (+-1).
void dequant_iq2_xxs(const BlockIQ2_XXS *x, float *y, uint64_t nb) {
    for (uint64_t b = 0; b < nb; b++) {
        const float d = f16_to_f32(x[b].d);
        const auto *bytes = reinterpret_cast<const uint8_t *>(x[b].qs);
        for (int g = 0; g < 8; g++, y += 32) {
            const uint8_t *grp = bytes + 8 * g;
            uint32_t w;
            std::memcpy(&w, grp + 4, sizeof w);
            const float db = d * (0.5f + static_cast<float>(w >> 28)) * 0.25f;
            for (int l = 0; l < 4; l++) {
                const uint64_t grid = kIq2xxsGrid[grp[l]];
                const uint8_t signs = kIq2xsSigns[(w >> (7 * l)) & 127];
                for (int k = 0; k < 8; k++) {
                    const float mag = static_cast<float>((grid >> (8 * k)) & 0xff);
                    y[8 * l + k] = db * mag * ((signs >> k) & 1 ? -1.0f : 1.0f);
                }
            }
        }
    }
}

}  // namespace

bool is_supported_weight_type(gguf::TensorType t) {
    using gguf::TensorType;
    switch (t) {
    case TensorType::F32:
    case TensorType::F16:
    case TensorType::BF16:
    case TensorType::Q8_0:
    case TensorType::Q2_K:
    case TensorType::Q4_K:
    case TensorType::IQ2_XXS:
        return true;
    default:
        return false;
    }
}

void dequantize_row(gguf::TensorType t, const void *src, float *dst, uint64_t n) {
    using gguf::TensorType;
    const auto check_blocks = [&](uint64_t block) {
        if (n % block != 0) {
            fail("dequantize_row: %llu elements is not a whole number of %s blocks (%llu)",
                 static_cast<unsigned long long>(n), gguf::type_name(t).c_str(),
                 static_cast<unsigned long long>(block));
        }
        return n / block;
    };
    switch (t) {
    case TensorType::F32:
        std::memcpy(dst, src, n * sizeof(float));
        return;
    case TensorType::F16: {
        const auto *h = static_cast<const uint16_t *>(src);
        for (uint64_t i = 0; i < n; i++) dst[i] = f16_to_f32(h[i]);
        return;
    }
    case TensorType::BF16: {
        const auto *h = static_cast<const uint16_t *>(src);
        for (uint64_t i = 0; i < n; i++) dst[i] = bf16_to_f32(h[i]);
        return;
    }
    case TensorType::Q8_0:
        dequant_q8_0(static_cast<const BlockQ8_0 *>(src), dst, check_blocks(kQK8_0));
        return;
    case TensorType::Q2_K:
        dequant_q2_k(static_cast<const BlockQ2_K *>(src), dst, check_blocks(kQK_K));
        return;
    case TensorType::Q4_K:
        dequant_q4_k(static_cast<const BlockQ4_K *>(src), dst, check_blocks(kQK_K));
        return;
    case TensorType::IQ2_XXS:
        dequant_iq2_xxs(static_cast<const BlockIQ2_XXS *>(src), dst, check_blocks(kQK_K));
        return;
    default:
        fail("dequantize_row: tensor type %s is not supported", gguf::type_name(t).c_str());
    }
}

}  // namespace dstar::quant
