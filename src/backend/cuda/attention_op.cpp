// The cache-dependent part of an attention sublayer on the GPU (model.md §3.3 steps 7-11),
// for a whole batch without host round trips: emit the compressed rows whose windows close
// in the batch and advance the compressor frontiers, select each token's indexer rows,
// attend, and finally store the batch's raw rows in the ring (after attention, which still
// reads the ring rows of positions before the batch).
#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "backend/cuda/check.h"
#include "backend/cuda/ops.h"
#include "backend/shared/topk_ties.h"
#include "common/error.h"

namespace dstar::backend::cuda {

namespace {

// model/rope.cpp's ramp, with the same float operations.
float ramp(float lo, float hi, uint32_t pair) {
    const float y = (static_cast<float>(pair) - lo) / fmaxf(0.001f, hi - lo);
    return 1.0f - fminf(1.0f, fmaxf(0.0f, y));
}

}  // namespace

RopeTable rope_table(const model::RopeParams &p) {
    if (p.n_rot % 2 != 0 || p.n_rot / 2 > kMaxRopePairs)
        fail("CUDA RoPE supports up to %u rotated dims in pairs (got %u)", 2 * kMaxRopePairs, p.n_rot);
    RopeTable r;
    r.theta_scale = p.theta_scale;
    r.freq_scale = p.freq_scale;
    r.n_rot = p.n_rot;
    r.ext = p.ext_factor != 0.0f ? 1u : 0u;
    float mscale = p.attn_factor;
    if (p.ext_factor != 0.0f) mscale *= 1.0f + 0.1f * logf(1.0f / p.freq_scale);
    r.mscale = mscale;
    for (uint32_t j = 0; j < p.n_rot / 2; j++) r.ramp_mix[j] = ramp(p.corr_lo, p.corr_hi, j) * p.ext_factor;
    return r;
}

void run_attention(cudaStream_t stream, int sm_count, AttentionScratch &scratch, LayerState &st,
                   const AttentionWeights &w, const AttentionBatch &b, const Numerics &num, DevPos pos, bool step) {
    const uint32_t hd = w.head_dim, n = b.n, pos0 = b.pos0, ratio = st.ratio;
    if (n == 0) return;
    if (w.rope.n_rot > hd) fail("layer %u: %u rotated dims exceed the head size %u", b.layer, w.rope.n_rot, hd);
    const RopeTable rope = rope_table(w.rope);
    auto vec = [](const Weight &v) -> const float * {
        return v.present() ? static_cast<const float *>(v.data) : nullptr;
    };

    // 1. Compressors: rows emitted in the batch, then the frontier after it.
    if (ratio != 0) {
        if (!b.comp_kv || !b.comp_sc) fail("layer %u: attention compressor inputs missing", b.layer);
        if ((pos0 + n) / ratio > st.comp_cap)
            fail("compressed KV cache is full (%u rows): context too long", st.comp_cap);
        CompressorArgs ca;
        ca.state_kv = st.comp_kv;
        ca.state_score = st.comp_score;
        ca.kv = b.comp_kv;
        ca.score = b.comp_sc;
        ca.ape = vec(w.comp_ape);
        ca.norm = vec(w.comp_norm);
        ca.rows = st.comp;
        ca.head_dim = hd;
        ca.ratio = ratio;
        ca.pos0 = pos;
        ca.n = n;
        ca.rope = rope;
        ca.indexer = false;
        ca.qat = num.qat;
        ca.eps = w.eps;
        CompressorArgs ia = ca;
        if (st.indexer) {
            if (!b.idx_kv || !b.idx_sc) fail("layer %u: indexer compressor inputs missing", b.layer);
            if (num.qat && w.idx_head_dim != 128)
                fail("indexer QAT needs 128-value rows (got %u)", w.idx_head_dim);
            ia.state_kv = st.idx_kv;
            ia.state_score = st.idx_score;
            ia.kv = b.idx_kv;
            ia.score = b.idx_sc;
            ia.ape = vec(w.idx_ape);
            ia.norm = vec(w.idx_norm);
            ia.rows = st.idx_comp;
            ia.head_dim = w.idx_head_dim;
            ia.indexer = true;
        }
        launch_compressor_emit(ca, stream);
        if (st.indexer) launch_compressor_emit(ia, stream);
        launch_compressor_advance(ca, stream);
        if (st.indexer) launch_compressor_advance(ia, stream);
    }

    AttentionArgs aa;
    aa.q = b.q;
    aa.kv = b.kv;
    aa.raw = st.raw;
    aa.comp = st.comp;
    aa.sinks = vec(w.sinks);
    aa.out = b.heads;
    aa.n = n;
    aa.pos0 = pos;
    aa.n_head = w.n_head;
    aa.head_dim = hd;
    aa.window = w.window;
    aa.raw_cap = st.raw_cap;
    aa.ratio = ratio;
    aa.qat = num.qat;
    if (!aa.sinks) fail("layer %u: attention sinks missing", b.layer);

    // 2. Indexer: tokens that see more compressed rows than it keeps get their top-k list.
    uint32_t visible_comp = ratio ? (pos0 + n) / ratio : 0;
    if (st.indexer) {
        const int64_t first = static_cast<int64_t>(w.idx_top_k + 1) * ratio - 1 - pos0;
        const uint32_t t_first = static_cast<uint32_t>(std::max<int64_t>(first, 0));
        if (t_first < n) {
            if (!b.idx_q || !b.idx_w)
                fail("layer %u: indexer queries missing for a context of %u rows", b.layer, (pos0 + n) / ratio);
            const uint32_t nt = n - t_first, top_k = w.idx_top_k;
            // A recorded step sizes its launches for any position (the cache's capacity).
            const uint64_t rows_max = step ? st.comp_cap : (pos0 + n) / ratio;
            int32_t *sel = scratch.sel.get<int32_t>(uint64_t{nt} * top_k);
            int32_t *counts = nullptr;
            const bool torch = num.indexer_ties == Numerics::IndexerTies::Torch;
            if (torch) counts = scratch.sel_count.get<int32_t>(nt);
            // Score rows in sub-batches of tokens so the score buffer stays below ~256 MB.
            const uint32_t per = static_cast<uint32_t>(std::clamp<uint64_t>((uint64_t{64} << 20) / rows_max, 1, nt));
            float *scores = scratch.scores.get<float>(uint64_t{per} * rows_max);
            IndexerArgs ia;
            ia.idx_rows = st.idx_comp;
            ia.q = b.idx_q;
            ia.w = b.idx_w;
            ia.idx_head = w.idx_head;
            ia.idx_head_dim = w.idx_head_dim;
            ia.ratio = ratio;
            ia.pos0 = pos;
            std::vector<float> host_scores;
            std::vector<int32_t> host_sel, host_counts;
            for (uint32_t s0 = 0; s0 < nt; s0 += per) {
                const uint32_t ns = std::min(per, nt - s0);
                launch_indexer_scores(ia, t_first + s0, ns, static_cast<uint32_t>(rows_max), scores, rows_max, stream);
                if (!torch) {
                    launch_indexer_topk(scores, rows_max, t_first + s0, ns, pos, ratio, top_k,
                                        sel + uint64_t{s0} * top_k, stream);
                    continue;
                }
                // Comparison mode only: PyTorch's tie order needs the host's std algorithms.
                host_scores.resize(uint64_t{ns} * rows_max);
                check(cudaMemcpyAsync(host_scores.data(), scores, host_scores.size() * sizeof(float),
                                      cudaMemcpyDeviceToHost, stream), "cudaMemcpyAsync (indexer scores)");
                check(cudaStreamSynchronize(stream), "cudaStreamSynchronize (indexer scores)");
                host_sel.assign(uint64_t{ns} * top_k, 0);
                host_counts.assign(ns, 0);
                for (uint32_t i = 0; i < ns; i++) {
                    const uint32_t n_comp = (pos0 + t_first + s0 + i + 1) / ratio;
                    const std::vector<int32_t> rows = shared::torch_topk_rows(
                        host_scores.data() + uint64_t{i} * rows_max, n_comp, static_cast<uint32_t>(rows_max), top_k);
                    std::copy(rows.begin(), rows.end(), host_sel.begin() + uint64_t{i} * top_k);
                    host_counts[i] = static_cast<int32_t>(rows.size());
                }
                check(cudaMemcpyAsync(sel + uint64_t{s0} * top_k, host_sel.data(), host_sel.size() * sizeof(int32_t),
                                      cudaMemcpyHostToDevice, stream), "cudaMemcpyAsync (indexer rows)");
                check(cudaMemcpyAsync(counts + s0, host_counts.data(), host_counts.size() * sizeof(int32_t),
                                      cudaMemcpyHostToDevice, stream), "cudaMemcpyAsync (indexer rows)");
                check(cudaStreamSynchronize(stream), "cudaStreamSynchronize (indexer rows)");
            }
            aa.sel = sel;
            aa.sel_count = counts;
            aa.sel_t0 = t_first;
            aa.sel_stride = top_k;
            visible_comp = std::min(visible_comp, top_k);
        }
    }

    // 3. Attention; few tokens (decode) split their rows over several blocks.  A recorded
    // step splits for the most rows it can see, so the split does not depend on the position
    // (each block finds its range of the actual rows when it runs).
    const uint64_t blocks = uint64_t{(w.n_head + 3) / 4} * n;
    const uint64_t target = 2 * static_cast<uint64_t>(std::max(sm_count, 1));
    uint32_t splits = 1;
    // The tensor-core kernel takes each token's rows whole.
    if (blocks < target && !attention_mma_eligible(n, w.n_head, hd, num.qat)) {
        const uint64_t most_comp = aa.sel ? w.idx_top_k : (ratio ? st.comp_cap : 0);
        const uint64_t rows = step ? uint64_t{w.window} + most_comp
                                   : uint64_t{std::min(w.window, pos0 + n)} + visible_comp;
        splits = static_cast<uint32_t>(std::min<uint64_t>({(target + blocks - 1) / blocks, std::max<uint64_t>(1, rows / 32), 32}));
    }
    aa.splits = splits;
    if (splits > 1) aa.partial = scratch.partial.get<float>(uint64_t{splits} * n * w.n_head * (hd + 2));
    launch_attention(aa, stream);

    // 4. The batch's raw rows into the ring.
    launch_raw_store(st.raw, st.raw_cap, b.kv, n, pos, hd, num.qat, stream);
}

}  // namespace dstar::backend::cuda
