#include "model/forward.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "common/error.h"
#include "model/rope.h"

namespace dstar::model {

using backend::Weight;
using L = LayerTensor;

// Backend handles of one layer's weights.
struct Forward::LayerBinding {
    std::array<Weight, static_cast<size_t>(LayerTensor::Count)> t;
    backend::AttentionWeights attn;
    backend::HcWeights hc_attn, hc_ffn;
    RopeParams rope;
    const Weight &operator[](L id) const { return t[static_cast<size_t>(id)]; }
};

// Activations of one batch (backend memory), sized for up to `n` tokens.
struct Forward::Scratch {
    backend::Backend &be;
    std::vector<float *> owned;
    float *x_hc, *x_hc2, *cur, *nrm, *post, *comb, *qa, *qn, *q, *kv, *ckv, *csc, *ikv, *isc, *iq, *iw, *heads,
        *low, *y, *router, *wts, *routed, *sg, *su, *smid, *z, *logits;
    int32_t *sel;
    float *alloc(size_t n) {
        float *p = be.alloc(n);
        owned.push_back(p);
        return p;
    }
    Scratch(backend::Backend &b, const ModelConfig &c, uint32_t n) : be(b) {
        const size_t N = n;
        uint32_t cw = 0, iw_ = 0;
        for (uint32_t l = 0; l < c.n_layer; l++) {
            cw = std::max(cw, c.ratio(l) ? c.compressor_coff(l) * c.head_dim : 0u);
            iw_ = std::max(iw_, c.has_indexer(l) ? 2 * c.idx_head_dim : 0u);
        }
        x_hc = alloc(N * c.hc_dim());
        x_hc2 = alloc(N * c.hc_dim());
        cur = alloc(N * c.n_embd);
        nrm = alloc(N * c.n_embd);
        post = alloc(N * c.n_hc);
        comb = alloc(N * c.n_hc * c.n_hc);
        qa = alloc(N * c.q_lora);
        qn = alloc(N * c.q_lora);
        q = alloc(N * c.q_dim());
        kv = alloc(N * c.head_dim);
        ckv = alloc(N * std::max(cw, 1u));
        csc = alloc(N * std::max(cw, 1u));
        ikv = alloc(N * std::max(iw_, 1u));
        isc = alloc(N * std::max(iw_, 1u));
        iq = alloc(N * std::max(c.idx_q_dim(), 1u));
        iw = alloc(N * std::max(c.idx_head, 1u));
        heads = alloc(N * c.q_dim());
        low = alloc(N * c.out_low_dim());
        y = alloc(N * c.n_embd);
        router = alloc(N * c.n_expert);
        wts = alloc(N * c.n_expert_used);
        sel = be.alloc_i32(N * c.n_expert_used);
        routed = alloc(N * c.n_embd);
        sg = alloc(N * c.expert_ff);
        su = alloc(N * c.expert_ff);
        smid = alloc(N * c.expert_ff);
        z = alloc(N * c.n_embd);
        logits = alloc(N * c.n_vocab);
    }
    ~Scratch() {
        for (float *p : owned) be.release(p);
        be.release(sel);
    }
};

Forward::Forward(const ModelWeights &weights, backend::Backend &be, backend::Numerics num)
    : w_(weights), cfg_(weights.config), be_(be), num_(num) {
    if (num_.qat) {
        const std::string why = cfg_.qat_problem();
        if (!why.empty()) fail("this model's shape does not allow the FP8/FP4 simulations: %s", why.c_str());
    }
    tok_embd_ = be.bind(w_[GlobalTensor::TokenEmbd], false);
    out_hc_fn_ = be.bind(w_[GlobalTensor::OutputHcFn], false);
    out_hc_scale_ = be.bind(w_[GlobalTensor::OutputHcScale], true);
    out_hc_base_ = be.bind(w_[GlobalTensor::OutputHcBase], true);
    out_norm_ = be.bind(w_[GlobalTensor::OutputNorm], true);
    output_ = be.bind(w_[GlobalTensor::Output], false);
    layers_.resize(cfg_.n_layer);
    for (uint32_t l = 0; l < cfg_.n_layer; l++) {
        LayerBinding &b = layers_[l];
        for (int i = 0; i < static_cast<int>(L::Count); i++) {
            const WeightTensor &t = w_.layers[l].t[i];
            if (t.present()) b.t[i] = be.bind(t, spec(static_cast<L>(i)).kind == TensorKind::Vector);
        }
        b.rope = rope_params(cfg_, l);
        b.hc_attn = {b[L::HcAttnFn], b[L::HcAttnScale], b[L::HcAttnBase]};
        b.hc_ffn = {b[L::HcFfnFn], b[L::HcFfnScale], b[L::HcFfnBase]};
        backend::AttentionWeights &a = b.attn;
        a.sinks = b[L::AttnSinks];
        a.comp_ape = b[L::AttnCompressorApe];
        a.comp_norm = b[L::AttnCompressorNorm];
        a.idx_ape = b[L::IndexerCompressorApe];
        a.idx_norm = b[L::IndexerCompressorNorm];
        a.rope = b.rope;
        a.n_head = cfg_.n_head;
        a.head_dim = cfg_.head_dim;
        a.n_rot = cfg_.n_rot;
        a.window = cfg_.window;
        a.idx_head = cfg_.idx_head;
        a.idx_head_dim = cfg_.idx_head_dim;
        a.idx_top_k = cfg_.idx_top_k;
        a.eps = cfg_.rms_eps;
    }
}

Forward::~Forward() { delete scratch_; }

void Forward::ensure_scratch(uint32_t n) {
    if (scratch_ && scratch_n_ >= n) return;
    delete scratch_;
    scratch_ = nullptr;
    scratch_ = new Scratch(be_, cfg_, n);
    scratch_n_ = n;
}

bool Forward::indexer_queries(uint32_t l, uint32_t pos0, uint32_t n) const {
    return cfg_.has_indexer(l) && (pos0 + n) / cfg_.ratio(l) > cfg_.idx_top_k;
}

namespace {

// Appends the bytes of a value to a step key.
template <class T>
void key_put(std::string &key, const T &v) {
    key.append(reinterpret_cast<const char *>(&v), sizeof v);
}

}  // namespace

std::string Forward::step_key(KvState &state, uint32_t n, Logits mode, uint32_t pos0) const {
    std::string key;
    key_put(key, n);
    key_put(key, static_cast<int>(mode));
    key_put(key, num_.qat);
    key_put(key, static_cast<int>(num_.indexer_ties));
    key_put(key, scratch_);
    key_put(key, scratch_->x_hc);
    key_put(key, scratch_->x_hc2);
    key_put(key, state.last_hc());
    for (uint32_t l = 0; l < cfg_.n_layer; l++) {
        const backend::LayerState &st = state.layers()[l];
        key_put(key, indexer_queries(l, pos0, n));
        key_put(key, st.ratio);
        key_put(key, st.indexer);
        key_put(key, st.raw_cap);
        key_put(key, st.comp_cap);
        for (const float *p : {st.raw, st.comp, st.idx_comp, st.comp_kv, st.comp_score, st.idx_kv, st.idx_score})
            key_put(key, p);
    }
    return key;
}

void Forward::attention_layer(uint32_t l, KvState &state, uint32_t n, uint32_t pos0) {
    const LayerBinding &b = layers_[l];
    Scratch &s = *scratch_;
    const ModelConfig &c = cfg_;
    const uint32_t ratio = c.ratio(l);
    const bool idx_queries = indexer_queries(l, pos0, n);

    // HC pre and the attention norm, then every projection of the normed input.
    be_.hc_pre_norm(b.hc_attn, b[L::AttnNorm], s.x_hc, n, c.n_hc, c.n_embd, c.sinkhorn_iters, c.rms_eps, c.hc_eps,
                    s.cur, s.nrm, s.post, s.comb);
    // All products of the normed input in one call (a backend may run alike weights in one
    // pass): q_a, kv, then the compressor's and the indexer's.
    float *outs[7];
    const Weight *ws[7];
    uint32_t n_proj = 0;
    auto proj = [&](float *out, const Weight &w) {
        outs[n_proj] = out;
        ws[n_proj] = &w;
        n_proj++;
    };
    proj(s.qa, b[L::AttnQA]);
    proj(s.kv, b[L::AttnKv]);
    backend::AttentionBatch ab;
    ab.layer = l;
    ab.n = n;
    ab.pos0 = pos0;
    ab.q = s.q;
    ab.kv = s.kv;
    ab.heads = s.heads;
    if (ratio != 0) {
        proj(s.ckv, b[L::AttnCompressorKv]);
        proj(s.csc, b[L::AttnCompressorGate]);
        ab.comp_kv = s.ckv;
        ab.comp_sc = s.csc;
    }
    if (c.has_indexer(l)) {
        proj(s.ikv, b[L::IndexerCompressorKv]);
        proj(s.isc, b[L::IndexerCompressorGate]);
        ab.idx_kv = s.ikv;
        ab.idx_sc = s.isc;
        if (idx_queries) proj(s.iw, b[L::IndexerProj]);
    }
    be_.matmul_multi(outs, ws, n_proj, s.nrm, n);

    // Low-rank Q with its norm; per-head norm and RoPE of Q, KV norm, RoPE and FP8 rounding.
    // The KV row's norm and RoPE touch only s.kv: a side section next to the query path.
    be_.side_begin();
    be_.head_norm_rope(s.kv, &b[L::AttnKvANorm], n, 1, c.head_dim, c.rms_eps, b.rope, pos0, num_.qat);
    be_.side_end();
    be_.rms_norm(s.qn, s.qa, &b[L::AttnQANorm], n, c.q_lora, c.rms_eps);
    be_.matmul(s.q, b[L::AttnQB], s.qn, n);
    if (idx_queries) be_.matmul(s.iq, b[L::IndexerAttnQB], s.qn, n);
    be_.head_norm_rope(s.q, nullptr, n, c.n_head, c.head_dim, c.rms_eps, b.rope, pos0, false);
    if (idx_queries) {
        // The indexer only matters once more rows exist than it keeps (model.md §3.5).
        be_.rope(s.iq, n, c.idx_q_dim(), c.idx_head, c.idx_head_dim, b.rope, pos0, false);
        if (num_.qat) be_.indexer_qat(s.iq, n * c.idx_head, c.idx_head_dim);
        be_.scale(s.iw, 1.0f / sqrtf(static_cast<float>(c.idx_head_dim * c.idx_head)),
                  static_cast<size_t>(n) * c.idx_head);
        ab.idx_q = s.iq;
        ab.idx_w = s.iw;
    }
    be_.side_join();
    be_.attention(state.layers()[l], b.attn, ab, num_);

    // Undo the rotation carried by the values, grouped low-rank output, HC post.
    be_.rope(s.heads, n, c.q_dim(), c.n_head, c.head_dim, b.rope, pos0, true);
    be_.matmul_grouped(s.low, b[L::AttnOutputA], s.heads, n, c.n_out_group, c.out_lora);
    be_.matmul_hc_post(s.x_hc2, s.y, b[L::AttnOutputB], s.low, nullptr, s.x_hc, s.post, s.comb, n, c.n_hc);
    std::swap(s.x_hc, s.x_hc2);
}

void Forward::ffn_layer(uint32_t l, const int32_t *tokens, uint32_t n) {
    const LayerBinding &b = layers_[l];
    Scratch &s = *scratch_;
    const ModelConfig &c = cfg_;
    be_.hc_pre_norm(b.hc_ffn, b[L::FfnNorm], s.x_hc, n, c.n_hc, c.n_embd, c.sinkhorn_iters, c.rms_eps, c.hc_eps,
                    s.cur, s.nrm, s.post, s.comb);
    // Shared expert: the same clamped SwiGLU as the routed experts, no router weight; it
    // reads only the norm, so it is a side section next to the router and routed experts.
    const float clamp = c.swiglu_clamp[l];
    be_.side_begin();
    be_.gate_up_swiglu(s.smid, s.sg, s.su, b[L::FfnGateShexp], b[L::FfnUpShexp], s.nrm, n, clamp);
    be_.side_end();
    // Router: scores for every layer; hash layers take the experts from the token id.
    be_.matmul(s.router, b[L::FfnGateInp], s.nrm, n);
    const Weight *tid = c.is_hash_layer(l) ? &b[L::FfnGateTid2eid] : nullptr;
    const Weight *bias = c.is_hash_layer(l) ? nullptr : &b[L::ExpProbsB];
    be_.route(s.router, bias, tid, tokens, n, c.n_expert, c.n_expert_used, c.expert_weights_scale, s.sel, s.wts);
    be_.moe(s.routed, b[L::FfnGateExps], b[L::FfnUpExps], b[L::FfnDownExps], s.nrm, s.sel, s.wts, n,
            c.n_expert_used, clamp);
    // The shared expert's down projection plus the routed experts' output is the sublayer output.
    be_.side_join();
    be_.matmul_hc_post(s.x_hc2, s.y, b[L::FfnDownShexp], s.smid, s.routed, s.x_hc, s.post, s.comb, n, c.n_hc);
    std::swap(s.x_hc, s.x_hc2);
}

void Forward::run_ops(KvState &state, const int32_t *tokens, uint32_t n, uint32_t pos0, Logits mode) {
    Scratch &s = *scratch_;
    const ModelConfig &c = cfg_;
    be_.embed(tok_embd_, tokens, n, c.n_hc, s.x_hc);
    for (uint32_t l = 0; l < c.n_layer; l++) {
        attention_layer(l, state, n, pos0);
        ffn_layer(l, tokens, n);
    }
    be_.copy(state.last_hc(), s.x_hc + static_cast<size_t>(n - 1) * c.hc_dim(), c.hc_dim());
    if (mode == Logits::None) return;
    const uint32_t first = mode == Logits::All ? 0 : n - 1;
    const uint32_t rows = n - first;
    const float *hc = s.x_hc + static_cast<size_t>(first) * c.hc_dim();
    be_.hc_head(out_hc_fn_, out_hc_scale_, out_hc_base_, hc, rows, c.n_hc, c.n_embd, c.rms_eps, c.hc_eps, s.z);
    be_.rms_norm(s.z, s.z, &out_norm_, rows, c.n_embd, c.rms_eps);
    be_.matmul(s.logits, output_, s.z, rows);
}

void Forward::eval(KvState &state, const int32_t *tokens, uint32_t n, Logits mode, std::vector<float> *logits) {
    if (n == 0) fail("eval: no tokens");
    const uint32_t pos0 = state.n_past();
    if (static_cast<uint64_t>(pos0) + n > state.ctx())
        fail("context is full: %u tokens evaluated + %u new > context size %u", pos0, n, state.ctx());
    for (uint32_t t = 0; t < n; t++)
        if (tokens[t] < 0 || static_cast<uint32_t>(tokens[t]) >= cfg_.n_vocab)
            fail("token id %d is outside the vocabulary (size %u)", tokens[t], cfg_.n_vocab);
    ensure_scratch(n);

    backend::Backend::StepInfo step;
    step.key = step_key(state, n, mode, pos0);
    step.pos0 = pos0;
    step.n = n;
    step.tokens = tokens;
    // PyTorch's tie order of the indexer is computed on the host in the middle of a step.
    step.recordable = num_.indexer_ties == backend::Numerics::IndexerTies::Lowest;
    if (be_.begin_step(step) == backend::Backend::StepStart::RunOps) {
        // A failed recording ran nothing: the ops are called once more and then run.
        for (;;) {
            try {
                run_ops(state, tokens, n, pos0, mode);
            } catch (...) {
                if (be_.abort_step()) continue;
                throw;
            }
            if (be_.end_step()) break;
        }
    }
    state.set_n_past(pos0 + n);

    if (mode == Logits::None) return;
    const uint32_t rows = mode == Logits::All ? n : 1;
    logits->resize(static_cast<size_t>(rows) * cfg_.n_vocab);
    be_.download(logits->data(), scratch_->logits, logits->size());
}

}  // namespace dstar::model
