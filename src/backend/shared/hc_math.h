// Hyper-connection math (model.md §3.2, §3.7) shared by the CPU reference and the CUDA
// kernels (hd.h): the split of the mix vector into pre weights, post weights and the
// Sinkhorn-normalised combine matrix, and the per-element stream sums.  The CUDA backend's 4-stream version (hc.cu) keeps one row of the
// matrix per lane and gathers column sums with shuffles, calling the same element formulas
// below in the same order.
#pragma once

#include <cmath>
#include <cstdint>

#include "backend/shared/activation.h"
#include "backend/shared/hd.h"

namespace dstar::backend::shared {

// Pre weight of stream i: sigma(mix * scale0 + base) + eps.
DSTAR_HD float hc_pre_weight(float mix, float scale0, float base, float eps) {
    return 1.0f / (1.0f + expf(-(mix * scale0 + base))) + eps;
}
// Post weight of stream i: 2 sigma(mix * scale1 + base).
DSTAR_HD float hc_post_weight(float mix, float scale1, float base) {
    return 2.0f / (1.0f + expf(-(mix * scale1 + base)));
}
// Combine logit of (source b, destination a) before the row softmax.
DSTAR_HD float hc_comb_logit(float mix, float scale2, float base) { return mix * scale2 + base; }

// Divides every column of the n x n matrix c by its sum + eps.
DSTAR_HD void hc_normalise_columns(float *c, uint32_t n, float eps) {
    for (uint32_t a = 0; a < n; a++) {
        float sum = 0.0f;
        for (uint32_t b = 0; b < n; b++) sum += c[b * n + a];
        const float inv = 1.0f / (sum + eps);
        for (uint32_t b = 0; b < n; b++) c[b * n + a] *= inv;
    }
}

// The whole split for n streams: mix [2n + n*n], scale [3], base [2n + n*n] ->
// pre [n], post [n], comb [n*n] (comb[b*n + a]: source stream b, destination stream a).
// The combine matrix: row softmax + eps, one column normalisation, then iters - 1
// alternating row and column normalisations (each dividing by sum + eps).
DSTAR_HD void hc_split_sinkhorn(const float *mix, const float *scale, const float *base, uint32_t n,
                                uint32_t iters, float eps, float *pre, float *post, float *comb) {
    for (uint32_t i = 0; i < n; i++) pre[i] = hc_pre_weight(mix[i], scale[0], base[i], eps);
    for (uint32_t i = 0; i < n; i++) post[i] = hc_post_weight(mix[n + i], scale[1], base[n + i]);
    float *c = comb;
    for (uint32_t b = 0; b < n; b++) {
        float row_max = -INFINITY;
        for (uint32_t a = 0; a < n; a++) {
            const uint32_t o = 2 * n + b * n + a;
            c[b * n + a] = hc_comb_logit(mix[o], scale[2], base[o]);
            if (c[b * n + a] > row_max) row_max = c[b * n + a];
        }
        float sum = 0.0f;
        for (uint32_t a = 0; a < n; a++) {
            c[b * n + a] = expf(c[b * n + a] - row_max);
            sum += c[b * n + a];
        }
        const float inv = 1.0f / sum;
        for (uint32_t a = 0; a < n; a++) c[b * n + a] = c[b * n + a] * inv + eps;
    }
    hc_normalise_columns(c, n, eps);
    for (uint32_t it = 1; it < iters; it++) {
        for (uint32_t b = 0; b < n; b++) {
            float sum = 0.0f;
            for (uint32_t a = 0; a < n; a++) sum += c[b * n + a];
            const float inv = 1.0f / (sum + eps);
            for (uint32_t a = 0; a < n; a++) c[b * n + a] *= inv;
        }
        hc_normalise_columns(c, n, eps);
    }
}

// One element of a weighted stream sum: sum over h of x_hc[h][d] * w[h] (from 0, streams in
// order; x points at element d of stream 0, streams `stride` apart).
DSTAR_HD float hc_weighted_elem(const float *x, uint64_t stride, const float *w, uint32_t n_hc) {
    float acc = 0.0f;
    for (uint32_t h = 0; h < n_hc; h++) acc += x[h * stride] * w[h];
    return acc;
}

// One element of HC post: stream a at element d = post[a] * y[d] + sum over s of
// comb[s][a] * res[s][d] (res points at element d of stream 0, streams `stride` apart).
DSTAR_HD float hc_post_elem(float y, const float *post, const float *comb, const float *res, uint64_t stride,
                            uint32_t n_hc, uint32_t a) {
    float acc = y * post[a];
    for (uint32_t s = 0; s < n_hc; s++) acc += comb[s * n_hc + a] * res[s * stride];
    return acc;
}

// Output-head weight of stream i (model.md §3.7): sigma(mix * scale0 + base) + eps.
DSTAR_HD float hc_head_weight(float mix, float scale0, float base, float eps) {
    return sigmoid_stable(mix * scale0 + base) + eps;
}

}  // namespace dstar::backend::shared
