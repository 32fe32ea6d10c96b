#include "backend/cpu/hc.h"

#include <cmath>
#include <vector>

#include "backend/cpu/elementwise.h"
#include "backend/cpu/matmul.h"
#include "backend/shared/hc_math.h"
#include "common/error.h"

namespace dstar::backend::cpu {

namespace {

// sum_h w[h] * x_hc[h] (acc starts at 0, streams in order).
void weighted_sum(const float *x_hc, const float *w, uint32_t n_hc, uint32_t embd, float *out) {
    for (uint32_t d = 0; d < embd; d++) out[d] = shared::hc_weighted_elem(x_hc + d, embd, w, n_hc);
}

}  // namespace

void hc_pre(ThreadPool &pool, const HcWeights &hc, const float *x_hc, uint32_t n, uint32_t n_hc, uint32_t embd,
            uint32_t iters, float rms_eps, float hc_eps, float *out, float *post, float *comb) {
    const uint64_t hc_dim = static_cast<uint64_t>(n_hc) * embd;
    const uint32_t n_mix = 2 * n_hc + n_hc * n_hc;
    std::vector<float> flat(hc_dim * n), mix(static_cast<size_t>(n_mix) * n);
    pool.parallel_for(n, [&](size_t b, size_t e) {
        for (size_t t = b; t < e; t++) rms_norm_row(flat.data() + t * hc_dim, x_hc + t * hc_dim, nullptr, hc_dim, rms_eps);
    });
    matmul(pool, hc.fn, flat.data(), n, mix.data());
    const float *scale = static_cast<const float *>(hc.scale.data);
    const float *base = static_cast<const float *>(hc.base.data);
    pool.parallel_for(n, [&](size_t b, size_t e) {
        std::vector<float> pre(n_hc);
        for (size_t t = b; t < e; t++) {
            shared::hc_split_sinkhorn(mix.data() + t * n_mix, scale, base, n_hc, iters, hc_eps, pre.data(), post + t * n_hc,
                              comb + t * n_hc * n_hc);
            weighted_sum(x_hc + t * hc_dim, pre.data(), n_hc, embd, out + t * embd);
        }
    });
}

void hc_post(ThreadPool &pool, float *out_hc, const float *y, const float *res_hc, const float *post,
             const float *comb, uint32_t n, uint32_t n_hc, uint32_t embd) {
    const uint64_t hc_dim = static_cast<uint64_t>(n_hc) * embd;
    pool.parallel_for(n, [&](size_t b, size_t e) {
        for (size_t t = b; t < e; t++) {
            const float *yt = y + t * embd, *res = res_hc + t * hc_dim, *pt = post + t * n_hc;
            const float *ct = comb + t * n_hc * n_hc;
            float *o = out_hc + t * hc_dim;
            for (uint32_t a = 0; a < n_hc; a++)
                for (uint32_t d = 0; d < embd; d++)
                    o[static_cast<uint64_t>(a) * embd + d] = shared::hc_post_elem(yt[d], pt, ct, res + d, embd, n_hc, a);
        }
    });
}

void hc_head(ThreadPool &pool, const Weight &fn, const Weight &scale, const Weight &base, const float *x_hc,
             uint32_t n, uint32_t n_hc, uint32_t embd, float rms_eps, float hc_eps, float *out) {
    const uint64_t hc_dim = static_cast<uint64_t>(n_hc) * embd;
    std::vector<float> flat(hc_dim * n), mix(static_cast<size_t>(n_hc) * n);
    pool.parallel_for(n, [&](size_t b, size_t e) {
        for (size_t t = b; t < e; t++) rms_norm_row(flat.data() + t * hc_dim, x_hc + t * hc_dim, nullptr, hc_dim, rms_eps);
    });
    matmul(pool, fn, flat.data(), n, mix.data());
    const float *sc = static_cast<const float *>(scale.data);
    const float *bs = static_cast<const float *>(base.data);
    pool.parallel_for(n, [&](size_t b, size_t e) {
        std::vector<float> w(n_hc);
        for (size_t t = b; t < e; t++) {
            for (uint32_t i = 0; i < n_hc; i++) w[i] = shared::hc_head_weight(mix[t * n_hc + i], sc[0], bs[i], hc_eps);
            weighted_sum(x_hc + t * hc_dim, w.data(), n_hc, embd, out + t * embd);
        }
    });
}

}  // namespace dstar::backend::cpu
