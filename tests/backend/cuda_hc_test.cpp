// CUDA hyper-connection mixers against the CPU reference.  hc_post is the same float
// operations in the same order (equal bits required).  hc_pre / hc_head run the mix product
// of the batch with the RMS norm folded in (hc_mix.cu: f32 products in another summation
// order, the RMS scale applied to the sums instead of the inputs); the outputs agree within
// 2e-5 of their scale after the Sinkhorn iterations.  Covered: every batch size 1..300
// (token tiles of 64, partial last tiles), the model's 16384-wide rows, rows whose last
// 256-column slice is partial, and F16 / BF16 / F32 weights.
#include <algorithm>
#include <utility>

#include <gtest/gtest.h>

#include "backend/cuda_test_util.h"
#include "common/error.h"

namespace dstar::backend::test {
namespace {

constexpr uint32_t kHc = 4, kEmbd = 256, kMix = 2 * kHc + kHc * kHc;

struct HcSet {
    HostWeight fn, scale, base;
    HcWeights cpu, gpu;
};

void make_hc(HcSet &s, uint32_t rows, uint32_t seed, uint32_t embd = kEmbd,
             gguf::TensorType type = gguf::TensorType::F16) {
    Backends &b = *backends();
    s.fn = make_weight(type, kHc * embd, rows, 1, seed, "hc.fn");
    s.scale = make_vector({0.7f, 0.4f, 0.9f}, "hc.scale");
    s.base = make_vector(random_floats(rows, seed + 1, 0.5f), "hc.base");
    s.cpu = {b.cpu->bind(s.fn.tensor, false), b.cpu->bind(s.scale.tensor, true), b.cpu->bind(s.base.tensor, true)};
    s.gpu = {b.gpu->bind(s.fn.tensor, false), b.gpu->bind(s.scale.tensor, true), b.gpu->bind(s.base.tensor, true)};
}

void expect_close(const std::string &what, const Diff &d, uint32_t n) {
    std::printf("%-40s %s\n", what.c_str(), d.str().c_str());
    EXPECT_EQ(d.bad, 0u) << what;
    EXPECT_LE(d.max_abs, (n <= 8 ? 1e-5 : 2e-5) * std::max(d.ref_max, 1.0)) << what;
}

// hc_pre of n tokens of `embd`-wide streams on both backends; prints the comparison when
// `print` (the loop over every batch size prints only a few).
void check_pre(const HcSet &s, uint32_t n, uint32_t embd, float x_sigma, bool print, const std::string &tag) {
    Backends &b = *backends();
    Mirror x(random_floats(size_t{n} * kHc * embd, 3 * n + embd, x_sigma));
    Mirror out(size_t{n} * embd), post(size_t{n} * kHc), comb(size_t{n} * kHc * kHc);
    b.cpu->hc_pre(s.cpu, x.cpu, n, kHc, embd, 20, 1e-6f, 1e-6f, out.cpu, post.cpu, comb.cpu);
    b.gpu->hc_pre(s.gpu, x.gpu, n, kHc, embd, 20, 1e-6f, 1e-6f, out.gpu, post.gpu, comb.gpu);
    const Diff d_out = compare(out.cpu_values(), out.gpu_values());
    const Diff d_post = compare(post.cpu_values(), post.gpu_values());
    const Diff d_comb = compare(comb.cpu_values(), comb.gpu_values());
    if (print || d_out.bad || d_post.bad || d_comb.bad) {
        expect_close(strformat("hc_pre%s out n=%u", tag.c_str(), n), d_out, n);
        expect_close(strformat("hc_pre%s post n=%u", tag.c_str(), n), d_post, n);
        expect_close(strformat("hc_pre%s comb n=%u", tag.c_str(), n), d_comb, n);
        return;
    }
    const double tol = n <= 8 ? 1e-5 : 2e-5;
    EXPECT_LE(d_out.max_abs, tol * std::max(d_out.ref_max, 1.0)) << tag << " out n=" << n;
    EXPECT_LE(d_post.max_abs, tol * std::max(d_post.ref_max, 1.0)) << tag << " post n=" << n;
    EXPECT_LE(d_comb.max_abs, tol * std::max(d_comb.ref_max, 1.0)) << tag << " comb n=" << n;
}

TEST(CudaHc, PreMatchesCpu) {
    DSTAR_REQUIRE_GPU();
    HcSet s;
    make_hc(s, kMix, 21);
    for (uint32_t n = 1; n <= 300; n++) {
        const bool print = n <= 9 || n % 64 <= 1 || n % 64 == 63 || n == 300;
        check_pre(s, n, kEmbd, 1.0f, print, "");
    }
}

// The model's width (4 x 4096), unnormalised streams of a larger scale, chunk-sized batches.
TEST(CudaHc, PreModelShape) {
    DSTAR_REQUIRE_GPU();
    constexpr uint32_t kModelEmbd = 4096;
    HcSet s;
    make_hc(s, kMix, 22, kModelEmbd);
    for (uint32_t n : {1u, 9u, 64u, 256u, 300u}) check_pre(s, n, kModelEmbd, 7.0f, true, " 4x4096");
}

// Rows of 4 x 200 = 800 values: three full 256-column slices and a partial one; BF16 and F32
// weights.
TEST(CudaHc, PreOddWidthAndTypes) {
    DSTAR_REQUIRE_GPU();
    HcSet s16, sbf, s32;
    make_hc(s16, kMix, 23, 200, gguf::TensorType::F16);
    make_hc(sbf, kMix, 24, 200, gguf::TensorType::BF16);
    make_hc(s32, kMix, 25, 200, gguf::TensorType::F32);
    for (uint32_t n : {1u, 8u, 65u, 130u}) {
        check_pre(s16, n, 200, 1.0f, true, " f16 4x200");
        check_pre(sbf, n, 200, 1.0f, true, " bf16 4x200");
        check_pre(s32, n, 200, 1.0f, true, " f32 4x200");
    }
}

// Batches of the model's 4 streams (a thread per 4 elements, all streams at once), the
// model's 4096 width, and rows of 6 floats (not whole float4s: the generic kernel).
TEST(CudaHc, PostIsExact) {
    DSTAR_REQUIRE_GPU();
    Backends &b = *backends();
    for (const auto &[n, embd] : {std::pair<uint32_t, uint32_t>{13, kEmbd}, {1, 4096}, {37, 4096}, {5, 6}}) {
        Mirror y(random_floats(size_t{n} * embd, 1)), res(random_floats(size_t{n} * kHc * embd, 2));
        Mirror post(random_floats(size_t{n} * kHc, 3)), comb(random_floats(size_t{n} * kHc * kHc, 4));
        Mirror out(size_t{n} * kHc * embd);
        b.cpu->hc_post(out.cpu, y.cpu, res.cpu, post.cpu, comb.cpu, n, kHc, embd);
        b.gpu->hc_post(out.gpu, y.gpu, res.gpu, post.gpu, comb.gpu, n, kHc, embd);
        const Diff d = compare(out.cpu_values(), out.gpu_values());
        std::printf("hc_post n=%-3u embd=%-4u %s\n", n, embd, d.str().c_str());
        EXPECT_EQ(d.mismatches, 0u) << "n " << n << " embd " << embd;
    }
}

TEST(CudaHc, HeadMatchesCpu) {
    DSTAR_REQUIRE_GPU();
    Backends &b = *backends();
    HcSet s;
    make_hc(s, kHc, 33);
    for (uint32_t n : {1u, 7u, 12u, 64u, 65u, 200u}) {
        Mirror x(random_floats(size_t{n} * kHc * kEmbd, 9 * n));
        Mirror out(size_t{n} * kEmbd);
        b.cpu->hc_head(s.cpu.fn, s.cpu.scale, s.cpu.base, x.cpu, n, kHc, kEmbd, 1e-6f, 1e-6f, out.cpu);
        b.gpu->hc_head(s.gpu.fn, s.gpu.scale, s.gpu.base, x.gpu, n, kHc, kEmbd, 1e-6f, 1e-6f, out.gpu);
        expect_close(strformat("hc_head n=%u", n), compare(out.cpu_values(), out.gpu_values()), n);
    }
    // The model's width, the rows of a whole chunk (logits of every position).
    HcSet m;
    make_hc(m, kHc, 34, 4096);
    for (uint32_t n : {1u, 256u}) {
        Mirror x(random_floats(size_t{n} * kHc * 4096, 11 * n, 5.0f));
        Mirror out(size_t{n} * 4096);
        b.cpu->hc_head(m.cpu.fn, m.cpu.scale, m.cpu.base, x.cpu, n, kHc, 4096, 1e-6f, 1e-6f, out.cpu);
        b.gpu->hc_head(m.gpu.fn, m.gpu.scale, m.gpu.base, x.gpu, n, kHc, 4096, 1e-6f, 1e-6f, out.gpu);
        expect_close(strformat("hc_head 4x4096 n=%u", n), compare(out.cpu_values(), out.gpu_values()), n);
    }
}

// The fused decode op (hc_pre + the sublayer's RMS norm in one launch) against the CPU's
// hc_pre followed by rms_norm: the model's width (16384 columns: 64 blocks per token, all 64
// partials per token) and small or odd widths (fewer blocks; a width past the fused kernel's
// 4096 runs the unfused ops), every mix weight type, 1..8 tokens.  A second run must give
// the same bits (the partials are added in a fixed order, whichever block finishes last).
TEST(CudaHc, PreNormFusedMatchesCpu) {
    DSTAR_REQUIRE_GPU();
    Backends &b = *backends();
    for (uint32_t embd : {4096u, 256u, 36u, 4100u}) {
        for (gguf::TensorType type : {gguf::TensorType::F16, gguf::TensorType::BF16, gguf::TensorType::F32}) {
            if (embd != 4096 && type != gguf::TensorType::F16) continue;
            HostWeight fn = make_weight(type, kHc * embd, kMix, 1, embd + 7, "hc.fn");
            HostWeight scale = make_vector({0.7f, 0.4f, 0.9f}, "hc.scale");
            HostWeight base = make_vector(random_floats(kMix, embd + 8, 0.5f), "hc.base");
            HostWeight norm = make_vector(random_floats(embd, embd + 9), "attn_norm.weight");
            const HcWeights hc_c{b.cpu->bind(fn.tensor, false), b.cpu->bind(scale.tensor, true),
                                 b.cpu->bind(base.tensor, true)};
            const HcWeights hc_g{b.gpu->bind(fn.tensor, false), b.gpu->bind(scale.tensor, true),
                                 b.gpu->bind(base.tensor, true)};
            const Weight nc = b.cpu->bind(norm.tensor, true), ng = b.gpu->bind(norm.tensor, true);
            for (uint32_t n : {1u, 2u, 8u}) {
                Mirror x(random_floats(size_t{n} * kHc * embd, 5 * n + embd, 2.0f));
                Mirror out(size_t{n} * embd), nrm(size_t{n} * embd), post(size_t{n} * kHc),
                    comb(size_t{n} * kHc * kHc);
                b.cpu->hc_pre_norm(hc_c, nc, x.cpu, n, kHc, embd, 20, 1e-6f, 1e-6f, out.cpu, nrm.cpu, post.cpu,
                                   comb.cpu);
                b.gpu->hc_pre_norm(hc_g, ng, x.gpu, n, kHc, embd, 20, 1e-6f, 1e-6f, out.gpu, nrm.gpu, post.gpu,
                                   comb.gpu);
                const std::string what = strformat("hc_pre_norm %s embd=%u n=%u", tname(type), embd, n);
                expect_close(what + " out", compare(out.cpu_values(), out.gpu_values()), n);
                expect_close(what + " norm", compare(nrm.cpu_values(), nrm.gpu_values()), n);
                expect_close(what + " post", compare(post.cpu_values(), post.gpu_values()), n);
                expect_close(what + " comb", compare(comb.cpu_values(), comb.gpu_values()), n);
                const std::vector<float> first[4] = {out.gpu_values(), nrm.gpu_values(), post.gpu_values(),
                                                     comb.gpu_values()};
                b.gpu->hc_pre_norm(hc_g, ng, x.gpu, n, kHc, embd, 20, 1e-6f, 1e-6f, out.gpu, nrm.gpu, post.gpu,
                                   comb.gpu);
                EXPECT_EQ(compare(first[0], out.gpu_values()).mismatches, 0u) << what << " rerun";
                EXPECT_EQ(compare(first[1], nrm.gpu_values()).mismatches, 0u) << what << " rerun";
                EXPECT_EQ(compare(first[2], post.gpu_values()).mismatches, 0u) << what << " rerun";
                EXPECT_EQ(compare(first[3], comb.gpu_values()).mismatches, 0u) << what << " rerun";
            }
        }
    }
}

}  // namespace
}  // namespace dstar::backend::test

namespace dstar::backend::test {
namespace {

// Decode norms write the Q8_0 codes of their output for the products that read it
// (MatmulRunner::produce_q8_0; DSTAR_CUDA_PRODUCER_Q8=0 turns it off).  The codes must be
// those the quantize kernel writes: a Q8_0 product of the norm (produced codes) must equal,
// bit for bit, the same product of a copy of it (quantized by the product), and the CPU's
// within the decode tolerance.  Covered: hc_pre_norm (the model's 4096, small widths, 36
// which is no whole 32-blocks: no codes) and rms_norm (q_lora 1024, 4096, 96, with and
// without a weight), 1..8 rows; the codes survive a float product in between (router) and
// are dropped when an op rewrites the norm in place (scale).
TEST(CudaProducerQ8, NormCodesMatchQuantizeKernel) {
    DSTAR_REQUIRE_GPU();
    Backends &b = *backends();
    uint32_t seed = 900;
    auto gpu_to_cpu = [](Mirror &m) {
        const std::vector<float> v = m.gpu_values();
        std::copy(v.begin(), v.end(), m.cpu);
    };
    auto check_products = [&](const Mirror &nrm, uint32_t n, uint32_t dim, const std::string &what) {
        HostWeight wq = make_weight(gguf::TensorType::Q8_0, dim, 67, 1, seed++);
        HostWeight wf = make_weight(gguf::TensorType::F16, dim, 5, 1, seed++);
        const Weight qc = b.cpu->bind(wq.tensor, false), qg = b.gpu->bind(wq.tensor, false);
        const Weight fg = b.gpu->bind(wf.tensor, false);
        Mirror y(size_t{n} * 67), y2(size_t{n} * 67), router(size_t{n} * 5), copy(size_t{n} * dim);
        b.gpu->matmul(router.gpu, fg, nrm.gpu, n);  // a float product first: the codes stay
        b.gpu->matmul(y.gpu, qg, nrm.gpu, n);       // produced codes
        b.cpu->matmul(y.cpu, qc, nrm.cpu, n);
        b.gpu->copy(copy.gpu, nrm.gpu, size_t{n} * dim);
        b.gpu->matmul(y2.gpu, qg, copy.gpu, n);  // quantized by the product
        const std::vector<float> got = y.gpu_values();
        EXPECT_EQ(compare(y2.gpu_values(), got).mismatches, 0u) << what << ": produced codes differ";
        const Diff d = compare(y.cpu_values(), got);
        EXPECT_EQ(d.bad, 0u) << what << " " << d.str();
        EXPECT_LE(d.max_abs, 1e-5 * d.ref_max) << what << " " << d.str();
        // An op rewriting the norm drops its codes: the product reads the new values.
        b.gpu->scale(nrm.gpu, 0.5f, size_t{n} * dim);
        b.gpu->matmul(y.gpu, qg, nrm.gpu, n);
        b.gpu->scale(copy.gpu, 0.5f, size_t{n} * dim);
        b.gpu->matmul(y2.gpu, qg, copy.gpu, n);
        EXPECT_EQ(compare(y2.gpu_values(), y.gpu_values()).mismatches, 0u) << what << ": stale codes after scale";
    };
    for (uint32_t embd : {4096u, 256u, 96u, 36u}) {
        HostWeight fn = make_weight(gguf::TensorType::F16, kHc * embd, kMix, 1, embd + 7, "hc.fn");
        HostWeight scale = make_vector({0.7f, 0.4f, 0.9f}, "hc.scale");
        HostWeight base = make_vector(random_floats(kMix, embd + 8, 0.5f), "hc.base");
        HostWeight norm = make_vector(random_floats(embd, embd + 9), "attn_norm.weight");
        const HcWeights hc_c{b.cpu->bind(fn.tensor, false), b.cpu->bind(scale.tensor, true),
                             b.cpu->bind(base.tensor, true)};
        const HcWeights hc_g{b.gpu->bind(fn.tensor, false), b.gpu->bind(scale.tensor, true),
                             b.gpu->bind(base.tensor, true)};
        const Weight nc = b.cpu->bind(norm.tensor, true), ng = b.gpu->bind(norm.tensor, true);
        for (uint32_t n : {1u, 3u, 8u}) {
            Mirror x(random_floats(size_t{n} * kHc * embd, 5 * n + embd, 2.0f));
            Mirror out(size_t{n} * embd), nrm(size_t{n} * embd), post(size_t{n} * kHc), comb(size_t{n} * kHc * kHc);
            b.cpu->hc_pre_norm(hc_c, nc, x.cpu, n, kHc, embd, 20, 1e-6f, 1e-6f, out.cpu, nrm.cpu, post.cpu, comb.cpu);
            b.gpu->hc_pre_norm(hc_g, ng, x.gpu, n, kHc, embd, 20, 1e-6f, 1e-6f, out.gpu, nrm.gpu, post.gpu, comb.gpu);
            if (embd % 32 != 0) continue;  // no Q8_0 products of such rows
            // The CPU's product must read the GPU's norm (the norms agree to rounding only).
            gpu_to_cpu(nrm);
            check_products(nrm, n, embd, strformat("hc_pre_norm embd=%u n=%u", embd, n));
        }
    }
    for (uint32_t dim : {1024u, 4096u, 96u}) {
        HostWeight norm = make_vector(random_floats(dim, dim + 3), "q_a_norm.weight");
        const Weight ng = b.gpu->bind(norm.tensor, true);
        for (bool weighted : {true, false}) {
            for (uint32_t n : {1u, 3u, 8u}) {
                Mirror x(random_floats(size_t{n} * dim, 7 * n + dim, 3.0f)), nrm(size_t{n} * dim);
                b.gpu->rms_norm(nrm.gpu, x.gpu, weighted ? &ng : nullptr, n, dim, 1e-6f);
                gpu_to_cpu(nrm);
                check_products(nrm, n, dim, strformat("rms_norm dim=%u n=%u w=%d", dim, n, weighted ? 1 : 0));
            }
        }
    }
}

}  // namespace
}  // namespace dstar::backend::test
