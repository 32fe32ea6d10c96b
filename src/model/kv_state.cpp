#include "model/kv_state.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/error.h"

namespace dstar::model {

namespace {

constexpr char kMagic[4] = {'D', 'S', 'K', 'V'};
constexpr uint32_t kFormat = 1;

class ByteWriter {
public:
    void u32(uint32_t v) { put(&v, 4); }
    void put(const void *p, size_t n) {
        if (n == 0) return;
        const size_t at = out.size();
        out.resize(at + n);
        std::memcpy(out.data() + at, p, n);
    }
    std::vector<uint8_t> out;
};

class ByteReader {
public:
    ByteReader(const uint8_t *d, size_t n) : data(d), size(n) {}
    uint32_t u32(const char *what) {
        uint32_t v;
        get(&v, 4, what);
        return v;
    }
    void get(void *p, size_t n, const char *what) {
        if (n > size - pos) fail("KV state buffer is truncated (reading %s at byte %zu of %zu)", what, pos, size);
        std::memcpy(p, data + pos, n);
        pos += n;
    }
    const uint8_t *data;
    size_t size, pos = 0;
};

// Everything that must match for a saved state to be loadable.
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

std::vector<uint8_t> KvState::save() const {
    ByteWriter w;
    w.put(kMagic, 4);
    w.u32(kFormat);
    const std::vector<uint32_t> fp = fingerprint(cfg_);
    w.u32(static_cast<uint32_t>(fp.size()));
    for (uint32_t v : fp) w.u32(v);
    w.u32(n_past_);
    std::vector<float> buf;
    auto dump = [&](const float *src, uint64_t n) {
        buf.resize(n);
        be_.download(buf.data(), src, n);
        w.put(buf.data(), n * sizeof(float));
    };
    const uint32_t hd = cfg_.head_dim;
    for (uint32_t l = 0; l < cfg_.n_layer; l++) {
        const backend::LayerState &s = layers_[l];
        const Sizes z = sizes(l);
        // Raw rows of the live window, oldest first.
        const uint32_t n_raw = std::min(n_past_, s.raw_cap);
        for (uint32_t p = n_past_ - n_raw; p < n_past_; p++) dump(s.raw + static_cast<uint64_t>(p % s.raw_cap) * hd, hd);
        if (s.ratio) {
            const uint32_t n_comp = n_past_ / s.ratio;
            dump(s.comp, static_cast<uint64_t>(n_comp) * hd);
            dump(s.comp_kv, z.frontier);
            dump(s.comp_score, z.frontier);
            if (s.indexer) {
                dump(s.idx_comp, static_cast<uint64_t>(n_comp) * cfg_.idx_head_dim);
                dump(s.idx_kv, z.idx_frontier);
                dump(s.idx_score, z.idx_frontier);
            }
        }
    }
    dump(last_hc_, cfg_.hc_dim());
    return std::move(w.out);
}

void KvState::load(const uint8_t *data, size_t size) {
    ByteReader r(data, size);
    char magic[4];
    r.get(magic, 4, "magic");
    if (std::memcmp(magic, kMagic, 4) != 0) fail("not a dstar KV state (bad magic)");
    const uint32_t format = r.u32("format");
    if (format != kFormat) fail("KV state format %u is not supported (expected %u)", format, kFormat);
    const std::vector<uint32_t> fp = fingerprint(cfg_);
    const uint32_t n_fp = r.u32("shape");
    if (n_fp != fp.size()) fail("KV state was saved for a different model shape");
    for (uint32_t i = 0; i < n_fp; i++)
        if (r.u32("shape") != fp[i]) fail("KV state was saved for a different model shape");
    const uint32_t n_past = r.u32("token count");
    if (n_past > ctx_) fail("KV state holds %u tokens but the context is only %u", n_past, ctx_);
    // Validate the size before touching the live state.
    uint64_t need = r.pos;
    for (uint32_t l = 0; l < cfg_.n_layer; l++) {
        const backend::LayerState &s = layers_[l];
        const Sizes z = sizes(l);
        need += 4ull * std::min(n_past, s.raw_cap) * cfg_.head_dim;
        if (s.ratio) {
            const uint64_t n_comp = n_past / s.ratio;
            if (n_comp > s.comp_cap) fail("KV state needs more compressed rows than the context holds");
            need += 4 * (n_comp * cfg_.head_dim + 2 * z.frontier);
            if (s.indexer) need += 4 * (n_comp * cfg_.idx_head_dim + 2 * z.idx_frontier);
        }
    }
    need += 4ull * cfg_.hc_dim();
    if (need != size) fail("KV state buffer has %zu bytes, expected %llu", size, static_cast<unsigned long long>(need));

    reset();
    std::vector<float> buf;
    auto restore = [&](float *dst, uint64_t n, const char *what) {
        buf.resize(n);
        r.get(buf.data(), n * sizeof(float), what);
        be_.upload(dst, buf.data(), n);
    };
    const uint32_t hd = cfg_.head_dim;
    for (uint32_t l = 0; l < cfg_.n_layer; l++) {
        backend::LayerState &s = layers_[l];
        const Sizes z = sizes(l);
        const uint32_t n_raw = std::min(n_past, s.raw_cap);
        for (uint32_t p = n_past - n_raw; p < n_past; p++)
            restore(s.raw + static_cast<uint64_t>(p % s.raw_cap) * hd, hd, "raw rows");
        if (s.ratio) {
            const uint32_t n_comp = n_past / s.ratio;
            restore(s.comp, static_cast<uint64_t>(n_comp) * hd, "compressed rows");
            restore(s.comp_kv, z.frontier, "compressor state");
            restore(s.comp_score, z.frontier, "compressor state");
            if (s.indexer) {
                restore(s.idx_comp, static_cast<uint64_t>(n_comp) * cfg_.idx_head_dim, "indexer rows");
                restore(s.idx_kv, z.idx_frontier, "indexer compressor state");
                restore(s.idx_score, z.idx_frontier, "indexer compressor state");
            }
        }
    }
    restore(last_hc_, cfg_.hc_dim(), "hyper-connection state");
    n_past_ = n_past;
}

void KvState::copy_from(const KvState &o) {
    if (fingerprint(o.cfg_) != fingerprint(cfg_) || o.ctx_ != ctx_) {
        const std::vector<uint8_t> bytes = o.save();
        load(bytes.data(), bytes.size());
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
