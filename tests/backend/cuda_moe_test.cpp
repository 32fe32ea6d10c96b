// The CUDA router and routed experts against the CPU reference.
//
// Router: the CPU's selection loop on scores computed with CUDA's expf/log1pf/sqrtf (an ulp
// from glibc's at most): the experts must be identical (random logits have no ties that
// close) and the weights equal to 1e-6 relative.
// Experts: each (token, expert) dot product is exact per block (int8) or a reordered f32
// sum; the SwiGLU's expf can move the down projection's int8 input codes by one step in
// rare elements, so outputs agree to a relative L2 of 1e-4 (bugs: O(1)).  Decode (n <= 8)
// and the grouped batched path (n > 8) are both covered, for the q2, q4 and Q8_0 encodings
// and for float experts.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <random>
#include <gtest/gtest.h>
#include <numeric>

#include "backend/cuda_test_util.h"
#include "common/error.h"

namespace dstar::backend::test {
namespace {

using gguf::TensorType;

std::vector<int32_t> download_i32(Backend &be, const int32_t *p, size_t n) {
    std::vector<int32_t> v(n);
    be.download(reinterpret_cast<float *>(v.data()), reinterpret_cast<const float *>(p), n);
    return v;
}

TEST(CudaMoe, RouterMatchesCpu) {
    DSTAR_REQUIRE_GPU();
    Backends &b = *backends();
    // The model's 256 experts and an odd count (the register kernel), and more than it holds
    // (the shared-memory kernel).
    for (uint32_t n_expert : {256u, 71u, 300u}) {
        const uint32_t k = 6, vocab = 1000;
        HostWeight bias = make_vector(random_floats(n_expert, 3, 0.1f), "exp_probs_b.bias");
        std::vector<uint8_t> table_bytes(size_t{vocab} * k * 4);
        {
            std::mt19937 rng(4);
            for (size_t i = 0; i < size_t{vocab} * k; i++) {
                const int32_t e = static_cast<int32_t>(rng() % n_expert);
                std::memcpy(table_bytes.data() + 4 * i, &e, 4);
            }
        }
        model::WeightTensor table;
        table.name = "ffn_gate_tid2eid.weight";
        table.type = TensorType::I32;
        table.dims = {k, vocab};
        table.data = table_bytes.data();
        table.n_bytes = table_bytes.size();
        table.row_bytes = k * 4;
        const Weight bc = b.cpu->bind(bias.tensor, true), bg = b.gpu->bind(bias.tensor, true);
        const Weight tc = b.cpu->bind(table, false), tg = b.gpu->bind(table, false);
        for (uint32_t n : {1u, 9u, 300u}) {
            Mirror logits(random_floats(size_t{n} * n_expert, n, 3.0f));
            std::vector<int32_t> tokens(n);
            for (uint32_t t = 0; t < n; t++) tokens[t] = static_cast<int32_t>((t * 37 + 5) % vocab);
            for (bool hash : {false, true}) {
                int32_t *sel_c = b.cpu->alloc_i32(size_t{n} * k), *sel_g = b.gpu->alloc_i32(size_t{n} * k);
                Mirror w(size_t{n} * k);
                b.cpu->route(logits.cpu, hash ? nullptr : &bc, hash ? &tc : nullptr, tokens.data(), n, n_expert, k,
                             1.5f, sel_c, w.cpu);
                b.gpu->route(logits.gpu, hash ? nullptr : &bg, hash ? &tg : nullptr, tokens.data(), n, n_expert, k,
                             1.5f, sel_g, w.gpu);
                EXPECT_EQ(download_i32(*b.cpu, sel_c, size_t{n} * k), download_i32(*b.gpu, sel_g, size_t{n} * k))
                    << "n " << n << (hash ? " hash" : " learned");
                const Diff d = compare(w.cpu_values(), w.gpu_values());
                std::printf("route experts=%u n=%u %-8s weights: %s\n", n_expert, n, hash ? "hash" : "learned",
                            d.str().c_str());
                EXPECT_LE(d.max_abs, 1e-6 * d.ref_max);
                b.cpu->release(sel_c);
                b.gpu->release(sel_g);
            }
            const int32_t bad = static_cast<int32_t>(vocab);
            int32_t *sel = b.gpu->alloc_i32(k);
            Mirror w(k);
            EXPECT_THROW(b.gpu->route(logits.gpu, nullptr, &tg, &bad, 1, n_expert, k, 1.5f, sel, w.gpu), Error);
            b.gpu->release(sel);
        }
    }
}

// Routed experts bound on both backends.
struct ExpertWeights {
    HostWeight gate, up, down;
    Weight gc, uc, dc, gg, ug, dg;
    ExpertWeights(Backends &b, TensorType gate_up, TensorType down_type, uint32_t d_in, uint32_t ff, uint32_t d_out,
                  uint32_t n_expert, uint32_t seed)
        : gate(make_weight(gate_up, d_in, ff, n_expert, seed, "ffn_gate_exps.weight")),
          up(make_weight(gate_up, d_in, ff, n_expert, seed + 1, "ffn_up_exps.weight")),
          down(make_weight(down_type, ff, d_out, n_expert, seed + 2, "ffn_down_exps.weight")),
          gc(b.cpu->bind(gate.tensor, false)), uc(b.cpu->bind(up.tensor, false)), dc(b.cpu->bind(down.tensor, false)),
          gg(b.gpu->bind(gate.tensor, false)), ug(b.gpu->bind(up.tensor, false)), dg(b.gpu->bind(down.tensor, false)) {}
};

// Runs the moe op on both backends for n tokens with the given selections and router
// weights (clamp 10) and compares the outputs.
Diff run_moe_both(Backends &b, const ExpertWeights &e, const std::vector<int32_t> &sel, const std::vector<float> &wts,
                  uint32_t n, uint32_t k, uint32_t d_in, uint32_t d_out, uint64_t x_seed) {
    int32_t *sel_c = b.cpu->alloc_i32(sel.size()), *sel_g = b.gpu->alloc_i32(sel.size());
    b.cpu->upload(reinterpret_cast<float *>(sel_c), reinterpret_cast<const float *>(sel.data()), sel.size());
    b.gpu->upload(reinterpret_cast<float *>(sel_g), reinterpret_cast<const float *>(sel.data()), sel.size());
    Mirror w(wts), x(random_floats(size_t{n} * d_in, x_seed)), out(size_t{n} * d_out);
    b.cpu->moe(out.cpu, e.gc, e.uc, e.dc, x.cpu, sel_c, w.cpu, n, k, 10.0f);
    b.gpu->moe(out.gpu, e.gg, e.ug, e.dg, x.gpu, sel_g, w.gpu, n, k, 10.0f);
    const Diff d = compare(out.cpu_values(), out.gpu_values());
    b.cpu->release(sel_c);
    b.gpu->release(sel_g);
    return d;
}

struct ExpertCase {
    TensorType gate_up, down;
};

class CudaMoeExperts : public ::testing::TestWithParam<ExpertCase> {};

TEST_P(CudaMoeExperts, MatchCpu) {
    DSTAR_REQUIRE_GPU();
    Backends &b = *backends();
    const ExpertCase c = GetParam();
    const uint32_t n_expert = 8, k = 3, d_in = 512, ff = 512, d_out = 256;
    const ExpertWeights ew(b, c.gate_up, c.down, d_in, ff, d_out, n_expert, 1);
    for (uint32_t n : {1u, 3u, 8u, 9u, 40u, 130u}) {
        // Distinct experts per token, every expert used by some tokens, one expert unused by
        // some batches; weights as the router makes them (positive, summing to 1.5).
        std::mt19937 rng(n);
        std::vector<int32_t> sel(size_t{n} * k);
        std::vector<float> wts(size_t{n} * k);
        for (uint32_t t = 0; t < n; t++) {
            std::vector<int32_t> ids(n_expert);
            std::iota(ids.begin(), ids.end(), 0);
            std::shuffle(ids.begin(), ids.end(), rng);
            float sum = 0;
            for (uint32_t j = 0; j < k; j++) {
                sel[t * k + j] = ids[j];
                wts[t * k + j] = 0.2f + static_cast<float>(rng() % 1000) / 1000.0f;
                sum += wts[t * k + j];
            }
            for (uint32_t j = 0; j < k; j++) wts[t * k + j] *= 1.5f / sum;
        }
        const Diff d = run_moe_both(b, ew, sel, wts, n, k, d_in, d_out, 50 + n);
        std::printf("moe %s/%s n=%-4u %s\n", tname(c.gate_up), tname(c.down), n, d.str().c_str());
        EXPECT_EQ(d.bad, 0u);
        EXPECT_LE(d.rel_l2, 1e-4) << "n " << n;
    }
}

// The model's expert count and experts per token with batches whose pair lists take several
// rounds of the grouping kernel (300 tokens: 1800 pairs) and two grouped sub-batches (4,100
// tokens: moe_op.cpp's 4,096 + 4, the first giving each expert many tiles); experts drawn
// unevenly, so some get several tiles and some none.  Rows of 3 K steps (gate/up, 768) and 2
// (down, 512) run the batched kernel's weight prefetch through both register sets and a refill.
TEST(CudaMoe, GroupedModelExperts) {
    DSTAR_REQUIRE_GPU();
    Backends &b = *backends();
    const uint32_t n_expert = 256, k = 6, d_in = 768, ff = 512, d_out = 256;
    const ExpertWeights ew(b, TensorType::IQ2_XXS, TensorType::Q2_K, d_in, ff, d_out, n_expert, 4);
    for (uint32_t n : {300u, 4100u}) {
        std::mt19937 rng(1000 + n);
        std::vector<int32_t> sel(size_t{n} * k);
        std::vector<float> wts(size_t{n} * k);
        for (uint32_t t = 0; t < n; t++) {
            // Distinct experts per token, skewed towards low ids (squares of uniform draws).
            std::vector<int32_t> ids;
            while (ids.size() < k) {
                const double u = static_cast<double>(rng() % 10000) / 10000.0;
                const int32_t e = static_cast<int32_t>(u * u * n_expert);
                if (std::find(ids.begin(), ids.end(), e) == ids.end()) ids.push_back(e);
            }
            for (uint32_t j = 0; j < k; j++) {
                sel[t * k + j] = ids[j];
                wts[t * k + j] = 0.25f;
            }
        }
        const Diff d = run_moe_both(b, ew, sel, wts, n, k, d_in, d_out, 70 + n);
        std::printf("moe 256 experts n=%-4u %s\n", n, d.str().c_str());
        EXPECT_EQ(d.bad, 0u);
        EXPECT_LE(d.rel_l2, 1e-4) << "n " << n;
    }
}

// The grouped products of mmq_v2.cu against mmq.cu (DSTAR_CUDA_MMQ_V2=0), bitwise, at the
// model's expert widths (IQ2_XXS gate/up 4096 -> 2048, Q2_K down 2048 -> 4096, 6 experts a
// token) over 16 experts of which one is never chosen (no tiles) and the others get full
// and partial 64-pair tiles.
TEST(CudaMoe, GroupedMmqV2EqualsV1) {
    DSTAR_REQUIRE_GPU();
    Backends &b = *backends();
    const uint32_t n_expert = 16, k = 6, d_in = 4096, ff = 2048, d_out = 4096, n = 530;
    const ExpertWeights ew(b, TensorType::IQ2_XXS, TensorType::Q2_K, d_in, ff, d_out, n_expert, 9);
    std::mt19937 rng(4242);
    std::vector<int32_t> sel(size_t{n} * k);
    std::vector<float> wts(size_t{n} * k);
    for (uint32_t t = 0; t < n; t++) {
        std::vector<int32_t> ids(n_expert - 1);
        std::iota(ids.begin(), ids.end(), 0);  // expert 15 unused
        std::shuffle(ids.begin(), ids.end(), rng);
        for (uint32_t j = 0; j < k; j++) {
            sel[t * k + j] = ids[j];
            wts[t * k + j] = 0.1f + static_cast<float>(rng() % 1000) / 2000.0f;
        }
    }
    int32_t *sel_g = b.gpu->alloc_i32(sel.size());
    b.gpu->upload(reinterpret_cast<float *>(sel_g), reinterpret_cast<const float *>(sel.data()), sel.size());
    Mirror w(wts), x(random_floats(size_t{n} * d_in, 77)), out(size_t{n} * d_out), old(size_t{n} * d_out);
    b.gpu->moe(out.gpu, ew.gg, ew.ug, ew.dg, x.gpu, sel_g, w.gpu, n, k, 10.0f);
    ::setenv("DSTAR_CUDA_MMQ_V2", "0", 1);
    b.gpu->moe(old.gpu, ew.gg, ew.ug, ew.dg, x.gpu, sel_g, w.gpu, n, k, 10.0f);
    ::unsetenv("DSTAR_CUDA_MMQ_V2");
    b.gpu->release(sel_g);
    const std::vector<float> v2 = out.gpu_values(), v1 = old.gpu_values();
    ASSERT_EQ(v1.size(), v2.size());
    EXPECT_EQ(std::memcmp(v1.data(), v2.data(), v1.size() * sizeof(float)), 0);
}

INSTANTIATE_TEST_SUITE_P(Types, CudaMoeExperts,
                         ::testing::Values(ExpertCase{TensorType::IQ2_XXS, TensorType::Q2_K},
                                           ExpertCase{TensorType::Q4_K, TensorType::Q4_K},
                                           ExpertCase{TensorType::Q8_0, TensorType::Q8_0},
                                           ExpertCase{TensorType::F16, TensorType::F16},
                                           ExpertCase{TensorType::F32, TensorType::F32}),
                         [](const ::testing::TestParamInfo<ExpertCase> &i) {
                             return std::string(tname(i.param.gate_up)) + "_" + tname(i.param.down);
                         });

// The flash-width file's decode shapes: IQ2_XXS gate/up 4096 -> 2048 and Q2_K down
// 2048 -> 4096 with 6 of the experts per token (the persistent decode kernels, activation
// codes held per lane, k at the down kernel's maximum), and the shared expert's Q8_0
// gate/up + SwiGLU (whole 4096-wide row pairs in flight per lane).
TEST(CudaMoeDecode, ModelShapes) {
    DSTAR_REQUIRE_GPU();
    Backends &b = *backends();
    const uint32_t n_expert = 10, k = 6, d_in = 4096, ff = 2048, d_out = 4096;
    const ExpertWeights ew(b, TensorType::IQ2_XXS, TensorType::Q2_K, d_in, ff, d_out, n_expert, 11);
    for (uint32_t n : {1u, 2u, 8u}) {
        std::mt19937 rng(100 + n);
        std::vector<int32_t> sel(size_t{n} * k);
        std::vector<float> wts(size_t{n} * k);
        for (uint32_t t = 0; t < n; t++) {
            std::vector<int32_t> ids(n_expert);
            std::iota(ids.begin(), ids.end(), 0);
            std::shuffle(ids.begin(), ids.end(), rng);
            for (uint32_t j = 0; j < k; j++) {
                sel[t * k + j] = ids[j];
                wts[t * k + j] = 0.1f + static_cast<float>(rng() % 1000) / 2000.0f;
            }
        }
        const Diff d = run_moe_both(b, ew, sel, wts, n, k, d_in, d_out, 500 + n);
        std::printf("moe model shape n=%-2u %s\n", n, d.str().c_str());
        EXPECT_EQ(d.bad, 0u);
        EXPECT_LE(d.rel_l2, 1e-4) << "n " << n;
    }
}

TEST(CudaMoeDecode, SharedExpertGateUp) {
    DSTAR_REQUIRE_GPU();
    Backends &b = *backends();
    const uint32_t d_in = 4096, ff = 2048;
    HostWeight gate = make_weight(TensorType::Q8_0, d_in, ff, 1, 21, "ffn_gate_shexp.weight");
    HostWeight up = make_weight(TensorType::Q8_0, d_in, ff, 1, 22, "ffn_up_shexp.weight");
    const Weight gc = b.cpu->bind(gate.tensor, false), uc = b.cpu->bind(up.tensor, false);
    const Weight gg = b.gpu->bind(gate.tensor, false), ug = b.gpu->bind(up.tensor, false);
    for (uint32_t n : {1u, 3u, 8u}) {
        Mirror x(random_floats(size_t{n} * d_in, 600 + n)), out(size_t{n} * ff), g(size_t{n} * ff),
            u(size_t{n} * ff);
        b.cpu->gate_up_swiglu(out.cpu, g.cpu, u.cpu, gc, uc, x.cpu, n, 10.0f);
        b.gpu->gate_up_swiglu(out.gpu, g.gpu, u.gpu, gg, ug, x.gpu, n, 10.0f);
        const Diff d = compare(out.cpu_values(), out.gpu_values());
        std::printf("shared gate/up n=%u %s\n", n, d.str().c_str());
        EXPECT_EQ(d.bad, 0u);
        // Dot products: the CPU's block terms in another order (f32, ~1e-6 of the scale).
        EXPECT_LE(d.max_abs, 1e-5 * d.ref_max) << "n " << n;
    }
}

}  // namespace
}  // namespace dstar::backend::test
