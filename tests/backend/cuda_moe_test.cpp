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
    const uint32_t n_expert = 256, k = 6, vocab = 1000;
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
            b.cpu->route(logits.cpu, hash ? nullptr : &bc, hash ? &tc : nullptr, tokens.data(), n, n_expert, k, 1.5f,
                         sel_c, w.cpu);
            b.gpu->route(logits.gpu, hash ? nullptr : &bg, hash ? &tg : nullptr, tokens.data(), n, n_expert, k, 1.5f,
                         sel_g, w.gpu);
            EXPECT_EQ(download_i32(*b.cpu, sel_c, size_t{n} * k), download_i32(*b.gpu, sel_g, size_t{n} * k))
                << "n " << n << (hash ? " hash" : " learned");
            const Diff d = compare(w.cpu_values(), w.gpu_values());
            std::printf("route n=%u %-8s weights: %s\n", n, hash ? "hash" : "learned", d.str().c_str());
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

struct ExpertCase {
    TensorType gate_up, down;
};

class CudaMoeExperts : public ::testing::TestWithParam<ExpertCase> {};

TEST_P(CudaMoeExperts, MatchCpu) {
    DSTAR_REQUIRE_GPU();
    Backends &b = *backends();
    const ExpertCase c = GetParam();
    const uint32_t n_expert = 8, k = 3, d_in = 512, ff = 512, d_out = 256;
    HostWeight gate = make_weight(c.gate_up, d_in, ff, n_expert, 1, "ffn_gate_exps.weight");
    HostWeight up = make_weight(c.gate_up, d_in, ff, n_expert, 2, "ffn_up_exps.weight");
    HostWeight down = make_weight(c.down, ff, d_out, n_expert, 3, "ffn_down_exps.weight");
    const Weight gc = b.cpu->bind(gate.tensor, false), uc = b.cpu->bind(up.tensor, false),
                 dc = b.cpu->bind(down.tensor, false);
    const Weight gg = b.gpu->bind(gate.tensor, false), ug = b.gpu->bind(up.tensor, false),
                 dg = b.gpu->bind(down.tensor, false);
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
        int32_t *sel_c = b.cpu->alloc_i32(sel.size()), *sel_g = b.gpu->alloc_i32(sel.size());
        b.cpu->upload(reinterpret_cast<float *>(sel_c), reinterpret_cast<const float *>(sel.data()), sel.size());
        b.gpu->upload(reinterpret_cast<float *>(sel_g), reinterpret_cast<const float *>(sel.data()), sel.size());
        Mirror w(wts), x(random_floats(size_t{n} * d_in, 50 + n)), out(size_t{n} * d_out);
        b.cpu->moe(out.cpu, gc, uc, dc, x.cpu, sel_c, w.cpu, n, k, 10.0f);
        b.gpu->moe(out.gpu, gg, ug, dg, x.gpu, sel_g, w.gpu, n, k, 10.0f);
        const Diff d = compare(out.cpu_values(), out.gpu_values());
        std::printf("moe %s/%s n=%-4u %s\n", tname(c.gate_up), tname(c.down), n, d.str().c_str());
        EXPECT_EQ(d.bad, 0u);
        EXPECT_LE(d.rel_l2, 1e-4) << "n " << n;
        b.cpu->release(sel_c);
        b.gpu->release(sel_g);
    }
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

}  // namespace
}  // namespace dstar::backend::test
