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

// Q8_0 codes of one block for scale d > 0 (as floats); returns the weighted squared error.
DSTAR_QUANT_INLINE float q8_0_codes(const float *x, const float *w, float d, float *q) {
    const f32x4 vd = splat4(d), vid = splat4(1.0f / d), lim = splat4(127.0f);
    f32x4 err = splat4(0.0f);
    for (int i = 0; i < kQK8_0; i += 4) {
        const f32x4 xi = load4(x + i);
        const f32x4 v = max4(min4(xi * vid, lim), -lim);
        const f32x4 r = (v + splat4(kRoundMagic)) - splat4(kRoundMagic);
        store4(q + i, r);
        const f32x4 diff = vd * r - xi;
        err += load4(w + i) * diff * diff;
    }
    return hsum4(err);
}

}  // namespace

// d = max|x| / 127 rounded to f16, codes rounded to nearest; then one least-squares update of
// d for those codes (the f16 rounding of d and the weights move the optimum slightly) is
// kept if it lowers the weighted error.  A block of integers k * 2^e with some |k| = 127
// (2^e a normal f16) is reproduced exactly: d = 2^e is already optimal.
DSTAR_QUANT_CLONES
void quantize_block_q8_0(const float *x, const float *w_in, BlockQ8_0 *y) {
    static constexpr float kOnes[kQK8_0] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                                            1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    const float *w = w_in ? w_in : kOnes;
    f32x4 vmax = splat4(0.0f);
    for (int i = 0; i < kQK8_0; i += 4) vmax = max4(vmax, max4(load4(x + i), -load4(x + i)));
    const float amax = std::max(std::max(vmax[0], vmax[1]), std::max(vmax[2], vmax[3]));
    float d = f16_round(std::min(amax / 127.0f, kMaxHalf));
    if (!(d > 0.0f)) {
        std::memset(y, 0, sizeof *y);
        return;
    }
    float q[kQK8_0], q2[kQK8_0];
    float err = q8_0_codes(x, w, d, q);
    f32x4 sxq = splat4(0.0f), sqq = sxq;
    for (int i = 0; i < kQK8_0; i += 4) {
        const f32x4 wq = load4(w + i) * load4(q + i);
        sxq += wq * load4(x + i);
        sqq += wq * load4(q + i);
    }
    const float xq = hsum4(sxq), qq = hsum4(sqq);
    if (qq > 0.0f) {
        const float d2 = f16_round(std::min(xq / qq, kMaxHalf));
        if (d2 > 0.0f && d2 != d) {
            const float err2 = q8_0_codes(x, w, d2, q2);
            if (err2 < err) {
                d = d2;
                std::memcpy(q, q2, sizeof q);
            }
        }
    }
    y->d = f32_to_f16(d);
    for (int i = 0; i < kQK8_0; i++) y->qs[i] = static_cast<int8_t>(q[i]);
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
    const uint64_t block = info->block_elems, n_blocks = row_len / block;
    // The effective weights of each block are the same for every row: computed once.
    std::vector<float> wrow(importance ? row_len : 0);
    std::vector<const float *> wblock(n_blocks, nullptr);
    for (uint64_t b = 0; importance && b < n_blocks; b++) {
        wblock[b] = detail::block_weights(importance + b * block, static_cast<int>(block), wrow.data() + b * block);
    }
    std::vector<float> scratch(type == TensorType::IQ2_XXS ? detail::kIq2xxsScratchFloats : 0);
    for (uint64_t r = 0; r < n_rows; r++) {
        const float *xr = x + r * row_len;
        uint8_t *orow = dst + r * row_bytes;
        for (uint64_t b = 0; b < n_blocks; b++) {
            const float *xb = xr + b * block;
            // One pass flags NaN, infinities and magnitudes beyond kHugeInput.  Those beyond it
            // saturate in every block format (the largest representable is below 1e8), so
            // clamping them changes no output but keeps the squared-error sums finite.
            bool unusual = false;
            for (uint64_t i = 0; i < block; i++) unusual |= !(std::fabs(xb[i]) <= kHugeInput);
            float clamped[kQK_K];
            if (unusual) {
                for (uint64_t i = 0; i < block; i++) {
                    if (!std::isfinite(xb[i])) {
                        fail("quantize_rows: %s input row %llu column %llu is %g (must be finite)", info->name,
                             ull(r), ull(b * block + i), static_cast<double>(xb[i]));
                    }
                    clamped[i] = std::clamp(xb[i], -kHugeInput, kHugeInput);
                }
                xb = clamped;
            }
            const float *w = wblock[b];
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
