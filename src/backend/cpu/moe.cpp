#include "backend/cpu/moe.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "backend/cpu/elementwise.h"
#include "backend/cpu/matmul.h"
#include "backend/shared/router.h"
#include "common/error.h"
#include "model/shape.h"

namespace dstar::backend::cpu {

void route(const float *logits, const Weight *bias, const Weight *tid2eid, const int32_t *tokens, uint32_t n,
           uint32_t n_expert, uint32_t k, float weights_scale, int32_t *sel, float *weights) {
    std::vector<float> probs(n_expert), selection(n_expert);
    const float *b = bias && bias->present() ? static_cast<const float *>(bias->data) : nullptr;
    for (uint32_t t = 0; t < n; t++) {
        const float *lg = logits + static_cast<uint64_t>(t) * n_expert;
        for (uint32_t e = 0; e < n_expert; e++) probs[e] = shared::expert_prob(lg[e]);
        int32_t *s = sel + static_cast<uint64_t>(t) * k;
        if (tid2eid && tid2eid->present()) {
            // Hash routing: the experts are fixed per token id (the bias is not used).
            const uint64_t tok = static_cast<uint64_t>(tokens[t]);
            if (tokens[t] < 0 || tok >= tid2eid->ne1) fail("token id %d is outside the hash routing table", tokens[t]);
            std::memcpy(s, static_cast<const int32_t *>(tid2eid->data) + tok * k, k * sizeof(int32_t));
        } else {
            // Top-k of score + bias, descending; an equal later score never displaces an
            // earlier one (ties go to the lower expert id).
            for (uint32_t j = 0; j < k; j++) s[j] = -1;
            for (uint32_t e = 0; e < n_expert; e++)
                shared::topk_offer(s, selection.data(), k, static_cast<int32_t>(e), b ? probs[e] + b[e] : probs[e]);
        }
        // Weights from the unbiased scores, normalised over the chosen experts.
        float *wt = weights + static_cast<uint64_t>(t) * k;
        for (uint32_t j = 0; j < k; j++) wt[j] = probs[static_cast<uint32_t>(s[j])];
        shared::normalise_router_weights(wt, k, model::limits::kMinRouterSum, weights_scale);
    }
}

namespace {

// The matrix of expert e as a plain 2-D weight.
Weight expert_slice(const Weight &w, uint32_t e) {
    Weight s = w;
    s.ne2 = 1;
    s.data = static_cast<const uint8_t *>(w.data) + static_cast<uint64_t>(e) * w.ne1 * w.row_bytes;
    return s;
}

}  // namespace

void moe(ThreadPool &pool, float *out, const Weight &gate, const Weight &up, const Weight &down, const float *x,
         const int32_t *sel, const float *weights, uint32_t n, uint32_t k, float clamp) {
    const uint64_t d_in = gate.ne0, ff = gate.ne1, d_out = down.ne1;
    if (down.ne0 != ff || up.ne0 != d_in || up.ne1 != ff) fail("routed expert tensors do not share one layout");
    std::vector<float> g(ff), u(ff), mid(static_cast<size_t>(k) * ff);
    std::vector<float> acc(d_out), part(d_out);
    for (uint32_t t = 0; t < n; t++) {
        const float *xt = x + static_cast<uint64_t>(t) * d_in;
        for (uint32_t j = 0; j < k; j++) {
            const int32_t e = sel[static_cast<uint64_t>(t) * k + j];
            if (e < 0 || static_cast<uint64_t>(e) >= gate.ne2) fail("selected expert %d is out of range", e);
            matmul(pool, expert_slice(gate, static_cast<uint32_t>(e)), xt, 1, g.data());
            matmul(pool, expert_slice(up, static_cast<uint32_t>(e)), xt, 1, u.data());
            // SwiGLU with the clamp, then the router weight (applied before the down
            // projection, which matters for its activation quantization).
            const float w = weights[static_cast<uint64_t>(t) * k + j];
            float *m = mid.data() + static_cast<uint64_t>(j) * ff;
            for (uint64_t i = 0; i < ff; i++) m[i] = clamped_swiglu(g[i], u[i], clamp) * w;
        }
        // Down projections summed over the experts in selection order, per output row.
        std::fill(acc.begin(), acc.end(), 0.0f);
        for (uint32_t j = 0; j < k; j++) {
            const int32_t e = sel[static_cast<uint64_t>(t) * k + j];
            matmul(pool, expert_slice(down, static_cast<uint32_t>(e)), mid.data() + static_cast<uint64_t>(j) * ff, 1,
                   part.data());
            for (uint64_t o = 0; o < d_out; o++) acc[o] += part[o];
        }
        std::memcpy(out + static_cast<uint64_t>(t) * d_out, acc.data(), d_out * sizeof(float));
    }
}

}  // namespace dstar::backend::cpu
