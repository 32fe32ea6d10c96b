// Sessions on a synthetic tiny model: prefill and decode agree, chunking and thread count do
// not change a bit, snapshots restore exactly.
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

}  // namespace
}  // namespace dstar::engine
