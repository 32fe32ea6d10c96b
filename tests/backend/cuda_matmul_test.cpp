// CUDA matrix products against the CPU reference, for every weight type, token counts on
// both sides of the decode/batched switch (8), row counts that leave partial tiles, and
// rows that are not whole 256-element steps (Q8_0) or 16-byte chunks (F16).  Small
// quantized matrices run batches as matvec passes (too few tiles to fill the GPU), except
// from 64 tokens on (n = 64, 100: the int8 tensor-core path); 8448 rows give the int8 path
// enough tiles to be taken on any GPU up to 264 multiprocessors.  Float weights take the
// batched kernels from 9 tokens on whenever the row length allows (F16/BF16: k % 32 == 0,
// F32: k % 4 == 0; else matvec passes), with K split when the tiles are few.
//
// Tolerances, by path:
//  - quantized, batched (n > 8, int8 tensor cores): every block term and the order of
//    accumulation are the CPU's, so the result is the CPU's; a relative 1e-6 of the output
//    scale is allowed only so that a benign last-bit difference reports instead of failing.
//  - quantized and float, decode (n <= 8): the same block terms (float rows: products) added
//    in a different order: f32 rounding of a sum of <= 2K terms, far below 1e-5 of the scale.
//  - F32 batched: exact products summed in double (as the CPU), so within 1e-5 as well.
//  - F16 batched: activations split into two f16 parts (2^-22 relative per product) and
//    tensor-core f32 accumulation: within 2e-5 of the scale; BF16 batched: two bf16 parts
//    (2^-16): within 5e-4 of the scale.  Bugs give O(1) errors.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "backend/cuda_test_util.h"
#include "common/error.h"

namespace dstar::backend::test {
namespace {

using gguf::TensorType;

struct Case {
    TensorType type;
    uint32_t k;
};

void expect_close(const Diff &d, TensorType type, uint32_t n, const std::string &what) {
    SCOPED_TRACE(what + ": " + d.str());
    std::printf("%-40s %s\n", what.c_str(), d.str().c_str());
    EXPECT_EQ(d.bad, 0u);
    const bool quantized = type == TensorType::Q8_0 || type == TensorType::Q2_K || type == TensorType::Q4_K ||
                           type == TensorType::IQ2_XXS;
    if (n <= 8 || type == TensorType::F32) {
        EXPECT_LE(d.max_abs, 1e-5 * d.ref_max);
    } else if (quantized) {
        EXPECT_LE(d.max_abs, 1e-6 * d.ref_max);
    } else if (type == TensorType::F16) {
        EXPECT_LE(d.max_abs, 2e-5 * d.ref_max);
    } else {
        EXPECT_LE(d.max_abs, 5e-4 * d.ref_max);
    }
}

class CudaMatmul : public ::testing::TestWithParam<Case> {};

TEST_P(CudaMatmul, MatchesCpu) {
    DSTAR_REQUIRE_GPU();
    Backends &b = *backends();
    const Case c = GetParam();
    struct Size {
        uint32_t rows;
        std::vector<uint32_t> tokens;
    };
    // 100 rows: one full and one partial tile; 8448 rows: the batched kernels.
    for (const Size &sz : {Size{100, {1, 2, 5, 8, 9, 33, 64, 100}}, Size{8448, {9, 70}}}) {
        HostWeight hw = make_weight(c.type, c.k, sz.rows, 1, 1000 + c.k + sz.rows);
        const Weight wc = b.cpu->bind(hw.tensor, false), wg = b.gpu->bind(hw.tensor, false);
        for (uint32_t n : sz.tokens) {
            Mirror x(random_floats(size_t{n} * c.k, 7 * n + c.k));
            Mirror out(size_t{n} * sz.rows);
            b.cpu->matmul(out.cpu, wc, x.cpu, n);
            b.gpu->matmul(out.gpu, wg, x.gpu, n);
            expect_close(compare(out.cpu_values(), out.gpu_values()), c.type, n,
                         strformat("matmul %s k=%u rows=%u n=%u", tname(c.type), c.k, sz.rows, n));
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Types, CudaMatmul,
                         ::testing::Values(Case{TensorType::F32, 256}, Case{TensorType::F32, 66},
                                           Case{TensorType::F16, 512}, Case{TensorType::F16, 100},
                                           Case{TensorType::BF16, 256}, Case{TensorType::Q8_0, 1024},
                                           Case{TensorType::Q8_0, 96}, Case{TensorType::Q2_K, 512},
                                           Case{TensorType::Q4_K, 768}, Case{TensorType::IQ2_XXS, 512},
                                           // 4 and 5 K steps: the batched kernel's two
                                           // prefetch register sets refilled, odd last step.
                                           Case{TensorType::IQ2_XXS, 1024}, Case{TensorType::Q2_K, 1280}),
                         [](const ::testing::TestParamInfo<Case> &i) {
                             return std::string(tname(i.param.type)) + "_k" + std::to_string(i.param.k);
                         });

// Batched float products in the router's shape (256 rows of 4096: 4 row tiles, so K is split
// over several blocks and the slices added in order) and an odd one (rows and tokens in
// partial tiles, K not a whole number of the splits' steps), at token counts of a prefill
// chunk; run twice, the results must be bitwise equal (fixed split order, no atomics).
TEST(CudaMatmulFloatBatched, RouterShapesSplitK) {
    DSTAR_REQUIRE_GPU();
    Backends &b = *backends();
    struct Shape {
        TensorType type;
        uint32_t k, rows;
    };
    for (const Shape &sh : {Shape{TensorType::F16, 4096, 256}, Shape{TensorType::F32, 4096, 256},
                            Shape{TensorType::BF16, 4096, 256}, Shape{TensorType::F16, 1056, 72},
                            Shape{TensorType::F32, 1060, 72}}) {
        HostWeight hw = make_weight(sh.type, sh.k, sh.rows, 1, 500 + sh.k + sh.rows);
        const Weight wc = b.cpu->bind(hw.tensor, false), wg = b.gpu->bind(hw.tensor, false);
        for (uint32_t n : {9u, 64u, 130u, 256u, 2048u}) {
            Mirror x(random_floats(size_t{n} * sh.k, 11 * n + sh.k));
            Mirror out(size_t{n} * sh.rows), again(size_t{n} * sh.rows);
            b.cpu->matmul(out.cpu, wc, x.cpu, n);
            b.gpu->matmul(out.gpu, wg, x.gpu, n);
            b.gpu->matmul(again.gpu, wg, x.gpu, n);
            expect_close(compare(out.cpu_values(), out.gpu_values()), sh.type, n,
                         strformat("batched %s k=%u rows=%u n=%u", tname(sh.type), sh.k, sh.rows, n));
            const std::vector<float> v1 = out.gpu_values(), v2 = again.gpu_values();
            ASSERT_EQ(v1.size(), v2.size());
            EXPECT_EQ(std::memcmp(v1.data(), v2.data(), v1.size() * sizeof(float)), 0)
                << "run-to-run difference, n=" << n;
        }
    }
}

// Grouped low-rank projection: group g of each row times its own block of weight rows.
class CudaMatmulGrouped : public ::testing::TestWithParam<TensorType> {};

TEST_P(CudaMatmulGrouped, MatchesCpu) {
    DSTAR_REQUIRE_GPU();
    Backends &b = *backends();
    const TensorType type = GetParam();
    const uint32_t groups = 4, gdim = 256;
    // rank 48: partial tiles, matvec passes; rank 1056: enough tiles for the batched kernels.
    for (uint32_t rank : {48u, 1056u}) {
        HostWeight hw = make_weight(type, gdim, uint64_t{groups} * rank, 1, 77 + rank);
        const Weight wc = b.cpu->bind(hw.tensor, false), wg = b.gpu->bind(hw.tensor, false);
        for (uint32_t n : {1u, 3u, 8u, 20u, 70u}) {
            Mirror x(random_floats(size_t{n} * groups * gdim, 31 * n));
            Mirror out(size_t{n} * groups * rank);
            b.cpu->matmul_grouped(out.cpu, wc, x.cpu, n, groups, rank);
            b.gpu->matmul_grouped(out.gpu, wg, x.gpu, n, groups, rank);
            expect_close(compare(out.cpu_values(), out.gpu_values()), type, n,
                         strformat("grouped %s rank=%u n=%u", tname(type), rank, n));
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Types, CudaMatmulGrouped,
                         ::testing::Values(TensorType::Q8_0, TensorType::F16, TensorType::F32, TensorType::Q4_K),
                         [](const ::testing::TestParamInfo<TensorType> &i) { return std::string(tname(i.param)); });

// The output-head shape class: many rows, long rows (the 4-warps-per-row matvec variant).
TEST(CudaMatmulLong, Q8_0LongRows) {
    DSTAR_REQUIRE_GPU();
    Backends &b = *backends();
    HostWeight hw = make_weight(TensorType::Q8_0, 8192, 300, 1, 5);
    const Weight wc = b.cpu->bind(hw.tensor, false), wg = b.gpu->bind(hw.tensor, false);
    for (uint32_t n : {1u, 4u, 16u}) {
        Mirror x(random_floats(size_t{n} * 8192, 99 + n));
        Mirror out(size_t{n} * 300);
        b.cpu->matmul(out.cpu, wc, x.cpu, n);
        b.gpu->matmul(out.gpu, wg, x.gpu, n);
        expect_close(compare(out.cpu_values(), out.gpu_values()), TensorType::Q8_0, n,
                     strformat("long Q8_0 k=8192 n=%u", n));
    }
}

// Single-token products (decode) in the shapes with their own kernel variants: the router
// (256 rows of 4096, F16/F32: 4 chunks per lane per step), long rows that are not whole
// steps (BF16 k=4104), and many short rows (4 rows per warp, including a partial last
// block and the one-element-per-lane float path).
TEST(CudaMatmulDecode, SingleTokenShapes) {
    DSTAR_REQUIRE_GPU();
    Backends &b = *backends();
    struct Shape {
        TensorType type;
        uint32_t k, rows;
    };
    for (const Shape &sh : {Shape{TensorType::F16, 4096, 256}, Shape{TensorType::F32, 4096, 256},
                            Shape{TensorType::BF16, 4104, 130}, Shape{TensorType::Q8_0, 1024, 8195},
                            Shape{TensorType::Q8_0, 512, 8192}, Shape{TensorType::F16, 100, 8200},
                            Shape{TensorType::F32, 66, 8193}, Shape{TensorType::F16, 1024, 8197}}) {
        HostWeight hw = make_weight(sh.type, sh.k, sh.rows, 1, 300 + sh.k + sh.rows);
        const Weight wc = b.cpu->bind(hw.tensor, false), wg = b.gpu->bind(hw.tensor, false);
        for (uint32_t n : {1u, 2u}) {
            Mirror x(random_floats(size_t{n} * sh.k, 5 * n + sh.k));
            Mirror out(size_t{n} * sh.rows);
            b.cpu->matmul(out.cpu, wc, x.cpu, n);
            b.gpu->matmul(out.gpu, wg, x.gpu, n);
            expect_close(compare(out.cpu_values(), out.gpu_values()), sh.type, n,
                         strformat("decode %s k=%u rows=%u n=%u", tname(sh.type), sh.k, sh.rows, n));
        }
    }
}

// Several weights times one input (matmul_multi): runs of alike weights share one launch
// (segments), others fall back to single products.  Shapes: the attention input's
// projections (Q8_0 q_a 1024 and kv 512, then F16 compressor 2 x 1024 and indexer 2 x 256
// and 64 rows of 4096), more alike weights than one launch takes (7 > kMatvecMaxSegs),
// alternating types, a segment total past the 4-rows-per-warp threshold with partial
// blocks, odd short rows (one warp per row), and K-quant / IQ2 types; n = 9 takes the
// batched fallback.
TEST(CudaMatmulMulti, MatchesSingleProducts) {
    DSTAR_REQUIRE_GPU();
    Backends &b = *backends();
    struct Shape {
        TensorType type;
        uint32_t rows;
    };
    struct Set {
        uint32_t k;
        std::vector<Shape> shapes;
    };
    const std::vector<Set> sets = {
        {4096,
         {{TensorType::Q8_0, 1024}, {TensorType::Q8_0, 512}, {TensorType::F16, 1024}, {TensorType::F16, 1024},
          {TensorType::F16, 256}, {TensorType::F16, 256}, {TensorType::F16, 64}}},
        {256,
         {{TensorType::Q8_0, 5}, {TensorType::Q8_0, 3}, {TensorType::Q8_0, 17}, {TensorType::Q8_0, 1},
          {TensorType::Q8_0, 9}, {TensorType::Q8_0, 4}, {TensorType::Q8_0, 33}}},
        {512, {{TensorType::F16, 7}, {TensorType::Q8_0, 6}, {TensorType::F16, 5}, {TensorType::F32, 3}}},
        {1024, {{TensorType::Q8_0, 8195}, {TensorType::Q8_0, 100}, {TensorType::Q8_0, 3}}},
        {512, {{TensorType::Q2_K, 33}, {TensorType::Q2_K, 7}, {TensorType::IQ2_XXS, 9}, {TensorType::IQ2_XXS, 40},
               {TensorType::Q4_K, 12}, {TensorType::Q4_K, 5}}},
    };
    uint32_t seed = 700;
    for (const Set &set : sets) {
        std::vector<HostWeight> hws;
        std::vector<Weight> wc, wg;
        hws.reserve(set.shapes.size());  // bound tensors point into their bytes
        for (const Shape &sh : set.shapes) hws.push_back(make_weight(sh.type, set.k, sh.rows, 1, seed++));
        for (const HostWeight &hw : hws) {
            wc.push_back(b.cpu->bind(hw.tensor, false));
            wg.push_back(b.gpu->bind(hw.tensor, false));
        }
        for (uint32_t n : {1u, 3u, 8u, 9u}) {
            Mirror x(random_floats(size_t{n} * set.k, seed++));
            std::vector<std::unique_ptr<Mirror>> outs;
            std::vector<float *> oc, og;
            std::vector<const Weight *> pc, pg;
            for (size_t i = 0; i < set.shapes.size(); i++) {
                outs.push_back(std::make_unique<Mirror>(size_t{n} * set.shapes[i].rows));
                oc.push_back(outs.back()->cpu);
                og.push_back(outs.back()->gpu);
                pc.push_back(&wc[i]);
                pg.push_back(&wg[i]);
            }
            const auto count = static_cast<uint32_t>(set.shapes.size());
            b.cpu->matmul_multi(oc.data(), pc.data(), count, x.cpu, n);
            b.gpu->matmul_multi(og.data(), pg.data(), count, x.gpu, n);
            for (size_t i = 0; i < set.shapes.size(); i++)
                expect_close(compare(outs[i]->cpu_values(), outs[i]->gpu_values()), set.shapes[i].type, n,
                             strformat("multi k=%u #%zu %s rows=%u n=%u", set.k, i, tname(set.shapes[i].type),
                                       set.shapes[i].rows, n));
        }
    }
}

// mmq_v2.cu against mmq.cu (DSTAR_CUDA_MMQ_V2=0), bitwise: the model's dense Q8_0 shape
// (4096 x 4096 at a 4,096-token chunk), its expert shapes as plain products (IQ2_XXS 2048 x
// 4096, Q2_K 4096 x 2048), and odd ones (partial row and token tiles, a Q8_0 row of three
// blocks, one K step); the small ones also against the CPU.  Both kernels must give the
// CPU's block terms in the CPU's order, so any difference is a bug.
TEST(CudaMatmulMmqV2, BitwiseEqualsV1) {
    DSTAR_REQUIRE_GPU();
    Backends &b = *backends();
    struct Shape {
        TensorType type;
        uint32_t k, rows, n;
    };
    for (const Shape &sh : {Shape{TensorType::Q8_0, 4096, 4096, 4096}, Shape{TensorType::IQ2_XXS, 4096, 2048, 300},
                            Shape{TensorType::Q2_K, 2048, 4096, 200}, Shape{TensorType::Q8_0, 1024, 8448, 130},
                            Shape{TensorType::Q8_0, 96, 8448, 64}, Shape{TensorType::IQ2_XXS, 256, 8448, 65},
                            Shape{TensorType::Q2_K, 768, 8400, 127}, Shape{TensorType::IQ2_XXS, 512, 8400, 100}}) {
        HostWeight hw = make_weight(sh.type, sh.k, sh.rows, 1, 900 + sh.k + sh.rows);
        const Weight wc = b.cpu->bind(hw.tensor, false), wg = b.gpu->bind(hw.tensor, false);
        Mirror x(random_floats(size_t{sh.n} * sh.k, 13 * sh.n + sh.k));
        Mirror out(size_t{sh.n} * sh.rows), old(size_t{sh.n} * sh.rows);
        b.gpu->matmul(out.gpu, wg, x.gpu, sh.n);
        ::setenv("DSTAR_CUDA_MMQ_V2", "0", 1);
        b.gpu->matmul(old.gpu, wg, x.gpu, sh.n);
        ::unsetenv("DSTAR_CUDA_MMQ_V2");
        const std::vector<float> v2 = out.gpu_values(), v1 = old.gpu_values();
        ASSERT_EQ(v1.size(), v2.size());
        size_t diff = 0;
        for (size_t i = 0; i < v1.size(); i++) diff += std::memcmp(&v1[i], &v2[i], sizeof(float)) != 0;
        EXPECT_EQ(diff, 0u) << tname(sh.type) << " k=" << sh.k << " rows=" << sh.rows << " n=" << sh.n;
        if (uint64_t{sh.k} * sh.rows * sh.n <= (uint64_t{1} << 30)) {
            b.cpu->matmul(out.cpu, wc, x.cpu, sh.n);
            expect_close(compare(out.cpu_values(), v2), sh.type, sh.n,
                         strformat("mmq_v2 %s k=%u rows=%u n=%u", tname(sh.type), sh.k, sh.rows, sh.n));
        }
    }
}

}  // namespace
}  // namespace dstar::backend::test
