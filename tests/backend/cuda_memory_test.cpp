// CUDA backend memory: zero-filled allocations, upload/download round trips, fill, copy
// with memmove semantics, and vector weights converted to f32 at bind time.
#include <cstring>
#include <gtest/gtest.h>

#include "backend/cuda_test_util.h"
#include "common/fp16.h"
#include "model/weights.h"

namespace dstar::backend::test {
namespace {

std::vector<float> download(Backend &be, const float *p, size_t n) {
    std::vector<float> v(n);
    be.download(v.data(), p, n);
    return v;
}

TEST(CudaMemory, AllocIsZeroedAndRoundTrips) {
    DSTAR_REQUIRE_GPU();
    Backend &g = *backends()->gpu;
    const size_t n = 100003;
    float *p = g.alloc(n);
    for (float v : download(g, p, n)) ASSERT_EQ(v, 0.0f);
    const std::vector<float> x = random_floats(n, 3);
    g.upload(p, x.data(), n);
    EXPECT_EQ(std::memcmp(download(g, p, n).data(), x.data(), n * 4), 0);
    g.fill(p, -INFINITY, n);
    for (float v : download(g, p, n)) ASSERT_EQ(v, -INFINITY);
    int32_t *q = g.alloc_i32(17);
    std::vector<int32_t> qi(17, 5);
    g.download(reinterpret_cast<float *>(qi.data()), reinterpret_cast<const float *>(q), 17);
    for (int32_t v : qi) EXPECT_EQ(v, 0);
    g.release(p);
    g.release(q);
}

TEST(CudaMemory, CopyHasMemmoveSemantics) {
    DSTAR_REQUIRE_GPU();
    Backend &g = *backends()->gpu;
    const size_t n = 1000;
    const std::vector<float> x = random_floats(n, 4);
    float *p = g.alloc(n);
    // Forward overlap (dst after src) and backward overlap (dst before src).
    for (int shift : {+7, -7}) {
        g.upload(p, x.data(), n);
        std::vector<float> want = x;
        const size_t len = n - 7;
        if (shift > 0) {
            std::memmove(want.data() + 7, want.data(), len * 4);
            g.copy(p + 7, p, len);
        } else {
            std::memmove(want.data(), want.data() + 7, len * 4);
            g.copy(p, p + 7, len);
        }
        EXPECT_EQ(download(g, p, n), want) << "shift " << shift;
    }
    float *d = g.alloc(n);
    g.upload(p, x.data(), n);
    g.copy(d, p, n);
    EXPECT_EQ(download(g, d, n), x);
    g.release(p);
    g.release(d);
}

TEST(CudaMemory, VectorWeightsBecomeF32) {
    DSTAR_REQUIRE_GPU();
    Backend &g = *backends()->gpu;
    HostWeight hw = make_weight(gguf::TensorType::F16, 300, 1, 1, 8, "blk.0.attn_norm.weight");
    const Weight w = g.bind(hw.tensor, true);
    EXPECT_EQ(w.type, gguf::TensorType::F32);
    EXPECT_EQ(download(g, static_cast<const float *>(w.data), 300), model::vector_values(hw.tensor));
}

}  // namespace
}  // namespace dstar::backend::test
