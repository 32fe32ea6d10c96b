#include "model/kv_state.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/error.h"

namespace dstar::model {

namespace {

// Everything that must match for one state's rows to fit another's buffers.
std::vector<uint32_t> fingerprint(const ModelConfig &c) {
    std::vector<uint32_t> f = {c.n_layer, c.n_embd, c.n_hc, c.head_dim, c.n_rot, c.idx_head_dim, c.window};
    for (uint32_t l = 0; l < c.n_layer; l++) f.push_back(c.ratio(l));
    return f;
}

}  // namespace

KvState::Sizes KvState::sizes(uint32_t l) const {
    const backend::LayerState &s = layers_[l];
    Sizes z{};
    z.raw = static_cast<uint64_t>(s.raw_cap) * cfg_.head_dim;
    if (s.ratio) {
        const uint64_t coff = s.ratio == 4 ? 2 : 1;
        z.comp = static_cast<uint64_t>(s.comp_cap) * cfg_.head_dim;
        z.frontier = coff * s.ratio * coff * cfg_.head_dim;
        if (s.indexer) {
            z.idx_comp = static_cast<uint64_t>(s.comp_cap) * cfg_.idx_head_dim;
            z.idx_frontier = coff * s.ratio * coff * cfg_.idx_head_dim;
        }
    }
    return z;
}

KvState::KvState(backend::Backend &be, const ModelConfig &c, uint32_t ctx) : be_(be), cfg_(c), ctx_(ctx) {
    if (ctx == 0) fail("context size must be at least 1 token");
    layers_.resize(c.n_layer);
    for (uint32_t l = 0; l < c.n_layer; l++) {
        backend::LayerState &s = layers_[l];
        s.ratio = c.ratio(l);
        s.indexer = c.has_indexer(l);
        s.raw_cap = std::max<uint32_t>(1, std::min(c.window, ctx));
        s.comp_cap = s.ratio ? ctx / s.ratio + 2 : 0;
        const Sizes z = sizes(l);
        s.raw = be.alloc(z.raw);
        if (s.ratio) {
            s.comp = be.alloc(z.comp);
            s.comp_kv = be.alloc(z.frontier);
            s.comp_score = be.alloc(z.frontier);
            if (s.indexer) {
                s.idx_comp = be.alloc(z.idx_comp);
                s.idx_kv = be.alloc(z.idx_frontier);
                s.idx_score = be.alloc(z.idx_frontier);
            }
        }
        bytes_ += 4 * (z.raw + z.comp + z.idx_comp + 2 * z.frontier + 2 * z.idx_frontier);
    }
    last_hc_ = be.alloc(c.hc_dim());
    bytes_ += 4ull * c.hc_dim();
    reset();
}

KvState::~KvState() {
    for (auto &s : layers_)
        for (float *p : {s.raw, s.comp, s.idx_comp, s.comp_kv, s.comp_score, s.idx_kv, s.idx_score}) be_.release(p);
    be_.release(last_hc_);
}

uint64_t KvState::memory_bytes_for(const ModelConfig &c, uint32_t ctx) {
    uint64_t b = 4ull * c.hc_dim();
    for (uint32_t l = 0; l < c.n_layer; l++) {
        const uint64_t ratio = c.ratio(l), coff = ratio == 4 ? 2 : 1;
        b += 4ull * std::min(c.window, ctx) * c.head_dim;
        if (ratio) {
            const uint64_t cap = ctx / ratio + 2;
            b += 4 * (cap * c.head_dim + 2 * coff * ratio * coff * c.head_dim);
            if (ratio == 4) b += 4 * (cap * c.idx_head_dim + 2 * coff * ratio * coff * c.idx_head_dim);
        }
    }
    return b;
}

void KvState::reset() {
    n_past_ = 0;
    for (uint32_t l = 0; l < cfg_.n_layer; l++) {
        backend::LayerState &s = layers_[l];
        const Sizes z = sizes(l);
        be_.fill(s.raw, 0.0f, z.raw);
        if (s.ratio) {
            be_.fill(s.comp, 0.0f, z.comp);
            be_.fill(s.comp_kv, 0.0f, z.frontier);
            be_.fill(s.comp_score, -INFINITY, z.frontier);  // empty slots never win the softmax
            if (s.indexer) {
                be_.fill(s.idx_comp, 0.0f, z.idx_comp);
                be_.fill(s.idx_kv, 0.0f, z.idx_frontier);
                be_.fill(s.idx_score, -INFINITY, z.idx_frontier);
            }
        }
    }
    be_.fill(last_hc_, 0.0f, cfg_.hc_dim());
}

uint32_t KvState::comp_capacity() const {
    uint32_t min_ratio = 0;
    for (const backend::LayerState &s : layers_)
        if (s.ratio && (min_ratio == 0 || s.ratio < min_ratio)) min_ratio = s.ratio;
    return min_ratio ? ctx_ / min_ratio + 2 : ctx_;
}

uint32_t KvState::comp_rows(uint32_t layer, uint32_t n) const {
    const uint32_t ratio = layers_[layer].ratio;
    return ratio ? n / ratio : 0;
}

uint32_t KvState::index_rows(uint32_t layer, uint32_t n) const {
    return layers_[layer].indexer ? comp_rows(layer, n) : 0;
}

uint64_t KvState::rows_bytes(uint32_t n) const {
    uint64_t floats = 0;
    for (uint32_t l = 0; l < cfg_.n_layer; l++) {
        const Sizes z = sizes(l);
        floats += static_cast<uint64_t>(std::min(n, layers_[l].raw_cap)) * cfg_.head_dim;
        floats += static_cast<uint64_t>(comp_rows(l, n)) * cfg_.head_dim + 2 * z.frontier;
        floats += static_cast<uint64_t>(index_rows(l, n)) * cfg_.idx_head_dim + 2 * z.idx_frontier;
    }
    return 4 * floats;
}

void KvState::write_rows(const ByteSink &sink) const {
    static_assert(sizeof(float) == 4);
    std::vector<float> buf;
    auto dump = [&](const float *src, uint64_t n) {
        if (n == 0) return;
        buf.resize(n);
        be_.download(buf.data(), src, n);
        sink(buf.data(), n * sizeof(float));
    };
    const uint32_t hd = cfg_.head_dim;
    for (uint32_t l = 0; l < cfg_.n_layer; l++) {
        const backend::LayerState &s = layers_[l];
        const Sizes z = sizes(l);
        // The ring holds position p at row p % raw_cap: the live window may wrap, so it
        // goes out in up to two spans, oldest first.
        const uint32_t n_raw = std::min(n_past_, s.raw_cap);
        const uint32_t first = (n_past_ - n_raw) % s.raw_cap;
        const uint32_t head = std::min(n_raw, s.raw_cap - first);
        dump(s.raw + static_cast<uint64_t>(first) * hd, static_cast<uint64_t>(head) * hd);
        dump(s.raw, static_cast<uint64_t>(n_raw - head) * hd);
        if (s.ratio) {
            dump(s.comp, static_cast<uint64_t>(comp_rows(l, n_past_)) * hd);
            dump(s.comp_kv, z.frontier);
            dump(s.comp_score, z.frontier);
        }
        if (s.indexer) {
            dump(s.idx_comp, static_cast<uint64_t>(index_rows(l, n_past_)) * cfg_.idx_head_dim);
            dump(s.idx_kv, z.idx_frontier);
            dump(s.idx_score, z.idx_frontier);
        }
    }
}

void KvState::read_rows(uint32_t n, const ByteSource &source) {
    if (n > ctx_) fail("KV state of %u tokens does not fit a context of %u", n, ctx_);
    reset();
    try {
        std::vector<float> buf;
        auto restore = [&](float *dst, uint64_t count) {
            if (count == 0) return;
            buf.resize(count);
            source(buf.data(), count * sizeof(float));
            be_.upload(dst, buf.data(), count);
        };
        const uint32_t hd = cfg_.head_dim;
        for (uint32_t l = 0; l < cfg_.n_layer; l++) {
            backend::LayerState &s = layers_[l];
            const Sizes z = sizes(l);
            const uint32_t n_raw = std::min(n, s.raw_cap);
            const uint32_t first = (n - n_raw) % s.raw_cap;
            const uint32_t head = std::min(n_raw, s.raw_cap - first);
            restore(s.raw + static_cast<uint64_t>(first) * hd, static_cast<uint64_t>(head) * hd);
            restore(s.raw, static_cast<uint64_t>(n_raw - head) * hd);
            if (s.ratio) {
                restore(s.comp, static_cast<uint64_t>(comp_rows(l, n)) * hd);
                restore(s.comp_kv, z.frontier);
                restore(s.comp_score, z.frontier);
            }
            if (s.indexer) {
                restore(s.idx_comp, static_cast<uint64_t>(index_rows(l, n)) * cfg_.idx_head_dim);
                restore(s.idx_kv, z.idx_frontier);
                restore(s.idx_score, z.idx_frontier);
            }
        }
    } catch (...) {
        reset();  // never leave a half-restored state behind
        throw;
    }
    n_past_ = n;
}

void KvState::copy_from(const KvState &o) {
    if (fingerprint(o.cfg_) != fingerprint(cfg_)) fail("cannot copy a KV state between different model shapes");
    if (o.ctx_ != ctx_) {
        // Different buffer sizes: go through the payload rows (live rows only).
        if (o.n_past_ > ctx_) fail("KV state of %u tokens does not fit a context of %u", o.n_past_, ctx_);
        std::vector<uint8_t> bytes;
        bytes.reserve(o.rows_bytes(o.n_past_));
        o.write_rows([&](const void *p, size_t n) {
            const auto *b = static_cast<const uint8_t *>(p);
            bytes.insert(bytes.end(), b, b + n);
        });
        size_t at = 0;
        read_rows(o.n_past_, [&](void *p, size_t n) {
            std::memcpy(p, bytes.data() + at, n);
            at += n;
        });
        be_.copy(last_hc_, o.last_hc_, cfg_.hc_dim());
        return;
    }
    for (uint32_t l = 0; l < cfg_.n_layer; l++) {
        backend::LayerState &d = layers_[l];
        const backend::LayerState &s = o.layers_[l];
        const Sizes z = sizes(l);
        be_.copy(d.raw, s.raw, z.raw);
        if (d.ratio) {
            be_.copy(d.comp, s.comp, std::min<uint64_t>(z.comp, static_cast<uint64_t>(s.comp_cap) * cfg_.head_dim));
            be_.copy(d.comp_kv, s.comp_kv, z.frontier);
            be_.copy(d.comp_score, s.comp_score, z.frontier);
            if (d.indexer) {
                be_.copy(d.idx_comp, s.idx_comp,
                         std::min<uint64_t>(z.idx_comp, static_cast<uint64_t>(s.comp_cap) * cfg_.idx_head_dim));
                be_.copy(d.idx_kv, s.idx_kv, z.idx_frontier);
                be_.copy(d.idx_score, s.idx_score, z.idx_frontier);
            }
        }
    }
    be_.copy(last_hc_, o.last_hc_, cfg_.hc_dim());
    n_past_ = o.n_past_;
}

}  // namespace dstar::model
