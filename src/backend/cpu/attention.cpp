#include "backend/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

#include "backend/cpu/elementwise.h"
#include "backend/cpu/qat.h"
#include "backend/shared/topk_ties.h"
#include "common/error.h"
#include "common/fp16.h"

namespace dstar::backend::cpu {

namespace {

// Plain f32 dot in index order (the reference order for attention scores).
inline float dot_f32_seq(const float *a, const float *b, uint32_t n) {
    float acc = 0.0f;
    for (uint32_t i = 0; i < n; i++) acc += a[i] * b[i];
    return acc;
}

void f16_round_row(float *x, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) x[i] = f16_round(x[i]);
}

// Softmax-pool the closed window into `out` (head_dim values), per channel.
void compressor_pool(const float *state_kv, const float *state_score, uint32_t head_dim, uint32_t ratio,
                     float *out) {
    const bool overlap = ratio == 4;
    const uint32_t width = (overlap ? 2 : 1) * head_dim;
    for (uint32_t j = 0; j < head_dim; j++) {
        float mx = -INFINITY;
        if (overlap) {
            for (uint32_t r = 0; r < ratio; r++) {
                const float sp = state_score[r * width + j];
                const float sc = state_score[(ratio + r) * width + head_dim + j];
                if (sp > mx) mx = sp;
                if (sc > mx) mx = sc;
            }
        } else {
            for (uint32_t r = 0; r < ratio; r++) mx = fmaxf(mx, state_score[r * width + j]);
        }
        if (mx == -INFINITY) {
            out[j] = 0.0f;
            continue;
        }
        float denom = 0.0f, sum = 0.0f;
        if (overlap) {
            for (uint32_t r = 0; r < ratio; r++) {
                const float wp = expf(state_score[r * width + j] - mx);
                const float wc = expf(state_score[(ratio + r) * width + head_dim + j] - mx);
                denom += wp + wc;
                sum += wp * state_kv[r * width + j];
                sum += wc * state_kv[(ratio + r) * width + head_dim + j];
            }
        } else {
            for (uint32_t r = 0; r < ratio; r++) {
                const float w = expf(state_score[r * width + j] - mx);
                denom += w;
                sum += w * state_kv[r * width + j];
            }
        }
        out[j] = denom > 0.0f ? sum / denom : 0.0f;
    }
}

}  // namespace

bool compressor_step(float *state_kv, float *state_score, const float *kv, const float *score, const float *ape,
                     const float *norm, uint32_t head_dim, uint32_t ratio, uint32_t pos,
                     const model::RopeParams &rope, bool is_indexer, float eps, const Numerics &num, float *row) {
    const bool overlap = ratio == 4;
    const uint32_t width = (overlap ? 2 : 1) * head_dim;
    const uint32_t phase = pos % ratio;
    const uint32_t slot = overlap ? ratio + phase : phase;
    std::memcpy(state_kv + static_cast<uint64_t>(slot) * width, kv, width * sizeof(float));
    float *sc = state_score + static_cast<uint64_t>(slot) * width;
    const float *ape_row = ape + static_cast<uint64_t>(phase) * width;
    for (uint32_t j = 0; j < width; j++) sc[j] = score[j] + ape_row[j];
    if ((pos + 1) % ratio != 0) return false;

    std::vector<float> pooled(head_dim);
    compressor_pool(state_kv, state_score, head_dim, ratio, pooled.data());
    rms_norm_row(row, pooled.data(), norm, head_dim, eps);
    model::rope_tail(row, 1, head_dim, rope, pos + 1 - ratio, false);
    if (num.qat) {
        if (is_indexer) indexer_qat_row(row);
        else fp8_round_row(row, head_dim - rope.n_rot);
        f16_round_row(row, head_dim);  // ds4's CPU cache stores rows as f16 values
    }
    if (overlap) {
        // The window just closed becomes the "previous" half of the next one.
        std::memcpy(state_kv, state_kv + static_cast<uint64_t>(ratio) * width, ratio * width * sizeof(float));
        std::memcpy(state_score, state_score + static_cast<uint64_t>(ratio) * width, ratio * width * sizeof(float));
    }
    return true;
}

namespace {

// Top-k compressed rows by indexer score, as a mask.  `n_total` (>= n_comp) is the number
// of rows at the end of the batch; rows past n_comp are this token's future.
void indexer_select(const float *idx_rows, uint32_t n_comp, uint32_t n_total, uint32_t idx_head_dim, const float *q,
                    const float *w, uint32_t n_idx_head, uint32_t top_k, Numerics::IndexerTies ties,
                    ThreadPool &pool, std::vector<uint8_t> *allowed) {
    std::vector<float> scores(n_comp);
    pool.parallel_for(n_comp, [&](size_t b, size_t e) {
        for (size_t c = b; c < e; c++) {
            const float *kv = idx_rows + c * idx_head_dim;
            float s = 0.0f;
            for (uint32_t h = 0; h < n_idx_head; h++) {
                float d = dot_f32_seq(kv, q + static_cast<uint64_t>(h) * idx_head_dim, idx_head_dim);
                if (d < 0.0f) d = 0.0f;
                s += d * w[h];
            }
            scores[c] = s;
        }
    }, 64);
    allowed->assign(n_comp, 0);
    if (ties == Numerics::IndexerTies::Lowest) {
        // Equal scores: the lower index first (ds4's repeated arg-max with strict >).
        std::vector<uint32_t> order(n_comp);
        std::iota(order.begin(), order.end(), 0u);
        std::nth_element(order.begin(), order.begin() + top_k, order.end(), [&](uint32_t a, uint32_t b) {
            return scores[a] > scores[b] || (scores[a] == scores[b] && a < b);
        });
        for (uint32_t i = 0; i < top_k; i++) (*allowed)[order[i]] = 1;
        return;
    }
    // PyTorch's tie order (comparisons with transformers only).
    for (const int32_t r : shared::torch_topk_rows(scores.data(), n_comp, n_total, top_k))
        (*allowed)[static_cast<size_t>(r)] = 1;
}

}  // namespace

void attention(ThreadPool &pool, LayerState &st, const AttentionWeights &w, const AttentionBatch &b,
               const Numerics &num) {
    const uint32_t hd = w.head_dim, n_head = w.n_head;
    const uint32_t coff = st.ratio == 4 ? 2 : 1;
    const float kq_scale = 1.0f / sqrtf(static_cast<float>(hd));
    const float *sinks = static_cast<const float *>(w.sinks.data);
    std::vector<uint8_t> allowed;
    std::vector<float> row(std::max(hd, w.idx_head_dim));

    for (uint32_t t = 0; t < b.n; t++) {
        const uint32_t pos = b.pos0 + t;
        // 1. Raw window row (f16-rounded storage).
        float *raw_dst = st.raw + static_cast<uint64_t>(pos % st.raw_cap) * hd;
        std::memcpy(raw_dst, b.kv + static_cast<uint64_t>(t) * hd, hd * sizeof(float));
        if (num.qat) f16_round_row(raw_dst, hd);

        // 2. Compressors.
        uint32_t n_comp = 0;
        if (st.ratio != 0) {
            n_comp = pos / st.ratio;  // rows before this token's possible emit
            if (compressor_step(st.comp_kv, st.comp_score, b.comp_kv + static_cast<uint64_t>(t) * coff * hd,
                                b.comp_sc + static_cast<uint64_t>(t) * coff * hd,
                                static_cast<const float *>(w.comp_ape.data), static_cast<const float *>(w.comp_norm.data),
                                hd, st.ratio, pos, w.rope, false, w.eps, num, row.data())) {
                if (n_comp >= st.comp_cap) fail("compressed KV cache is full (%u rows): context too long", st.comp_cap);
                std::memcpy(st.comp + static_cast<uint64_t>(n_comp) * hd, row.data(), hd * sizeof(float));
                n_comp++;
            }
            if (st.indexer) {
                const uint32_t idw = w.idx_head_dim;
                if (compressor_step(st.idx_kv, st.idx_score, b.idx_kv + static_cast<uint64_t>(t) * coff * idw,
                                    b.idx_sc + static_cast<uint64_t>(t) * coff * idw,
                                    static_cast<const float *>(w.idx_ape.data),
                                    static_cast<const float *>(w.idx_norm.data), idw, st.ratio, pos, w.rope, true,
                                    w.eps, num, row.data()))
                    std::memcpy(st.idx_comp + static_cast<uint64_t>(n_comp - 1) * idw, row.data(), idw * sizeof(float));
            }
        }

        // 3. Indexer: which compressed rows this token sees.
        const uint8_t *mask = nullptr;
        if (st.indexer && n_comp > w.idx_top_k) {
            if (!b.idx_q || !b.idx_w) fail("layer %u: indexer queries missing for a context of %u rows", b.layer, n_comp);
            const uint64_t q_stride = static_cast<uint64_t>(w.idx_head) * w.idx_head_dim;
            const uint32_t n_total = (b.pos0 + b.n) / st.ratio;
            indexer_select(st.idx_comp, n_comp, n_total, w.idx_head_dim, b.idx_q + t * q_stride,
                           b.idx_w + static_cast<uint64_t>(t) * w.idx_head, w.idx_head, w.idx_top_k,
                           num.indexer_ties, pool, &allowed);
            mask = allowed.data();
        }

        // 4. Attention over raw rows (oldest first), then visible compressed rows.
        const uint32_t n_raw = std::min(pos + 1, w.window);
        const uint32_t raw_first = pos + 1 - n_raw;
        const float *q = b.q + static_cast<uint64_t>(t) * n_head * hd;
        float *out = b.heads + static_cast<uint64_t>(t) * n_head * hd;
        const size_t min_heads = std::max<size_t>(1, 32768 / (static_cast<size_t>(n_raw + n_comp) * hd));
        pool.parallel_for(n_head, [&](size_t h0, size_t h1) {
            std::vector<float> score(n_raw + n_comp);
            for (size_t h = h0; h < h1; h++) {
                const float *qh = q + h * hd;
                float mx = sinks[h];
                for (uint32_t r = 0; r < n_raw; r++) {
                    const float *k = st.raw + static_cast<uint64_t>((raw_first + r) % st.raw_cap) * hd;
                    score[r] = dot_f32_seq(qh, k, hd) * kq_scale;
                    mx = fmaxf(mx, score[r]);
                }
                for (uint32_t c = 0; c < n_comp; c++) {
                    if (mask && !mask[c]) continue;
                    score[n_raw + c] = dot_f32_seq(qh, st.comp + static_cast<uint64_t>(c) * hd, hd) * kq_scale;
                    mx = fmaxf(mx, score[n_raw + c]);
                }
                float *oh = out + h * hd;
                std::memset(oh, 0, hd * sizeof(float));
                float denom = expf(sinks[h] - mx);
                for (uint32_t r = 0; r < n_raw; r++) {
                    const float wgt = expf(score[r] - mx);
                    const float *k = st.raw + static_cast<uint64_t>((raw_first + r) % st.raw_cap) * hd;
                    denom += wgt;
                    for (uint32_t i = 0; i < hd; i++) oh[i] += wgt * k[i];
                }
                for (uint32_t c = 0; c < n_comp; c++) {
                    if (mask && !mask[c]) continue;
                    const float wgt = expf(score[n_raw + c] - mx);
                    const float *k = st.comp + static_cast<uint64_t>(c) * hd;
                    denom += wgt;
                    for (uint32_t i = 0; i < hd; i++) oh[i] += wgt * k[i];
                }
                const float inv = 1.0f / denom;
                for (uint32_t i = 0; i < hd; i++) oh[i] *= inv;
            }
        }, min_heads);
    }
}

}  // namespace dstar::backend::cpu
