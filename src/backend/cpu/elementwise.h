// Small per-element CPU ops and the scalar functions they share.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "backend/backend.h"
#include "common/thread_pool.h"

namespace dstar::backend::cpu {

// sigma(x) without overflow for large |x| (ds4's sigmoid_stable).
inline float sigmoid_stable(float x) {
    if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
    const float e = expf(x);
    return e / (1.0f + e);
}
inline float silu(float x) { return x * sigmoid_stable(x); }
// log(1 + e^x), evaluated as x for x > 20 and e^x for x < -20.
inline float softplus_stable(float x) {
    if (x > 20.0f) return x;
    if (x < -20.0f) return expf(x);
    return log1pf(expf(x));
}

// RMS normalisation of `rows` rows of `dim` values; sum of squares in double.
// out = x * (1/sqrt(mean + eps)) [* w].  `w` may be null.
void rms_norm(ThreadPool &pool, float *out, const float *x, const float *w, uint32_t rows, uint32_t dim, float eps);
void rms_norm_row(float *out, const float *x, const float *w, uint64_t dim, float eps);

void embed(ThreadPool &pool, const Weight &tok_embd, const int32_t *tokens, uint32_t n, uint32_t n_hc, float *x_hc);
void swiglu(float *out, const float *g, const float *u, size_t n, float clamp);

}  // namespace dstar::backend::cpu
