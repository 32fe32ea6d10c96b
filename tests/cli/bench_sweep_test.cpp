// ds4-bench's sweep: frontier arithmetic, CSV format, the EOS-free greedy choice, and a real
// sweep on the tiny synthetic model checked against sessions that never saw a snapshot.
#include "cli/bench_sweep.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <gtest/gtest.h>
#include <unistd.h>

#include "common/error.h"
#include "engine/engine.h"
#include "engine/session.h"
#include "model/synth.h"
#include "tokenizer/hf_vocab.h"

namespace dstar::cli::bench {
namespace {

SweepPlan plan(uint32_t start, uint32_t max, uint32_t incr, double mul = 1.0, uint32_t gen = 4) {
    SweepPlan p;
    p.ctx_start = start;
    p.ctx_max = max;
    p.step_incr = incr;
    p.step_mul = mul;
    p.gen_tokens = gen;
    return p;
}

using Fronts = std::vector<uint32_t>;

TEST(BenchSweep, FrontiersByIncrementEndAtCtxMax) {
    EXPECT_EQ(frontiers(plan(2048, 8192, 2048)), (Fronts{2048, 4096, 6144, 8192}));
    EXPECT_EQ(frontiers(plan(100, 350, 100)), (Fronts{100, 200, 300, 350}));  // last row clamped
    EXPECT_EQ(frontiers(plan(512, 512, 2048)), (Fronts{512}));
    EXPECT_EQ(frontiers(plan(1, 3, 1000000)), (Fronts{1, 3}));
}

TEST(BenchSweep, FrontiersByMultiplier) {
    EXPECT_EQ(frontiers(plan(512, 5000, 2048, 2.0)), (Fronts{512, 1024, 2048, 4096, 5000}));
    EXPECT_EQ(frontiers(plan(20, 70, 0, 1.5)), (Fronts{20, 30, 45, 68, 70}));  // ceil(67.5) = 68
    EXPECT_EQ(frontiers(plan(8192, 32768, 0, 4.0)), (Fronts{8192, 32768}));
    // A multiplier too small to move past the current frontier still advances by one.
    const double tiny_step = std::nextafter(1.0, 2.0);
    EXPECT_EQ(frontiers(plan(1000, 1003, 0, tiny_step)), (Fronts{1000, 1001, 1002, 1003}));
    EXPECT_EQ(next_frontier(plan(1000, 1003, 0, tiny_step), 1003), 1003u);
}

TEST(BenchSweep, InvalidPlansAreRejected) {
    EXPECT_THROW(frontiers(plan(0, 10, 1)), Error);
    EXPECT_THROW(frontiers(plan(11, 10, 1)), Error);
    EXPECT_THROW(frontiers(plan(1, 10, 0)), Error);
    EXPECT_THROW(frontiers(plan(1, 10, 1, 0.9)), Error);
    EXPECT_THROW(frontiers(plan(1, 10, 1, 1.0, 0)), Error);
}

TEST(BenchSweep, CsvMatchesDs4Bench) {
    EXPECT_EQ(csv_header(), "ctx_tokens,prefill_tokens,prefill_tps,gen_tokens,gen_tps,kvcache_bytes");
    SweepRow r;
    r.ctx_tokens = 4096;
    r.prefill_tokens = 2048;
    r.prefill_seconds = 0.5;
    r.gen_tokens = 128;
    r.gen_seconds = 3.0;
    r.kvcache_bytes = 123456789012ull;
    EXPECT_EQ(csv_row(r), "4096,2048,4096.00,128,42.67,123456789012");
    r.prefill_seconds = 0;
    r.gen_seconds = 0;
    EXPECT_EQ(csv_row(r), "4096,2048,0.00,128,0.00,123456789012");
}

TEST(BenchSweep, ArgmaxNeverPicksTheExcludedToken) {
    const std::vector<float> logits{0.5f, 3.0f, 2.0f, 3.0f, 9.0f};
    EXPECT_EQ(argmax_excluding(logits.data(), 5, -1), 4);
    EXPECT_EQ(argmax_excluding(logits.data(), 5, 4), 1);  // tie between 1 and 3: the lowest id
    EXPECT_EQ(argmax_excluding(logits.data(), 1, 0), -1);
}

TEST(BenchSweep, RandomPromptIsDeterministic) {
    const std::vector<int32_t> a = random_prompt(42, 5000, 300, 0, 1), b = random_prompt(42, 5000, 300, 0, 1),
                               c = random_prompt(43, 5000, 300, 0, 1);
    ASSERT_EQ(a.size(), 5000u);
    EXPECT_EQ(a, b);
    EXPECT_NE(a, c);
    EXPECT_EQ(a[0], 0);
    EXPECT_EQ(std::count(a.begin(), a.end(), 1), 0);  // never EOS
    EXPECT_TRUE(std::all_of(a.begin(), a.end(), [](int32_t t) { return t >= 0 && t < 300; }));
    // std::mt19937_64's output is fixed by the standard: the first draw of seed 42 is
    // 13930160852258120406, and 13930160852258120406 % 300 = 6.
    EXPECT_EQ(a[1], 6);
    EXPECT_THROW(random_prompt(1, 10, 1, 0, 0), Error);
}

class BenchSweepModel : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        path_ = std::string(::testing::TempDir()) + "/dstar_bench_tiny_" + std::to_string(::getpid()) + ".gguf";
        model::SynthOptions o;
        o.preset = model::SynthPreset::Tiny;
        o.tokenizer_json = tok::default_npm_tokenizer_json();
        model::write_synthetic(path_, o);
    }
    static void TearDownTestSuite() { std::remove(path_.c_str()); }
    static engine::Engine open() {
        engine::EngineOptions eo;
        eo.model_path = path_;
        eo.threads = 2;
        return engine::Engine(eo);
    }
    static std::string path_;
};
std::string BenchSweepModel::path_;

TEST_F(BenchSweepModel, RowsMatchSessionsThatNeverSawASnapshot) {
    engine::Engine e = open();
    const int32_t eos = e.tokenizer().eos();
    const SweepPlan p = plan(24, 90, 30, 1.0, 5);  // frontiers 24, 54, 84, 90
    const std::vector<int32_t> tokens = random_prompt(5, 100, e.config().n_vocab, e.tokenizer().bos(), eos);
    const uint32_t ctx = p.ctx_max + p.gen_tokens + 1;
    engine::Session s(e, ctx, 16);
    std::vector<SweepRow> rows;
    run_sweep(s, tokens, p, eos, [&](const SweepRow &r) { rows.push_back(r); });

    ASSERT_EQ(rows.size(), 4u);
    const Fronts expect_ctx{24, 54, 84, 90}, expect_prefill{24, 30, 30, 6};
    // The reference walks the same prefixes without ever snapshotting or generating; a copy of
    // it generates greedily, EOS excluded.
    engine::Session ref(e, ctx, 16);
    for (size_t i = 0; i < rows.size(); i++) {
        const SweepRow &r = rows[i];
        EXPECT_EQ(r.ctx_tokens, expect_ctx[i]);
        EXPECT_EQ(r.prefill_tokens, expect_prefill[i]);
        EXPECT_EQ(r.gen_tokens, 5u);
        EXPECT_GT(r.prefill_seconds, 0.0);
        EXPECT_GT(r.gen_seconds, 0.0);
        ref.sync(std::vector<int32_t>(tokens.begin(), tokens.begin() + r.ctx_tokens));
        EXPECT_EQ(r.kvcache_bytes, ref.save().size()) << "frontier " << r.ctx_tokens;
        EXPECT_EQ(r.kvcache_bytes, ref.payload_bytes());
        engine::Session gen(e, ctx, 16);
        gen.copy_from(ref);
        std::vector<int32_t> expect_gen;
        for (uint32_t k = 0; k < p.gen_tokens; k++) {
            const int32_t t = argmax_excluding(gen.logits().data(), e.config().n_vocab, eos);
            gen.append(t);
            expect_gen.push_back(t);
        }
        EXPECT_EQ(r.generated, expect_gen) << "frontier " << r.ctx_tokens;
    }
    // Restored after the last row: the session holds the first ctx-max tokens, not the
    // generated ones.
    EXPECT_EQ(s.tokens(), std::vector<int32_t>(tokens.begin(), tokens.begin() + p.ctx_max));
}

TEST_F(BenchSweepModel, TooShortASequenceOrContextIsAnError) {
    engine::Engine e = open();
    const int32_t eos = e.tokenizer().eos();
    const std::vector<int32_t> tokens = random_prompt(5, 50, e.config().n_vocab, e.tokenizer().bos(), eos);
    engine::Session s(e, 64, 16);
    auto no_rows = [](const SweepRow &) { FAIL() << "no row expected"; };
    try {
        run_sweep(s, tokens, plan(16, 60, 16), eos, no_rows);
        FAIL() << "expected an error";
    } catch (const Error &err) {
        EXPECT_NE(std::string(err.what()).find("has 50 tokens, need at least --ctx-max=60"), std::string::npos);
    }
    try {
        run_sweep(s, tokens, plan(16, 50, 16, 1.0, 14), eos, no_rows);  // 50 + 14 >= 64
        FAIL() << "expected an error";
    } catch (const Error &err) {
        EXPECT_NE(std::string(err.what()).find("must be greater than ctx-max + gen-tokens"), std::string::npos);
    }
}

}  // namespace
}  // namespace dstar::cli::bench
