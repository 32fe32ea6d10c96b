// CUDA RMS norm, embedding, scale/add/SwiGLU, RoPE and the QAT simulations against the CPU
// reference.  Tolerances: embedding, scale, add and the QAT simulations are the same float
// operations on the same inputs, so equal bits are required; RMS norm sums in double in a
// different order, which can move the scale by one ulp (1e-6 relative allowed); SwiGLU and
// RoPE call expf / cosf / sinf, whose CUDA versions may differ from glibc's by an ulp or two
// (1e-6 relative to the values' scale allowed).
#include <gtest/gtest.h>

#include "backend/cuda_test_util.h"
#include "common/error.h"
#include "model/config.h"
#include "model/rope.h"

namespace dstar::backend::test {
namespace {

using gguf::TensorType;

void report(const std::string &what, const Diff &d) { std::printf("%-40s %s\n", what.c_str(), d.str().c_str()); }

TEST(CudaElementwise, RmsNorm) {
    DSTAR_REQUIRE_GPU();
    Backends &b = *backends();
    for (uint32_t dim : {64u, 97u, 192u, 512u, 1024u, 4096u, 16384u, 20000u}) {
        for (uint32_t rows : {1u, 37u}) {
            Mirror x(random_floats(size_t{rows} * dim, dim + rows, 3.0f));
            HostWeight hw = make_vector(random_floats(dim, 5 * dim));
            const Weight wc = b.cpu->bind(hw.tensor, true), wg = b.gpu->bind(hw.tensor, true);
            Mirror out(size_t{rows} * dim);
            b.cpu->rms_norm(out.cpu, x.cpu, &wc, rows, dim, 1e-6f);
            b.gpu->rms_norm(out.gpu, x.gpu, &wg, rows, dim, 1e-6f);
            Diff d = compare(out.cpu_values(), out.gpu_values());
            report(strformat("rms_norm dim=%u rows=%u", dim, rows), d);
            EXPECT_EQ(d.bad, 0u);
            EXPECT_LE(d.max_abs, 1e-6 * d.ref_max);
            // In place, without a weight (the per-head query norm).
            b.cpu->rms_norm(x.cpu, x.cpu, nullptr, rows, dim, 1e-6f);
            b.gpu->rms_norm(x.gpu, x.gpu, nullptr, rows, dim, 1e-6f);
            d = compare(x.cpu_values(), x.gpu_values());
            EXPECT_EQ(d.bad, 0u);
            EXPECT_LE(d.max_abs, 1e-6 * d.ref_max);
        }
    }
}

TEST(CudaElementwise, EmbedEveryType) {
    DSTAR_REQUIRE_GPU();
    Backends &b = *backends();
    for (TensorType t : {TensorType::F32, TensorType::F16, TensorType::BF16, TensorType::Q8_0, TensorType::Q2_K,
                         TensorType::Q4_K, TensorType::IQ2_XXS}) {
        for (uint64_t d : {512u, 4096u}) {  // 2 and 16 blocks per token
            HostWeight hw = make_weight(t, d, 50, 1, 11);
            const Weight wc = b.cpu->bind(hw.tensor, false), wg = b.gpu->bind(hw.tensor, false);
            const std::vector<int32_t> tokens = {0, 49, 7, 7, 23};
            Mirror out(tokens.size() * 4 * d);
            b.cpu->embed(wc, tokens.data(), 5, 4, out.cpu);
            b.gpu->embed(wg, tokens.data(), 5, 4, out.gpu);
            const Diff diff = compare(out.cpu_values(), out.gpu_values());
            report(strformat("embed %s d=%u", tname(t), static_cast<unsigned>(d)), diff);
            EXPECT_EQ(diff.mismatches, 0u) << tname(t);
            const int32_t bad = 50;
            EXPECT_THROW(b.gpu->embed(wg, &bad, 1, 4, out.gpu), Error);
        }
    }
}

TEST(CudaElementwise, ScaleAddSwiglu) {
    DSTAR_REQUIRE_GPU();
    Backends &b = *backends();
    const size_t n = 70001;
    Mirror g(random_floats(n, 1, 6.0f)), u(random_floats(n, 2, 6.0f)), out(n);
    b.cpu->add(out.cpu, g.cpu, u.cpu, n);
    b.gpu->add(out.gpu, g.gpu, u.gpu, n);
    EXPECT_EQ(compare(out.cpu_values(), out.gpu_values()).mismatches, 0u);
    b.cpu->scale(out.cpu, 0.37f, n);
    b.gpu->scale(out.gpu, 0.37f, n);
    EXPECT_EQ(compare(out.cpu_values(), out.gpu_values()).mismatches, 0u);
    for (float clamp : {10.0f, 0.0f}) {
        b.cpu->swiglu(out.cpu, g.cpu, u.cpu, n, clamp);
        b.gpu->swiglu(out.gpu, g.gpu, u.gpu, n, clamp);
        const Diff d = compare(out.cpu_values(), out.gpu_values());
        report(strformat("swiglu clamp %g", clamp), d);
        EXPECT_EQ(d.bad, 0u);
        EXPECT_LE(d.max_abs, 1e-6 * d.ref_max);
    }
}

TEST(CudaElementwise, RopeForwardAndInverse) {
    DSTAR_REQUIRE_GPU();
    Backends &b = *backends();
    const model::ModelConfig cfg = model::ModelConfig::flash();
    for (uint32_t layer : {0u, 2u}) {  // plain base 10000; base 160000 with YaRN
        const model::RopeParams p = model::rope_params(cfg, layer);
        // One token (a block per head and token), 9 and 300 (a warp per head and token,
        // the last block partly idle with 3 heads).
        for (uint32_t pos0 : {0u, 1000u, 100000u, 1000000u})
        for (uint32_t n : {1u, 9u, 300u}) {
            const uint32_t heads = n == 300 ? 64 : 3, hd = 512, stride = heads * hd + 5;
            Mirror x(random_floats(size_t{n} * stride, pos0 + layer + n));
            for (bool inverse : {false, true}) {
                b.cpu->rope(x.cpu, n, stride, heads, hd, p, pos0, inverse);
                b.gpu->rope(x.gpu, n, stride, heads, hd, p, pos0, inverse);
                const Diff d = compare(x.cpu_values(), x.gpu_values());
                report(strformat("rope layer %u pos0 %u n %u%s", layer, pos0, n, inverse ? " inverse" : ""), d);
                EXPECT_EQ(d.bad, 0u);
                EXPECT_LE(d.max_abs, 2e-6 * d.ref_max);
            }
        }
    }
}

// The fused per-head norm + RoPE (+ FP8) against the CPU's rms_norm, rope and fp8_kv_round:
// the model's 64 query heads of 512 and its KV head (weight, FP8), small and odd heads (the
// warp-per-head kernel: heads of 128, 200 or 256 values, partly idle lanes), and heads it
// does not take (130 values: not whole float4s; 1024 values: past its 512), which run the
// block kernel.  Same tolerance as RoPE; the FP8 part is exact given the same norm scale.
TEST(CudaElementwise, HeadNormRope) {
    DSTAR_REQUIRE_GPU();
    Backends &b = *backends();
    const model::ModelConfig cfg = model::ModelConfig::flash();
    struct Case {
        uint32_t n_head, head_dim;
        bool weight, fp8;
    };
    for (const Case &c : {Case{64, 512, false, false}, Case{1, 512, true, true}, Case{5, 128, true, true},
                          Case{3, 256, false, true}, Case{6, 200, true, false}, Case{3, 96, true, false},
                          Case{7, 66 + 64, false, false},
                          Case{2, 1024, true, true}}) {
        for (uint32_t layer : {0u, 2u}) {
            const model::RopeParams p = model::rope_params(cfg, layer);
            if (p.n_rot > c.head_dim) continue;
            HostWeight hw = make_vector(random_floats(c.head_dim, c.head_dim + 3));
            const Weight wc = b.cpu->bind(hw.tensor, true), wg = b.gpu->bind(hw.tensor, true);
            for (uint32_t pos0 : {0u, 1000u, 100000u}) {
                for (uint32_t n : {1u, 3u}) {
                    Mirror x(random_floats(size_t{n} * c.n_head * c.head_dim, pos0 + n + c.head_dim, 2.0f));
                    b.cpu->head_norm_rope(x.cpu, c.weight ? &wc : nullptr, n, c.n_head, c.head_dim, 1e-6f, p, pos0,
                                          c.fp8);
                    b.gpu->head_norm_rope(x.gpu, c.weight ? &wg : nullptr, n, c.n_head, c.head_dim, 1e-6f, p, pos0,
                                          c.fp8);
                    const Diff d = compare(x.cpu_values(), x.gpu_values());
                    const std::string what = strformat("head_norm_rope %ux%u%s%s layer %u pos0 %u n %u", c.n_head,
                                                       c.head_dim, c.weight ? " w" : "", c.fp8 ? " fp8" : "", layer,
                                                       pos0, n);
                    if (n == 1) report(what, d);
                    EXPECT_EQ(d.bad, 0u) << what;
                    EXPECT_LE(d.max_abs, 2e-6 * d.ref_max) << what;
                }
            }
        }
    }
}

// The block-per-head kernel (a warp per 128 values, the default) against the warp-per-head
// kernel (DSTAR_CUDA_HEAD_SPLIT=0): the same operations per value and the same order of the
// sum of squares, so equal bits are required.  The model's query heads and KV head, small and
// partly idle heads.
TEST(CudaElementwise, HeadNormRopeSplitMatchesWarpKernel) {
    DSTAR_REQUIRE_GPU();
    Backends &b = *backends();
    const model::ModelConfig cfg = model::ModelConfig::flash();
    struct Case {
        uint32_t n_head, head_dim;
        bool weight, fp8;
    };
    for (const Case &c : {Case{64, 512, false, false}, Case{1, 512, true, true}, Case{5, 128, true, true},
                          Case{3, 256, false, true}, Case{6, 200, true, false}, Case{3, 96, true, false}}) {
        for (uint32_t layer : {0u, 2u}) {
            const model::RopeParams p = model::rope_params(cfg, layer);
            HostWeight hw = make_vector(random_floats(c.head_dim, c.head_dim + 5));
            const Weight wg = b.gpu->bind(hw.tensor, true);
            for (uint32_t pos0 : {0u, 1000u, 100000u}) {
                for (uint32_t n : {1u, 3u}) {
                    const std::vector<float> x0 =
                        random_floats(size_t{n} * c.n_head * c.head_dim, pos0 + 3 * n + c.head_dim, 2.0f);
                    Mirror xs(x0), xw(x0);
                    b.gpu->head_norm_rope(xs.gpu, c.weight ? &wg : nullptr, n, c.n_head, c.head_dim, 1e-6f, p, pos0,
                                          c.fp8);
                    {
                        const SwitchOff old("DSTAR_CUDA_HEAD_SPLIT");
                        b.gpu->head_norm_rope(xw.gpu, c.weight ? &wg : nullptr, n, c.n_head, c.head_dim, 1e-6f, p,
                                              pos0, c.fp8);
                    }
                    EXPECT_EQ(compare(xw.gpu_values(), xs.gpu_values()).mismatches, 0u)
                        << strformat("head_norm_rope %ux%u layer %u pos0 %u n %u", c.n_head, c.head_dim, layer, pos0,
                                     n);
                }
            }
        }
    }
}

// Decode's inverse RoPE of the attention output also writes its Q8_0 codes for the grouped
// output product (MatmulRunner::produce_q8_0; DSTAR_CUDA_ROPE_Q8=0 turns it off).  The
// rotated values must equal the plain RoPE kernel's bit for bit (and the CPU's within the
// RoPE tolerance), and a Q8_0 grouped product of them (produced codes) must equal the same
// product of a copy (quantized by the product).  The model's 64 heads of 512, a few heads,
// heads of 96 (partly idle lanes) and of 64 (all rotated); 1..8 rows.
TEST(CudaProducerQ8, RopeCodesMatchQuantizeKernel) {
    DSTAR_REQUIRE_GPU();
    Backends &b = *backends();
    const model::ModelConfig cfg = model::ModelConfig::flash();
    struct Case {
        uint32_t n_head, head_dim, groups;
    };
    uint32_t seed = 700;
    for (const Case &c : {Case{64, 512, 16}, Case{3, 512, 3}, Case{5, 96, 5}, Case{4, 64, 2}}) {
        const uint32_t row = c.n_head * c.head_dim, gdim = row / c.groups, rank = 24;
        HostWeight wq = make_weight(gguf::TensorType::Q8_0, gdim, uint64_t{c.groups} * rank, 1, seed++);
        const Weight qg = b.gpu->bind(wq.tensor, false);
        for (uint32_t layer : {0u, 2u}) {
            const model::RopeParams p = model::rope_params(cfg, layer);
            for (uint32_t pos0 : {0u, 1000u, 100000u}) {
                for (uint32_t n : {1u, 3u, 8u}) {
                    const std::vector<float> x0 = random_floats(size_t{n} * row, seed++, 2.0f);
                    Mirror x(x0), plain(x0), copy(size_t{n} * row);
                    b.cpu->rope(x.cpu, n, row, c.n_head, c.head_dim, p, pos0, true);
                    b.gpu->rope(x.gpu, n, row, c.n_head, c.head_dim, p, pos0, true);
                    // The product right after the rotation (any other op drops the codes).
                    Mirror y(size_t{n} * c.groups * rank), y2(size_t{n} * c.groups * rank);
                    b.gpu->matmul_grouped(y.gpu, qg, x.gpu, n, c.groups, rank);
                    b.gpu->copy(copy.gpu, x.gpu, size_t{n} * row);
                    b.gpu->matmul_grouped(y2.gpu, qg, copy.gpu, n, c.groups, rank);
                    {
                        const SwitchOff old("DSTAR_CUDA_ROPE_Q8");
                        b.gpu->rope(plain.gpu, n, row, c.n_head, c.head_dim, p, pos0, true);
                    }
                    const std::string what =
                        strformat("rope q8 %ux%u layer %u pos0 %u n %u", c.n_head, c.head_dim, layer, pos0, n);
                    EXPECT_EQ(compare(y2.gpu_values(), y.gpu_values()).mismatches, 0u) << what << ": codes";
                    const std::vector<float> got = x.gpu_values();
                    EXPECT_EQ(compare(plain.gpu_values(), got).mismatches, 0u) << what << ": values";
                    const Diff d = compare(x.cpu_values(), got);
                    if (n == 1 && pos0 == 1000) report(what, d);
                    EXPECT_EQ(d.bad, 0u) << what;
                    EXPECT_LE(d.max_abs, 2e-6 * d.ref_max) << what;
                }
            }
        }
    }
}

TEST(CudaElementwise, Fp8KvRoundIsExact) {
    DSTAR_REQUIRE_GPU();
    Backends &b = *backends();
    const uint32_t rows = 300, hd = 512, n_rot = 64;
    std::vector<float> x = random_floats(size_t{rows} * hd, 17);
    // Rows at many magnitudes, some below the 1e-4 scale floor, some exact powers of two.
    for (uint32_t r = 0; r < rows; r++)
        for (uint32_t i = 0; i < hd; i++) x[size_t{r} * hd + i] *= std::ldexp(1.0f, static_cast<int>(r % 40) - 25);
    for (uint32_t i = 0; i < 64; i++) x[i] = (i % 2 ? -1.0f : 1.0f) * std::ldexp(1.0f, static_cast<int>(i % 9));
    Mirror m(x);
    b.cpu->fp8_kv_round(m.cpu, rows, hd, n_rot);
    b.gpu->fp8_kv_round(m.gpu, rows, hd, n_rot);
    const Diff d = compare(m.cpu_values(), m.gpu_values());
    report("fp8_kv_round", d);
    EXPECT_EQ(d.mismatches, 0u);
}

TEST(CudaElementwise, IndexerQatIsExact) {
    DSTAR_REQUIRE_GPU();
    Backends &b = *backends();
    const uint32_t rows = 500;
    std::vector<float> x = random_floats(size_t{rows} * 128, 19);
    for (uint32_t r = 0; r < rows; r++)
        for (uint32_t i = 0; i < 128; i++) x[size_t{r} * 128 + i] *= std::ldexp(1.0f, static_cast<int>(r % 30) - 15);
    Mirror m(x);
    b.cpu->indexer_qat(m.cpu, rows, 128);
    b.gpu->indexer_qat(m.gpu, rows, 128);
    const Diff d = compare(m.cpu_values(), m.gpu_values());
    report("indexer_qat", d);
    EXPECT_EQ(d.mismatches, 0u);
    EXPECT_THROW(b.gpu->indexer_qat(m.gpu, 1, 64), Error);
}

}  // namespace
}  // namespace dstar::backend::test
