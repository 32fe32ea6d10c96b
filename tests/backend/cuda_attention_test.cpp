// The CUDA attention op (compressors, indexer, raw window, sink) against the CPU reference
// over a sequence of prefill chunks and single-token decode steps on random inputs, for
// every layer kind: raw window only, ratio 4 with the indexer (its top-k active), ratio 16
// and 128, with the QAT simulations on, and a transformers-like shape with them off and
// PyTorch tie order.  After every batch the outputs and the whole layer state are compared.
// Batches of 64 tokens or more (QAT on) run the tensor-core kernel, smaller ones the
// CUDA-core kernel with row splits.
//
// Tolerances: the raw ring and the compressor frontiers are copies and single additions
// (equal bits required).  Compressed rows pool with expf, whose CUDA and glibc versions may
// differ in the last bit; after normalisation the FP8/FP4 rounding absorbs nearly all of
// that, so rows agree to 1e-5 except where a value sits on a rounding boundary (allowed for
// at most 0.1% of the values).  The attention outputs then agree to a relative 1e-3
// (softmax summation order, expf); a bug (wrong row, position, mask or state) is O(1).
#include <gtest/gtest.h>

#include <algorithm>

#include "backend/cuda_test_util.h"
#include "common/error.h"
#include "model/config.h"
#include "model/rope.h"

namespace dstar::backend::test {
namespace {

struct Shape {
    const char *name;
    uint32_t ratio;
    bool indexer;
    bool qat;
    uint32_t hd, n_rot, window, n_head;
    uint32_t idx_hd, idx_head, top_k;
    Numerics::IndexerTies ties;
    std::vector<uint32_t> batches;
};

// One layer's state and weights on both backends.
struct Layer {
    explicit Layer(const Shape &s, uint32_t ctx) : shape(s) {
        const uint32_t coff = s.ratio == 4 ? 2 : 1;
        raw_cap = std::min(s.window, ctx);
        comp_cap = s.ratio ? ctx / s.ratio + 2 : 0;
        raw = std::make_unique<Mirror>(size_t{raw_cap} * s.hd, 0.0f);
        if (s.ratio) {
            const size_t fr = size_t{coff} * s.ratio * coff * s.hd;
            comp = std::make_unique<Mirror>(size_t{comp_cap} * s.hd, 0.0f);
            ckv = std::make_unique<Mirror>(fr, 0.0f);
            csc = std::make_unique<Mirror>(fr, -INFINITY);
            ape = std::make_unique<Mirror>(random_floats(size_t{s.ratio} * coff * s.hd, 5, 0.3f));
            std::vector<float> nw = random_floats(s.hd, 6, 0.1f);
            for (float &v : nw) v += 1.0f;
            norm = std::make_unique<Mirror>(nw);
            if (s.indexer) {
                const size_t ifr = size_t{coff} * s.ratio * coff * s.idx_hd;
                icomp = std::make_unique<Mirror>(size_t{comp_cap} * s.idx_hd, 0.0f);
                ikv = std::make_unique<Mirror>(ifr, 0.0f);
                isc = std::make_unique<Mirror>(ifr, -INFINITY);
                iape = std::make_unique<Mirror>(random_floats(size_t{s.ratio} * coff * s.idx_hd, 7, 0.3f));
                std::vector<float> inw = random_floats(s.idx_hd, 8, 0.1f);
                for (float &v : inw) v += 1.0f;
                inorm = std::make_unique<Mirror>(inw);
            }
        }
        sinks = std::make_unique<Mirror>(random_floats(s.n_head, 9, 1.0f));
    }

    LayerState state(bool gpu) const {
        LayerState st;
        st.ratio = shape.ratio;
        st.indexer = shape.indexer;
        st.raw_cap = raw_cap;
        st.comp_cap = comp_cap;
        auto p = [&](const std::unique_ptr<Mirror> &m) { return m ? (gpu ? m->gpu : m->cpu) : nullptr; };
        st.raw = p(raw);
        st.comp = p(comp);
        st.idx_comp = p(icomp);
        st.comp_kv = p(ckv);
        st.comp_score = p(csc);
        st.idx_kv = p(ikv);
        st.idx_score = p(isc);
        return st;
    }

    AttentionWeights weights(bool gpu, const model::RopeParams &rope) const {
        AttentionWeights w;
        auto vec = [&](const std::unique_ptr<Mirror> &m) {
            Weight v;
            if (!m) return v;
            v.type = gguf::TensorType::F32;
            v.ne0 = m->n;
            v.row_bytes = m->n * 4;
            v.data = gpu ? m->gpu : m->cpu;
            return v;
        };
        w.sinks = vec(sinks);
        w.comp_ape = vec(ape);
        w.comp_norm = vec(norm);
        w.idx_ape = vec(iape);
        w.idx_norm = vec(inorm);
        w.rope = rope;
        w.n_head = shape.n_head;
        w.head_dim = shape.hd;
        w.n_rot = shape.n_rot;
        w.window = shape.window;
        w.idx_head = shape.idx_head;
        w.idx_head_dim = shape.idx_hd;
        w.idx_top_k = shape.top_k;
        w.eps = 1e-6f;
        return w;
    }

    const Shape &shape;
    uint32_t raw_cap = 0, comp_cap = 0;
    std::unique_ptr<Mirror> raw, comp, icomp, ckv, csc, ikv, isc, ape, norm, iape, inorm, sinks;
};

model::RopeParams rope_for(const Shape &s) {
    if (s.n_rot == 64) return model::rope_params(model::ModelConfig::flash(), s.ratio ? 2 : 0);
    model::RopeParams p;  // a plain (non-YaRN) rotation of another width
    p.n_rot = s.n_rot;
    p.freq_base = s.ratio ? 160000.0f : 10000.0f;
    p.theta_scale = powf(p.freq_base, -2.0f / static_cast<float>(s.n_rot));
    return p;
}

void expect_rows_close(const std::string &what, const Mirror &m) {
    const std::vector<float> c = m.cpu_values(), g = m.gpu_values();
    const Diff d = compare(c, g);
    size_t far = 0;
    for (size_t i = 0; i < c.size(); i++)
        if (!(std::fabs(c[i] - g[i]) <= 1e-5f * (1.0f + std::fabs(c[i])))) far++;
    std::printf("%-44s %s, beyond 1e-5: %zu\n", what.c_str(), d.str().c_str(), far);
    EXPECT_EQ(d.bad, 0u) << what;
    EXPECT_LE(far, c.size() / 1000) << what;
    EXPECT_LE(d.rel_l2, 1e-3) << what;
}

void expect_exact(const std::string &what, const Mirror &m) {
    const Diff d = compare(m.cpu_values(), m.gpu_values());
    if (d.mismatches) std::printf("%-44s %s\n", what.c_str(), d.str().c_str());
    EXPECT_EQ(d.mismatches, 0u) << what << ": " << d.str();
}

class CudaAttention : public ::testing::TestWithParam<Shape> {};

TEST_P(CudaAttention, BatchesAndStepsMatchCpu) {
    DSTAR_REQUIRE_GPU();
    Backends &b = *backends();
    const Shape &s = GetParam();
    uint32_t ctx = 0;
    for (uint32_t n : s.batches) ctx += n;
    ctx = std::max(ctx, 1024u);
    Layer layer(s, ctx);
    const model::RopeParams rope = rope_for(s);
    Numerics num;
    num.qat = s.qat;
    num.indexer_ties = s.ties;
    const AttentionWeights wc = layer.weights(false, rope), wg = layer.weights(true, rope);
    LayerState sc = layer.state(false), sg = layer.state(true);
    const uint32_t coff = s.ratio == 4 ? 2 : 1;
    uint32_t pos = 0, seed = 100;
    for (uint32_t n : s.batches) {
        Mirror q(random_floats(size_t{n} * s.n_head * s.hd, seed++));
        Mirror kv(random_floats(size_t{n} * s.hd, seed++));
        Mirror ckv(random_floats(size_t{n} * coff * s.hd, seed++));
        Mirror csc(random_floats(size_t{n} * coff * s.hd, seed++, 2.0f));
        Mirror ikv(random_floats(size_t{n} * coff * s.idx_hd + 1, seed++));
        Mirror isc(random_floats(size_t{n} * coff * s.idx_hd + 1, seed++, 2.0f));
        Mirror iq(random_floats(size_t{n} * s.idx_head * s.idx_hd + 1, seed++));
        Mirror iw(random_floats(size_t{n} * s.idx_head + 1, seed++, 0.3f));
        Mirror heads(size_t{n} * s.n_head * s.hd);
        auto batch = [&](bool gpu) {
            auto p = [&](Mirror &m) { return gpu ? m.gpu : m.cpu; };
            AttentionBatch ab;
            ab.layer = 0;
            ab.n = n;
            ab.pos0 = pos;
            ab.q = p(q);
            ab.kv = p(kv);
            if (s.ratio) {
                ab.comp_kv = p(ckv);
                ab.comp_sc = p(csc);
            }
            if (s.indexer) {
                ab.idx_kv = p(ikv);
                ab.idx_sc = p(isc);
                ab.idx_q = p(iq);
                ab.idx_w = p(iw);
            }
            ab.heads = p(heads);
            return ab;
        };
        b.cpu->attention(sc, wc, batch(false), num);
        b.gpu->attention(sg, wg, batch(true), num);
        const std::string at = strformat("%s pos %u n %u", s.name, pos, n);
        const Diff d = compare(heads.cpu_values(), heads.gpu_values());
        std::printf("%-44s heads: %s\n", at.c_str(), d.str().c_str());
        EXPECT_EQ(d.bad, 0u) << at;
        EXPECT_LE(d.rel_l2, 1e-3) << at;
        expect_exact(at + " raw ring", *layer.raw);
        if (s.ratio) {
            expect_rows_close(at + " compressed rows", *layer.comp);
            expect_exact(at + " frontier kv", *layer.ckv);
            expect_exact(at + " frontier score", *layer.csc);
            if (s.indexer) {
                expect_rows_close(at + " indexer rows", *layer.icomp);
                expect_exact(at + " indexer frontier kv", *layer.ikv);
                expect_exact(at + " indexer frontier score", *layer.isc);
            }
        }
        pos += n;
    }
}

const std::vector<uint32_t> kBatches = {37, 1, 1, 1, 20, 1, 64, 3, 1, 130, 1, 1};

INSTANTIATE_TEST_SUITE_P(
    Layers, CudaAttention,
    ::testing::Values(
        Shape{"window", 0, false, true, 192, 64, 16, 4, 0, 0, 0, Numerics::IndexerTies::Lowest, kBatches},
        Shape{"ratio4_indexer", 4, true, true, 192, 64, 16, 4, 128, 6, 8, Numerics::IndexerTies::Lowest, kBatches},
        Shape{"ratio16", 16, false, true, 192, 64, 16, 4, 0, 0, 0, Numerics::IndexerTies::Lowest, kBatches},
        Shape{"flash_ratio128", 128, false, true, 512, 64, 128, 8, 0, 0, 0, Numerics::IndexerTies::Lowest,
              {300, 1, 1, 40, 1}},
        Shape{"flash_ratio4", 4, true, true, 512, 64, 128, 8, 128, 8, 16, Numerics::IndexerTies::Lowest,
              {100, 1, 2, 1}},
        // The model's 64 indexer heads, and 40 (lanes past the last head idle).
        Shape{"flash_ratio4_idx64", 4, true, true, 512, 64, 128, 8, 128, 64, 16, Numerics::IndexerTies::Lowest,
              {100, 1, 2, 1}},
        Shape{"ratio4_idx40", 4, true, true, 192, 64, 16, 4, 128, 40, 8, Numerics::IndexerTies::Lowest, kBatches},
        Shape{"hf_torch_ties", 4, true, false, 64, 16, 8, 4, 16, 2, 3, Numerics::IndexerTies::Torch, kBatches},
        // Batches of >= 64 tokens take the tensor-core kernel (attention_mma.cu): the ring
        // wrapping, indexer lists in the middle of a batch (top-64 from position 259), odd
        // head counts (a partial 16-head tile, idle warps) and row counts, a 4,096-token chunk.
        Shape{"mma_flash_ratio4", 4, true, true, 512, 64, 128, 24, 128, 8, 64, Numerics::IndexerTies::Lowest,
              {64, 1, 300, 1, 700, 3, 1}},
        Shape{"mma_ratio16_odd", 16, false, true, 192, 64, 16, 40, 0, 0, 0, Numerics::IndexerTies::Lowest,
              {64, 77, 1, 129, 3, 1000, 1}},
        Shape{"mma_window_64heads", 0, false, true, 512, 64, 128, 64, 0, 0, 0, Numerics::IndexerTies::Lowest,
              {100, 1, 250, 1, 64}},
        Shape{"mma_flash_ratio128_4k", 128, false, true, 512, 64, 128, 32, 0, 0, 0, Numerics::IndexerTies::Lowest,
              {4096, 1, 65, 1}}),
    [](const ::testing::TestParamInfo<Shape> &i) { return std::string(i.param.name); });

}  // namespace
}  // namespace dstar::backend::test
