#include "backend/cpu/elementwise.h"

#include <cstring>

#include "backend/cpu/matmul.h"
#include "common/error.h"

namespace dstar::backend::cpu {

void rms_norm_row(float *out, const float *x, const float *w, uint64_t dim, float eps) {
    double ss = 0.0;
    for (uint64_t i = 0; i < dim; i++) ss += static_cast<double>(x[i]) * x[i];
    const float scale = 1.0f / sqrtf(static_cast<float>(ss / static_cast<double>(dim)) + eps);
    if (w) {
        for (uint64_t i = 0; i < dim; i++) out[i] = x[i] * scale * w[i];
    } else {
        for (uint64_t i = 0; i < dim; i++) out[i] = x[i] * scale;
    }
}

void rms_norm(ThreadPool &pool, float *out, const float *x, const float *w, uint32_t rows, uint32_t dim, float eps) {
    pool.parallel_for(rows, [&](size_t b, size_t e) {
        for (size_t r = b; r < e; r++) rms_norm_row(out + r * dim, x + r * dim, w, dim, eps);
    }, 8);
}

void embed(ThreadPool &pool, const Weight &tok_embd, const int32_t *tokens, uint32_t n, uint32_t n_hc, float *x_hc) {
    const uint64_t d = tok_embd.ne0;
    for (uint32_t t = 0; t < n; t++)
        if (tokens[t] < 0 || static_cast<uint64_t>(tokens[t]) >= tok_embd.ne1)
            fail("token id %d is outside the vocabulary (0..%llu)", tokens[t],
                 static_cast<unsigned long long>(tok_embd.ne1 - 1));
    pool.parallel_for(n, [&](size_t b, size_t e) {
        for (size_t t = b; t < e; t++) {
            float *dst = x_hc + t * n_hc * d;
            dequantize_weight_row(tok_embd, static_cast<uint64_t>(tokens[t]), dst);
            for (uint32_t h = 1; h < n_hc; h++) std::memcpy(dst + h * d, dst, d * sizeof(float));
        }
    });
}

void swiglu(float *out, const float *g, const float *u, size_t n, float clamp) {
    for (size_t i = 0; i < n; i++) out[i] = clamped_swiglu(g[i], u[i], clamp);
}

}  // namespace dstar::backend::cpu
