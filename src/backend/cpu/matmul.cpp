#include "backend/cpu/matmul.h"

#include <algorithm>
#include <vector>

#include "common/error.h"
#include "quant/act_quant.h"
#include "quant/dequant.h"
#include "quant/dot.h"

namespace dstar::backend::cpu {

using gguf::TensorType;

namespace {

const uint8_t *row_ptr(const Weight &w, uint64_t r) {
    return static_cast<const uint8_t *>(w.data) + r * w.row_bytes;
}

// Activations prepared for one weight type: int8 blocks for Q8_0, Q8_K blocks for
// K-quants/IQ2, the floats themselves otherwise.
struct PreparedActivations {
    std::vector<int8_t> q8;
    std::vector<float> q8_scale;
    std::vector<quant::BlockQ8_K> q8k;
    uint64_t q8_stride = 0, scale_stride = 0, q8k_stride = 0;
};

bool is_k_type(TensorType t) { return t == TensorType::Q2_K || t == TensorType::Q4_K || t == TensorType::IQ2_XXS; }

void prepare(ThreadPool &pool, const Weight &w, const float *x, uint64_t x_stride, uint32_t n,
             PreparedActivations *a) {
    const uint64_t k = w.ne0;
    if (w.type == TensorType::Q8_0) {
        const uint64_t blocks = (k + 31) / 32;
        a->q8_stride = blocks * 32;
        a->scale_stride = blocks;
        a->q8.resize(a->q8_stride * n);
        a->q8_scale.resize(a->scale_stride * n);
        pool.parallel_for(n, [&](size_t b, size_t e) {
            for (size_t t = b; t < e; t++)
                quant::quantize_q8_0_act(x + t * x_stride, a->q8.data() + t * a->q8_stride,
                                         a->q8_scale.data() + t * a->scale_stride, k);
        });
    } else if (is_k_type(w.type)) {
        if (k % quant::kQK_K != 0) fail("tensor '%s': row length %llu is not a multiple of 256", w.name.c_str(),
                                        static_cast<unsigned long long>(k));
        a->q8k_stride = k / quant::kQK_K;
        a->q8k.resize(a->q8k_stride * n);
        pool.parallel_for(n, [&](size_t b, size_t e) {
            for (size_t t = b; t < e; t++) quant::quantize_q8_k_act(x + t * x_stride, a->q8k.data() + t * a->q8k_stride, k);
        });
    }
}

float dot_row(const Weight &w, uint64_t r, const PreparedActivations &a, const float *x, uint64_t x_stride,
              uint32_t t) {
    const uint8_t *row = row_ptr(w, r);
    const uint64_t k = w.ne0;
    switch (w.type) {
    case TensorType::Q8_0:
        return quant::dot_q8_0(reinterpret_cast<const quant::BlockQ8_0 *>(row), a.q8.data() + t * a.q8_stride,
                               a.q8_scale.data() + t * a.scale_stride, k);
    case TensorType::Q2_K:
        return quant::dot_q2_k(reinterpret_cast<const quant::BlockQ2_K *>(row), a.q8k.data() + t * a.q8k_stride, k);
    case TensorType::Q4_K:
        return quant::dot_q4_k(reinterpret_cast<const quant::BlockQ4_K *>(row), a.q8k.data() + t * a.q8k_stride, k);
    case TensorType::IQ2_XXS:
        return quant::dot_iq2_xxs(reinterpret_cast<const quant::BlockIQ2_XXS *>(row),
                                  a.q8k.data() + t * a.q8k_stride, k);
    case TensorType::F16:
        return quant::dot_f16(reinterpret_cast<const uint16_t *>(row), x + t * x_stride, k);
    case TensorType::BF16:
        return quant::dot_bf16(reinterpret_cast<const uint16_t *>(row), x + t * x_stride, k);
    case TensorType::F32:
        return quant::dot_f32(reinterpret_cast<const float *>(row), x + t * x_stride, k);
    default:
        fail("tensor '%s': no CPU kernel for type %s", w.name.c_str(), gguf::type_name(w.type).c_str());
    }
}

}  // namespace

void matmul_rows(ThreadPool &pool, const Weight &w, uint64_t row0, uint64_t n_rows, const float *x,
                 uint64_t x_stride, uint32_t n, float *out, uint64_t out_stride) {
    if (n == 0 || n_rows == 0) return;
    PreparedActivations a;
    prepare(pool, w, x, x_stride, n, &a);
    // Split into per-thread ranges of at least ~64 KB of weight work: waking threads for less
    // costs more than it saves (tiny models, small projections).
    const size_t min_rows = std::max<size_t>(1, (size_t{1} << 16) / std::max<uint64_t>(1, w.row_bytes * n));
    if (w.type == TensorType::F16 && n == 1) {
        // Interleave rows for instruction-level parallelism (same bits as dot_f16 per row).
        pool.parallel_for(n_rows, [&](size_t b, size_t e) {
            quant::dot_f16_rows(reinterpret_cast<const uint16_t *>(row_ptr(w, row0 + b)), w.ne0, e - b, x, w.ne0,
                                out + b);
        }, min_rows);
        return;
    }
    // Rows outer, tokens inner: each weight row is read once per call.
    pool.parallel_for(n_rows, [&](size_t b, size_t e) {
        for (size_t r = b; r < e; r++)
            for (uint32_t t = 0; t < n; t++) out[t * out_stride + r] = dot_row(w, row0 + r, a, x, x_stride, t);
    }, min_rows);
}

void matmul(ThreadPool &pool, const Weight &w, const float *x, uint32_t n, float *out) {
    const uint64_t rows = w.ne1 * w.ne2;
    matmul_rows(pool, w, 0, rows, x, w.ne0, n, out, rows);
}

void dequantize_weight_row(const Weight &w, uint64_t r, float *out) {
    quant::dequantize_row(w.type, row_ptr(w, r), out, w.ne0);
}

}  // namespace dstar::backend::cpu
