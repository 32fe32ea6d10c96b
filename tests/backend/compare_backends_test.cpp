// The comparison measures of compare_backends (used for the CUDA backend) on inputs with
// known answers, and a whole-model comparison of the CPU backend with itself (identical by
// construction: every measure must be exactly zero).
#include <gtest/gtest.h>
#include <unistd.h>

#include "backend/compare_backends.h"
#include "model/synth.h"
#include "tokenizer/hf_vocab.h"

namespace dstar::backend::compare {
namespace {

TEST(CompareRow, IdenticalRowsHaveZeroError) {
    const std::vector<float> a = {1.0f, 3.0f, 2.5f, -1.0f};
    const RowStats r = compare_row(a.data(), a.data(), 4);
    EXPECT_FLOAT_EQ(r.ref_margin, 0.5f);
    EXPECT_TRUE(r.argmax_equal);
    EXPECT_EQ(r.e, 0.0);
    EXPECT_EQ(r.max_abs, 0.0);
    EXPECT_NEAR(r.kl, 0.0, 1e-15);
}

TEST(CompareRow, ShiftedLogitsHaveSameSoftmax) {
    const std::vector<float> a = {1.0f, 3.0f, 2.5f, -1.0f}, b = {2.0f, 4.0f, 3.5f, 0.0f};
    const RowStats r = compare_row(a.data(), b.data(), 4);
    EXPECT_NEAR(r.e, 0.0, 1e-12);  // log-softmax ignores a constant shift
    EXPECT_DOUBLE_EQ(r.max_abs, 1.0);
}

TEST(CompareRow, SwappedTopTwoIsAnArgmaxDifference) {
    const std::vector<float> a = {0.0f, 3.0f, 1.0f}, b = {0.0f, 1.0f, 3.0f};
    const RowStats r = compare_row(a.data(), b.data(), 3);
    EXPECT_FALSE(r.argmax_equal);
    EXPECT_FLOAT_EQ(r.ref_margin, 2.0f);
    EXPECT_NEAR(r.e, 2.0, 1e-9);  // log p of ids 1 and 2 each move by exactly 2
    Report rep;
    rep.rows = {r};
    EXPECT_EQ(rep.argmax_failures(), 1u);
    EXPECT_FALSE(rep.passes());
}

TEST(CompareBackends, CpuAgainstItselfIsExact) {
    const std::string path = std::string(::testing::TempDir()) + "/dstar_compare_tiny_" + std::to_string(::getpid()) + ".gguf";
    model::SynthOptions o;
    o.preset = model::SynthPreset::Tiny;
    o.tokenizer_json = tok::default_npm_tokenizer_json();
    model::write_synthetic(path, o);
    engine::EngineOptions eo;
    eo.model_path = path;
    eo.threads = 2;
    engine::Engine a(eo), b(eo);
    const Report r = teacher_forced(a, b, random_prompt(a, 40, 3), 8, 16, "cpu vs cpu");
    std::printf("%s\n", r.summary().c_str());
    EXPECT_EQ(r.rows.size(), 48u);
    EXPECT_EQ(r.max_abs(), 0.0);
    EXPECT_EQ(r.argmax_differences(), 0u);
    EXPECT_TRUE(r.passes());
    const Repro rr = greedy_twice(a, random_prompt(a, 20, 4), 6, 8);
    EXPECT_TRUE(rr.identical);
    EXPECT_EQ(rr.tokens.size(), 6u);
    std::remove(path.c_str());
}

}  // namespace
}  // namespace dstar::backend::compare
