// Sessions on a synthetic tiny model: prefill and decode agree, chunking and thread count do
// not change a bit, snapshots (ds4's DSV4 session payload) restore exactly and have ds4's
// byte layout, and malformed snapshots are rejected without touching the session.
//
// Tolerance is zero on purpose: the CPU backend computes every token's row with the same
// operations in the same order whatever the batch (layer-major prefill runs the
// cache-dependent part token by token; matmuls split work by output row, never inside a
// dot product), so any difference is a bug, not rounding.
#include "engine/session.h"

#include <cstring>
#include <gtest/gtest.h>
#include <random>

#include "common/error.h"
#include "common/fp16.h"
#include "engine/session_payload.h"
#include "model/synth.h"
#include "tokenizer/hf_vocab.h"

namespace dstar::engine {
namespace {

class SessionTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        path_ = std::string(::testing::TempDir()) + "/dstar_session_tiny_" + std::to_string(::getpid()) + ".gguf";
        model::SynthOptions o;
        o.preset = model::SynthPreset::Tiny;
        o.tokenizer_json = tok::default_npm_tokenizer_json();
        model::write_synthetic(path_, o);
    }
    static void TearDownTestSuite() { std::remove(path_.c_str()); }

    static Engine open(int threads) {
        EngineOptions eo;
        eo.model_path = path_;
        eo.threads = threads;
        return Engine(eo);
    }
    // A prompt long enough for every mechanism of the tiny shape: the 16-row window slides,
    // ratio-4 and ratio-16 rows are emitted, and the indexer (top 8) selects from up to 75 rows.
    static std::vector<int32_t> prompt(size_t n = 300) {
        std::mt19937 rng(7);
        std::vector<int32_t> ids{0};
        while (ids.size() < n) ids.push_back(static_cast<int32_t>(rng() % 4096));
        return ids;
    }
    static std::string path_;
};
std::string SessionTest::path_;

bool same_bits(const std::vector<float> &a, const std::vector<float> &b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST_F(SessionTest, PrefillEqualsTokenByTokenDecode) {
    Engine e = open(2);
    const std::vector<int32_t> ids = prompt();
    Session batch(e, 1024, 512);
    const std::vector<float> all = batch.append_all_logits(ids.data(), static_cast<uint32_t>(ids.size()));
    Session step(e, 1024, 1);
    std::vector<float> seq;
    for (int32_t id : ids) {
        step.append(id);
        seq.insert(seq.end(), step.logits().begin(), step.logits().end());
    }
    ASSERT_TRUE(same_bits(all, seq));
    for (float v : all) ASSERT_TRUE(std::isfinite(v));
}

TEST_F(SessionTest, PrefillChunkSizesAgree) {
    Engine e = open(2);
    const std::vector<int32_t> ids = prompt();
    std::vector<float> ref;
    for (uint32_t chunk : {512u, 64u, 7u, 1u}) {
        Session s(e, 1024, chunk);
        const std::vector<float> all = s.append_all_logits(ids.data(), static_cast<uint32_t>(ids.size()));
        if (ref.empty()) ref = all;
        else EXPECT_TRUE(same_bits(ref, all)) << "chunk " << chunk;
        // sync() (prefill without per-position logits) ends with the same last row.
        Session t(e, 1024, chunk);
        t.sync(ids);
        EXPECT_TRUE(same_bits(t.logits(), s.logits())) << "chunk " << chunk;
    }
}

TEST_F(SessionTest, SnapshotMidPromptContinuesIdentically) {
    Engine e = open(2);
    const std::vector<int32_t> ids = prompt();
    Session whole(e, 1024, 64);
    whole.sync(ids);
    for (size_t cut : {size_t{1}, size_t{37}, size_t{150}, size_t{299}}) {
        Session first(e, 1024, 64);
        first.sync(std::vector<int32_t>(ids.begin(), ids.begin() + static_cast<long>(cut)));
        const std::vector<uint8_t> snap = first.save();
        Session resumed(e, 1024, 64);
        resumed.load(snap);
        EXPECT_EQ(resumed.tokens(), first.tokens());
        EXPECT_TRUE(same_bits(resumed.logits(), first.logits()));
        resumed.sync(ids);
        EXPECT_TRUE(same_bits(resumed.logits(), whole.logits())) << "cut at " << cut;
    }
}

TEST_F(SessionTest, ThreadCountDoesNotChangeResults) {
    const std::vector<int32_t> ids = prompt(120);
    std::vector<float> ref;
    for (int threads : {1, 2, 3}) {
        Engine e = open(threads);
        Session s(e, 512, 32);
        const std::vector<float> all = s.append_all_logits(ids.data(), static_cast<uint32_t>(ids.size()));
        if (ref.empty()) ref = all;
        else EXPECT_TRUE(same_bits(ref, all)) << threads << " threads";
    }
}

TEST_F(SessionTest, SyncReusesAPrefixAndRestartsOtherwise) {
    Engine e = open(2);
    const std::vector<int32_t> ids = prompt(80);
    Session a(e, 256, 16), b(e, 256, 16);
    a.sync(std::vector<int32_t>(ids.begin(), ids.begin() + 50));
    a.sync(ids);  // extends
    b.sync(ids);
    EXPECT_TRUE(same_bits(a.logits(), b.logits()));
    std::vector<int32_t> other = ids;
    other[10] = 5;
    a.sync(other);  // diverges at 10: restart
    Session c(e, 256, 16);
    c.sync(other);
    EXPECT_TRUE(same_bits(a.logits(), c.logits()));
}

TEST_F(SessionTest, ContextOverflowIsAClearErrorAndLeavesNoHalfState) {
    Engine e = open(2);
    Session s(e, 40, 16);
    const std::vector<int32_t> ids = prompt(41);
    try {
        s.sync(ids);
        FAIL() << "expected an error";
    } catch (const Error &err) {
        EXPECT_NE(std::string(err.what()).find("context"), std::string::npos) << err.what();
    }
    s.sync(std::vector<int32_t>(ids.begin(), ids.begin() + 40));
    EXPECT_EQ(s.pos(), 40u);
    const std::vector<float> before = s.logits();
    EXPECT_THROW(s.append(1), Error);
    EXPECT_EQ(s.pos(), 40u);  // rejected before any work: the session is intact
    EXPECT_TRUE(same_bits(s.logits(), before));
    Session u(e, 64, 16);
    u.sync(std::vector<int32_t>(ids.begin(), ids.begin() + 10));
    const int32_t bad = 99999;
    EXPECT_THROW(u.append(&bad, 1), Error);
    EXPECT_EQ(u.pos(), 10u);
}

TEST_F(SessionTest, CorruptSnapshotsAreRejectedWithoutChangingTheSession) {
    Engine e = open(2);
    const std::vector<int32_t> ids = prompt(60);
    Session s(e, 256, 16);
    s.sync(ids);
    std::vector<uint8_t> snap = s.save();
    Session t(e, 256, 16);
    t.sync(std::vector<int32_t>(ids.begin(), ids.begin() + 5));
    const std::vector<float> before = t.logits();
    std::vector<uint8_t> truncated(snap.begin(), snap.end() - 100);
    EXPECT_THROW(t.load(truncated), Error);
    std::vector<uint8_t> bad_magic = snap;
    bad_magic[0] = 'X';
    EXPECT_THROW(t.load(bad_magic), Error);
    EXPECT_EQ(t.pos(), 5u);
    EXPECT_TRUE(same_bits(t.logits(), before));
    Session small(e, 32, 16);  // context too small for 60 tokens
    EXPECT_THROW(small.load(snap), Error);
}

// ---- the DSV4 payload layout, walked field by field from the model config ----

uint32_t u32_at(const std::vector<uint8_t> &b, size_t at) {
    uint32_t v;
    std::memcpy(&v, b.data() + at, 4);
    return v;
}

// One layer's sections of a payload, located independently of the writer: sizes come from
// the config and the token count only.
struct LayerRows {
    std::vector<float> raw, comp, comp_kv, comp_score, idx, idx_kv, idx_score;
};
struct Payload {
    std::vector<uint32_t> header;  // the 13 fields
    std::vector<int32_t> tokens;
    std::vector<float> logits;
    std::vector<uint32_t> n_comp, n_index;
    std::vector<LayerRows> layers;
};

Payload walk_payload(const std::vector<uint8_t> &b, const model::ModelConfig &c) {
    Payload p;
    size_t at = 0;
    auto take_f32 = [&](std::vector<float> &dst, size_t n) {
        if (at + 4 * n > b.size()) throw std::runtime_error("payload shorter than its layout");
        dst.resize(n);
        std::memcpy(dst.data(), b.data() + at, 4 * n);
        at += 4 * n;
    };
    auto take_u32 = [&](std::vector<uint32_t> &dst, size_t n) {
        dst.resize(n);
        for (size_t i = 0; i < n; i++, at += 4) dst[i] = u32_at(b, at);
    };
    take_u32(p.header, 13);
    const uint32_t n = p.header[7], raw_live = p.header[12];
    std::vector<uint32_t> toks;
    take_u32(toks, n);
    p.tokens.assign(toks.begin(), toks.end());
    take_f32(p.logits, c.n_vocab);
    take_u32(p.n_comp, c.n_layer);
    take_u32(p.n_index, c.n_layer);
    for (uint32_t l = 0; l < c.n_layer; l++) {
        LayerRows r;
        take_f32(r.raw, static_cast<size_t>(raw_live) * c.head_dim);
        const uint32_t ratio = c.ratio(l);
        if (ratio) {
            const size_t coff = ratio == 4 ? 2 : 1;
            take_f32(r.comp, static_cast<size_t>(p.n_comp[l]) * c.head_dim);
            take_f32(r.comp_kv, coff * c.head_dim * coff * ratio);
            take_f32(r.comp_score, coff * c.head_dim * coff * ratio);
            if (ratio == 4) {
                take_f32(r.idx, static_cast<size_t>(p.n_index[l]) * c.idx_head_dim);
                take_f32(r.idx_kv, coff * c.idx_head_dim * coff * ratio);
                take_f32(r.idx_score, coff * c.idx_head_dim * coff * ratio);
            }
        }
        p.layers.push_back(std::move(r));
    }
    if (at != b.size()) throw std::runtime_error("payload longer than its layout");
    return p;
}

TEST_F(SessionTest, SnapshotHasDs4PayloadLayoutFieldByField) {
    Engine e = open(2);
    const model::ModelConfig &c = e.config();
    ASSERT_EQ(c.window, 16u);  // the tiny shape: 37 tokens wrap the raw ring twice
    const std::vector<int32_t> ids = prompt(42);
    Session s(e, 256, 16);
    s.sync(std::vector<int32_t>(ids.begin(), ids.begin() + 37));
    const std::vector<uint8_t> bytes = s.save();
    ASSERT_EQ(bytes.size(), s.payload_bytes());
    ASSERT_EQ(std::string(reinterpret_cast<const char *>(bytes.data()), 4), "DSV4");
    const Payload p = walk_payload(bytes, c);

    const std::vector<uint32_t> want_header = {kPayloadMagic, 1,  256,       256,  16,         16,
                                               256 / 4 + 2,   37, c.n_layer, c.head_dim, c.idx_head_dim,
                                               c.n_vocab,     16};
    EXPECT_EQ(p.header, want_header);
    EXPECT_EQ(p.tokens, s.tokens());
    EXPECT_TRUE(same_bits(p.logits, s.logits()));
    for (uint32_t l = 0; l < c.n_layer; l++) {
        const uint32_t ratio = c.ratio(l);
        EXPECT_EQ(p.n_comp[l], ratio ? 37 / ratio : 0) << "layer " << l;
        EXPECT_EQ(p.n_index[l], ratio == 4 ? 37 / 4 : 0) << "layer " << l;
        for (float v : p.layers[l].raw) {  // KV rows are stored as f16 values
            ASSERT_TRUE(std::isfinite(v));
            ASSERT_EQ(v, f16_round(v));
        }
    }

    // Raw rows are in logical order (oldest first) whatever the ring layout: one more token
    // shifts the window by exactly one row.  Compressed rows only ever grow.
    Session t(e, 256, 16);
    t.sync(std::vector<int32_t>(ids.begin(), ids.begin() + 41));
    const Payload q = walk_payload(t.save(), c);
    Session u(e, 256, 16);
    u.sync(std::vector<int32_t>(ids.begin(), ids.begin() + 38));
    const Payload r = walk_payload(u.save(), c);
    const size_t hd = c.head_dim;
    for (uint32_t l = 0; l < c.n_layer; l++) {
        EXPECT_TRUE(std::equal(p.layers[l].raw.begin() + hd, p.layers[l].raw.end(), r.layers[l].raw.begin()))
            << "layer " << l;
        EXPECT_FALSE(std::equal(p.layers[l].raw.begin(), p.layers[l].raw.end(), r.layers[l].raw.begin()));
        EXPECT_TRUE(std::equal(p.layers[l].comp.begin(), p.layers[l].comp.end(), q.layers[l].comp.begin()));
        EXPECT_TRUE(std::equal(p.layers[l].idx.begin(), p.layers[l].idx.end(), q.layers[l].idx.begin()));
    }
}

TEST_F(SessionTest, SnapshotCompressorStatesKeepDs4RowOrder) {
    // Two tokens in: ratio-4 compressors hold them in rows 4 and 5 of the 8-row overlapping
    // state (rows 0-3 are the still-empty previous window), ratio-16 ones in rows 0 and 1.
    // Empty rows score -inf.
    Engine e = open(2);
    const model::ModelConfig &c = e.config();
    Session s(e, 128, 16);
    s.sync(prompt(2));
    const Payload p = walk_payload(s.save(), c);
    EXPECT_EQ(p.header[12], 2u);
    for (uint32_t l = 0; l < c.n_layer; l++) {
        const uint32_t ratio = c.ratio(l);
        if (!ratio) continue;
        auto check = [&](const std::vector<float> &score, uint32_t width, uint32_t first_used) {
            ASSERT_EQ(score.size(), static_cast<size_t>(width) * (ratio == 4 ? 8 : ratio));
            for (size_t row = 0; row * width < score.size(); row++) {
                const bool used = row == first_used || row == first_used + 1;
                const float v = score[row * width];
                EXPECT_EQ(std::isinf(v) && v < 0, !used) << "layer " << l << " row " << row;
            }
        };
        check(p.layers[l].comp_score, (ratio == 4 ? 2 : 1) * c.head_dim, ratio == 4 ? 4 : 0);
        if (ratio == 4) check(p.layers[l].idx_score, 2 * c.idx_head_dim, 4);
    }
}

TEST_F(SessionTest, SnapshotAcceptsOtherPrefillChunkAndLargerRawRing) {
    Engine e = open(2);
    const std::vector<int32_t> ids = prompt(70);
    Session s(e, 256, 16);
    s.sync(std::vector<int32_t>(ids.begin(), ids.begin() + 50));
    std::vector<uint8_t> bytes = s.save();
    auto set_field = [&](int i, uint32_t v) { std::memcpy(bytes.data() + 4 * i, &v, 4); };
    set_field(3, 7);     // another prefill chunk: dstar's prefill does not depend on it
    set_field(4, 4096);  // a GPU ring larger than the window: rows are logical anyway
    Session t(e, 512, 64);  // a larger context loads it too
    t.load(bytes);
    EXPECT_EQ(t.tokens(), s.tokens());
    EXPECT_TRUE(same_bits(t.logits(), s.logits()));
    s.sync(ids);
    t.sync(ids);
    EXPECT_TRUE(same_bits(t.logits(), s.logits()));
}

TEST_F(SessionTest, MalformedPayloadsAreRejectedByName) {
    Engine e = open(2);
    const model::ModelConfig &c = e.config();
    const std::vector<int32_t> ids = prompt(40);
    Session s(e, 256, 16);
    s.sync(ids);
    const std::vector<uint8_t> good = s.save();
    const size_t counts_at = kPayloadHeaderBytes + 4 * ids.size() + 4ull * c.n_vocab;

    Session t(e, 256, 16);
    t.sync(std::vector<int32_t>(ids.begin(), ids.begin() + 9));
    const std::vector<float> before = t.logits();
    auto expect_rejected = [&](std::vector<uint8_t> bad, const std::string &why) {
        try {
            t.load(bad);
            ADD_FAILURE() << "accepted a payload that should fail with: " << why;
        } catch (const Error &err) {
            EXPECT_NE(std::string(err.what()).find(why), std::string::npos) << err.what();
        }
        EXPECT_EQ(t.pos(), 9u) << why;  // unchanged
        EXPECT_TRUE(same_bits(t.logits(), before)) << why;
    };
    auto with_u32 = [&](size_t at, uint32_t v) {
        std::vector<uint8_t> b = good;
        std::memcpy(b.data() + at, &v, 4);
        return b;
    };
    expect_rejected(with_u32(0, 0x34565345), "unsupported session payload version");
    expect_rejected(with_u32(4, 2), "unsupported session payload version");
    expect_rejected(with_u32(8, 512), "does not fit current context");
    expect_rejected(with_u32(4 * 8, c.n_layer + 1), "different DS4 layout");
    expect_rejected(with_u32(4 * 9, c.head_dim * 2), "different DS4 layout");
    expect_rejected(with_u32(4 * 10, 64), "different DS4 layout");
    expect_rejected(with_u32(4 * 11, c.n_vocab - 1), "different DS4 layout");
    expect_rejected(with_u32(4 * 5, 8), "raw window");
    expect_rejected(with_u32(4 * 12, 15), "raw ring layout");
    expect_rejected(with_u32(4 * 4, 0), "raw ring layout");
    expect_rejected(with_u32(4 * 6, 1000), "compressed cache is larger");
    expect_rejected(with_u32(4 * 7, 41), "truncated session payload");
    expect_rejected(with_u32(4 * 7, 39), "trailing payload bytes");
    expect_rejected(with_u32(kPayloadHeaderBytes + 4 * 3, c.n_vocab), "outside the vocabulary");
    expect_rejected(with_u32(counts_at + 4 * 2, 11), "row counts of layer 2");
    expect_rejected(with_u32(counts_at + 4 * 2, 1000), "invalid compressed row count");
    expect_rejected(with_u32(counts_at + 4 * (c.n_layer + 3), 1), "row counts of layer 3");
    std::vector<uint8_t> longer = good;
    longer.push_back(0);
    expect_rejected(longer, "trailing payload bytes");
    expect_rejected(std::vector<uint8_t>(good.begin(), good.end() - 1), "truncated session payload");
    expect_rejected(std::vector<uint8_t>(good.begin(), good.begin() + 20), "truncated session payload");

    Session full(e, 40, 16);  // ds4 keeps room for one more token: 40 tokens need ctx > 40
    EXPECT_THROW(full.load(good), Error);
    EXPECT_THROW(Session(e, 64, 16).save(), Error);  // nothing to save
}

TEST_F(SessionTest, ReadFailureWhileRestoringRowsResetsTheSession) {
    Engine e = open(2);
    const std::vector<int32_t> ids = prompt(40);
    Session s(e, 256, 16);
    s.sync(ids);
    const std::vector<uint8_t> good = s.save();
    Session t(e, 256, 16);
    t.sync(std::vector<int32_t>(ids.begin(), ids.begin() + 9));
    size_t at = 0;
    const size_t fail_at = good.size() - 1000;  // inside the last layer's rows
    auto source = [&](void *p, size_t n) {
        if (at + n > fail_at) throw Error("simulated read error");
        std::memcpy(p, good.data() + at, n);
        at += n;
    };
    EXPECT_THROW(t.load(source, good.size()), Error);
    EXPECT_EQ(t.pos(), 0u);
    EXPECT_TRUE(t.tokens().empty());
    EXPECT_TRUE(t.logits().empty());
    t.sync(ids);  // usable again, and identical to a fresh session
    EXPECT_TRUE(same_bits(t.logits(), s.logits()));
}

}  // namespace
}  // namespace dstar::engine
