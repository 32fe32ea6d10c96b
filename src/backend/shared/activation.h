// Scalar activations of the model (ds4's formulas), shared by the CPU reference and the CUDA
// kernels (hd.h).
#pragma once

#include <cmath>

#include "backend/shared/hd.h"

namespace dstar::backend::shared {

// sigma(x) without overflow for large |x| (ds4's sigmoid_stable).
DSTAR_HD float sigmoid_stable(float x) {
    if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
    const float e = expf(x);
    return e / (1.0f + e);
}

DSTAR_HD float silu(float x) { return x * sigmoid_stable(x); }

// log(1 + e^x), evaluated as x for x > 20 and e^x for x < -20.
DSTAR_HD float softplus_stable(float x) {
    if (x > 20.0f) return x;
    if (x < -20.0f) return expf(x);
    return log1pf(expf(x));
}

// The clamped SwiGLU of the experts (model.md §3.6): silu(min(g, c)) * clamp(u, -c, c), the
// clamp skipped when c <= 1e-6.
DSTAR_HD float clamped_swiglu(float g, float u, float clamp) {
    if (clamp > 1.0e-6f) {
        if (g > clamp) g = clamp;
        if (u > clamp) u = clamp;
        if (u < -clamp) u = -clamp;
    }
    return silu(g) * u;
}

// Router score of an expert logit (model.md §3.6 step 2): sqrt(softplus(logit)).
DSTAR_HD float expert_prob(float logit) { return sqrtf(softplus_stable(logit)); }

}  // namespace dstar::backend::shared
