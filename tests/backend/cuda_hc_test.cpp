// CUDA hyper-connection mixers against the CPU reference.  hc_post is the same float
// operations in the same order (equal bits required).  hc_pre / hc_head run the mix matmul
// (F16 weights): up to 8 tokens in f32 with another summation order, above that on tensor
// cores with the activations split into two f16 parts (near-f32 products); either way the
// outputs agree within 2e-5 of their scale after the Sinkhorn iterations.
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

void make_hc(HcSet &s, uint32_t rows, uint32_t seed) {
    Backends &b = *backends();
    s.fn = make_weight(gguf::TensorType::F16, kHc * kEmbd, rows, 1, seed, "hc.fn");
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

TEST(CudaHc, PreMatchesCpu) {
    DSTAR_REQUIRE_GPU();
    Backends &b = *backends();
    HcSet s;
    make_hc(s, kMix, 21);
    for (uint32_t n : {1u, 5u, 8u, 9u, 40u}) {
        Mirror x(random_floats(size_t{n} * kHc * kEmbd, 3 * n));
        Mirror out(size_t{n} * kEmbd), post(size_t{n} * kHc), comb(size_t{n} * kHc * kHc);
        b.cpu->hc_pre(s.cpu, x.cpu, n, kHc, kEmbd, 20, 1e-6f, 1e-6f, out.cpu, post.cpu, comb.cpu);
        b.gpu->hc_pre(s.gpu, x.gpu, n, kHc, kEmbd, 20, 1e-6f, 1e-6f, out.gpu, post.gpu, comb.gpu);
        expect_close(strformat("hc_pre out n=%u", n), compare(out.cpu_values(), out.gpu_values()), n);
        expect_close(strformat("hc_pre post n=%u", n), compare(post.cpu_values(), post.gpu_values()), n);
        expect_close(strformat("hc_pre comb n=%u", n), compare(comb.cpu_values(), comb.gpu_values()), n);
    }
}

TEST(CudaHc, PostIsExact) {
    DSTAR_REQUIRE_GPU();
    Backends &b = *backends();
    const uint32_t n = 13;
    Mirror y(random_floats(size_t{n} * kEmbd, 1)), res(random_floats(size_t{n} * kHc * kEmbd, 2));
    Mirror post(random_floats(size_t{n} * kHc, 3)), comb(random_floats(size_t{n} * kHc * kHc, 4));
    Mirror out(size_t{n} * kHc * kEmbd);
    b.cpu->hc_post(out.cpu, y.cpu, res.cpu, post.cpu, comb.cpu, n, kHc, kEmbd);
    b.gpu->hc_post(out.gpu, y.gpu, res.gpu, post.gpu, comb.gpu, n, kHc, kEmbd);
    const Diff d = compare(out.cpu_values(), out.gpu_values());
    std::printf("%-40s %s\n", "hc_post", d.str().c_str());
    EXPECT_EQ(d.mismatches, 0u);
}

TEST(CudaHc, HeadMatchesCpu) {
    DSTAR_REQUIRE_GPU();
    Backends &b = *backends();
    HcSet s;
    make_hc(s, kHc, 33);
    for (uint32_t n : {1u, 7u, 12u}) {
        Mirror x(random_floats(size_t{n} * kHc * kEmbd, 9 * n));
        Mirror out(size_t{n} * kEmbd);
        b.cpu->hc_head(s.cpu.fn, s.cpu.scale, s.cpu.base, x.cpu, n, kHc, kEmbd, 1e-6f, 1e-6f, out.cpu);
        b.gpu->hc_head(s.gpu.fn, s.gpu.scale, s.gpu.base, x.gpu, n, kHc, kEmbd, 1e-6f, 1e-6f, out.gpu);
        expect_close(strformat("hc_head n=%u", n), compare(out.cpu_values(), out.gpu_values()), n);
    }
}

}  // namespace
}  // namespace dstar::backend::test
