// quantize_rows: argument checks, plain float conversions, Q8_0, and dispatch to the block
// quantizers of quantize_k.cpp (Q2_K, Q4_K) and quantize_iq2.cpp (IQ2_XXS).
#include "quant/quantize.h"
#include "quant/quantize_detail.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "common/error.h"
#include "common/fp16.h"

namespace dstar::quant {

namespace detail {

const float *block_weights(const float *imp, int n, float *w) {
    if (!imp) return nullptr;
    float sum = 0.0f, max = 0.0f;
    for (int i = 0; i < n; i++) {
        sum += imp[i];
        max = std::max(max, imp[i]);
    }
    if (!(sum > 0.0f)) return nullptr;
    // Normalised to a maximum of 1 (only ratios matter; this keeps w * x^2 sums far from
    // overflow), plus the floor relative to the mean.
    const float floor = sum / static_cast<float>(n) / max * 1e-6f;
    for (int i = 0; i < n; i++) {
        w[i] = imp[i] / max + floor;
        // The floor itself may underflow for extreme ratios; every weight must stay positive.
        if (!(w[i] > 0.0f)) w[i] = std::numeric_limits<float>::min();
    }
    return w;
}

namespace {

// Q8_0 codes of one block for scale d > 0; returns the weighted squared error.
float q8_0_codes(const float *x, const float *w, float d, int8_t *q) {
    const float id = 1.0f / d;
    float err = 0.0f;
    for (int i = 0; i < kQK8_0; i++) {
        float v = x[i] * id;
        v = v > 127.0f ? 127.0f : (v < -127.0f ? -127.0f : v);
        const float r = round_even(v);
        q[i] = static_cast<int8_t>(r);
        const float diff = d * r - x[i];
        err += (w ? w[i] : 1.0f) * diff * diff;
    }
    return err;
}

}  // namespace

// d = max|x| / 127 rounded to f16, codes rounded to nearest; then one least-squares update of
// d for those codes (the f16 rounding of d and the weights move the optimum slightly) is
// kept if it lowers the weighted error.  A block of integers k * 2^e with some |k| = 127
// (2^e a normal f16) is reproduced exactly: d = 2^e is already optimal.
void quantize_block_q8_0(const float *x, const float *w, BlockQ8_0 *y) {
    float amax = 0.0f;
    for (int i = 0; i < kQK8_0; i++) amax = std::fmax(amax, std::fabs(x[i]));
    float d = f16_round(std::fmin(amax / 127.0f, kMaxHalf));
    if (!(d > 0.0f)) {
        std::memset(y, 0, sizeof *y);
        return;
    }
    int8_t q[kQK8_0], q2[kQK8_0];
    float err = q8_0_codes(x, w, d, q);
    float sxq = 0.0f, sqq = 0.0f;
    for (int i = 0; i < kQK8_0; i++) {
        const float wi = w ? w[i] : 1.0f;
        sxq += wi * x[i] * static_cast<float>(q[i]);
        sqq += wi * static_cast<float>(q[i]) * static_cast<float>(q[i]);
    }
    if (sqq > 0.0f) {
        const float d2 = f16_round(std::fmin(sxq / sqq, kMaxHalf));
        if (d2 > 0.0f && d2 != d) {
            const float err2 = q8_0_codes(x, w, d2, q2);
            if (err2 < err) {
                d = d2;
                std::memcpy(q, q2, sizeof q);
            }
        }
    }
    y->d = f32_to_f16(d);
    std::memcpy(y->qs, q, sizeof q);
}

}  // namespace detail

namespace {
constexpr float kHugeInput = 1099511627776.0f;  // 2^40
}  // namespace

bool can_quantize(gguf::TensorType type) {
    using gguf::TensorType;
    switch (type) {
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

void quantize_rows(gguf::TensorType type, const float *x, void *out, uint64_t n_rows, uint64_t row_len,
                   const float *importance) {
    using gguf::TensorType;
    const auto ull = [](uint64_t v) { return static_cast<unsigned long long>(v); };
    if (!can_quantize(type)) fail("quantize_rows: cannot quantize to %s", gguf::type_name(type).c_str());
    const gguf::TypeInfo *info = gguf::type_info(type);
    uint64_t row_bytes = 0;
    if (!gguf::row_bytes(type, row_len, &row_bytes)) {
        fail("quantize_rows: a row of %llu values is not a whole number of %s blocks (%u values each)",
             ull(row_len), info->name, info->block_elems);
    }
    auto *dst = static_cast<uint8_t *>(out);
    const uint64_t n = n_rows * row_len;

    switch (type) {
    case TensorType::F32:
        std::memcpy(dst, x, n * sizeof(float));
        return;
    case TensorType::F16:
        for (uint64_t i = 0; i < n; i++) {
            const uint16_t h = f32_to_f16(x[i]);
            std::memcpy(dst + 2 * i, &h, 2);
        }
        return;
    case TensorType::BF16:
        for (uint64_t i = 0; i < n; i++) {
            const uint16_t h = f32_to_bf16(x[i]);
            std::memcpy(dst + 2 * i, &h, 2);
        }
        return;
    default:
        break;
    }

    if (importance) {
        for (uint64_t c = 0; c < row_len; c++) {
            if (!(std::isfinite(importance[c]) && importance[c] >= 0.0f)) {
                fail("quantize_rows: importance of column %llu is %g (must be finite and >= 0)", ull(c),
                     static_cast<double>(importance[c]));
            }
        }
    }
    const uint64_t block = info->block_elems;
    std::vector<float> scratch(type == TensorType::IQ2_XXS ? detail::kIq2xxsScratchFloats : 0);
    float wbuf[kQK_K];
    for (uint64_t r = 0; r < n_rows; r++) {
        const float *xr = x + r * row_len;
        for (uint64_t c = 0; c < row_len; c++) {
            if (!std::isfinite(xr[c])) {
                fail("quantize_rows: %s input row %llu column %llu is %g (must be finite)", info->name, ull(r),
                     ull(c), static_cast<double>(xr[c]));
            }
        }
        uint8_t *orow = dst + r * row_bytes;
        for (uint64_t b = 0; b < row_len / block; b++) {
            const float *xb = xr + b * block;
            // Magnitudes beyond kHugeInput saturate in every block format (the largest
            // representable is below 1e8), so clamping them changes no output but keeps the
            // quantizers' squared-error sums finite.
            float clamped[kQK_K];
            bool huge = false;
            for (uint64_t i = 0; i < block; i++) huge |= std::fabs(xb[i]) > kHugeInput;
            if (huge) {
                for (uint64_t i = 0; i < block; i++) clamped[i] = std::clamp(xb[i], -kHugeInput, kHugeInput);
                xb = clamped;
            }
            const float *w = detail::block_weights(importance ? importance + b * block : nullptr,
                                                   static_cast<int>(block), wbuf);
            // Blocks are built in a local and copied out: `out` need not be aligned.
            uint8_t *ob = orow + b * info->block_bytes;
            switch (type) {
            case TensorType::Q8_0: {
                BlockQ8_0 blk;
                detail::quantize_block_q8_0(xb, w, &blk);
                std::memcpy(ob, &blk, sizeof blk);
                break;
            }
            case TensorType::Q2_K: {
                BlockQ2_K blk;
                detail::quantize_block_q2_k(xb, w, &blk);
                std::memcpy(ob, &blk, sizeof blk);
                break;
            }
            case TensorType::Q4_K: {
                BlockQ4_K blk;
                detail::quantize_block_q4_k(xb, w, &blk);
                std::memcpy(ob, &blk, sizeof blk);
                break;
            }
            case TensorType::IQ2_XXS: {
                BlockIQ2_XXS blk;
                detail::quantize_block_iq2_xxs(xb, w, &blk, scratch.data());
                std::memcpy(ob, &blk, sizeof blk);
                break;
            }
            default: fail("quantize_rows: internal error: type %s", info->name);
            }
        }
    }
}

void quantize_row_q8_0(const float *x, void *out, uint64_t n) {
    quantize_rows(gguf::TensorType::Q8_0, x, out, 1, n);
}

}  // namespace dstar::quant
