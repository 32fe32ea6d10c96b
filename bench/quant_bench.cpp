// Microbenchmarks of the quant/ kernels (single thread), per kernel set.
//
// Each benchmark runs a whole matrix-vector product over DS4-shaped weights: rows/s and
// weight bytes/s are reported (bytes_per_second = weight bytes streamed).  "hot" variants
// reuse a small matrix that stays in L2, measuring compute rather than memory bandwidth.
// Argument 0 = scalar kernels, 1 = AVX2 kernels.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "common/fp16.h"
#include "quant/act_quant.h"
#include "quant/dot.h"
#include "quant/quantize.h"

namespace {

using namespace dstar;
using namespace dstar::quant;

bool select_isa(benchmark::State &state) {
    const char *isa = state.range(0) ? "avx2" : "scalar";
    if (!set_kernel_isa_for_testing(isa)) {
        state.SkipWithError("kernel set unavailable");
        return false;
    }
    state.SetLabel(isa);
    return true;
}

std::vector<uint8_t> random_bytes(size_t n, uint64_t seed) {
    std::mt19937_64 gen(seed);
    std::vector<uint8_t> v(n);
    for (auto &b : v) b = static_cast<uint8_t>(gen());
    return v;
}

std::vector<float> random_floats(size_t n, uint64_t seed) {
    std::mt19937_64 gen(seed);
    std::normal_distribution<float> dist;
    std::vector<float> v(n);
    for (auto &f : v) f = dist(gen);
    return v;
}

// Overwrites every f16 scale field at `offset` of each `block_bytes` block with a sane value.
void fix_scales(std::vector<uint8_t> &w, size_t block_bytes, size_t offset) {
    const uint16_t h = f32_to_f16(0.01f);
    for (size_t i = offset; i + 2 <= w.size(); i += block_bytes) std::memcpy(&w[i], &h, 2);
}

void BM_DotQ8_0(benchmark::State &state) {
    if (!select_isa(state)) return;
    const uint64_t n = 4096, rows = static_cast<uint64_t>(state.range(1));
    const size_t row_bytes = n / 32 * sizeof(BlockQ8_0);
    auto w = random_bytes(rows * row_bytes, 1);
    fix_scales(w, sizeof(BlockQ8_0), 0);
    const auto x = random_floats(n, 2);
    std::vector<int8_t> xq(n);
    std::vector<float> xs(n / 32), out(rows);
    quantize_q8_0_act(x.data(), xq.data(), xs.data(), n);
    for (auto _ : state) {
        for (uint64_t r = 0; r < rows; r++) {
            out[r] = dot_q8_0(reinterpret_cast<const BlockQ8_0 *>(w.data() + r * row_bytes), xq.data(),
                              xs.data(), n);
        }
        benchmark::DoNotOptimize(out.data());
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * rows));
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * rows * row_bytes));
    set_kernel_isa_for_testing("auto");
}

template <typename Block, float (*Dot)(const Block *, const BlockQ8_K *, uint64_t), size_t kScaleOff,
          size_t kMinOff>
void BM_DotK(benchmark::State &state) {
    if (!select_isa(state)) return;
    const uint64_t n = static_cast<uint64_t>(state.range(2)), rows = static_cast<uint64_t>(state.range(1));
    const size_t row_bytes = n / 256 * sizeof(Block);
    auto w = random_bytes(rows * row_bytes, 3);
    fix_scales(w, sizeof(Block), kScaleOff);
    if (kMinOff != kScaleOff) fix_scales(w, sizeof(Block), kMinOff);
    const auto x = random_floats(n, 4);
    std::vector<BlockQ8_K> y(n / 256);
    std::vector<float> out(rows);
    quantize_q8_k_act(x.data(), y.data(), n);
    for (auto _ : state) {
        for (uint64_t r = 0; r < rows; r++) {
            out[r] = Dot(reinterpret_cast<const Block *>(w.data() + r * row_bytes), y.data(), n);
        }
        benchmark::DoNotOptimize(out.data());
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * rows));
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * rows * row_bytes));
    set_kernel_isa_for_testing("auto");
}

void BM_DotF16Rows(benchmark::State &state) {
    if (!select_isa(state)) return;
    const uint64_t n = 4096, rows = static_cast<uint64_t>(state.range(1));
    std::vector<uint16_t> w(rows * n);
    const auto wf = random_floats(rows * n, 5);
    for (size_t i = 0; i < w.size(); i++) w[i] = f32_to_f16(wf[i]);
    const auto x = random_floats(n, 6);
    std::vector<float> out(rows);
    for (auto _ : state) {
        dot_f16_rows(w.data(), n, rows, x.data(), n, out.data());
        benchmark::DoNotOptimize(out.data());
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * rows));
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * rows * n * 2));
    set_kernel_isa_for_testing("auto");
}

void BM_QuantizeQ8_0(benchmark::State &state) {
    if (!select_isa(state)) return;
    const uint64_t n = 4096;
    const auto x = random_floats(n, 7);
    std::vector<int8_t> q(n);
    std::vector<float> s(n / 32);
    for (auto _ : state) {
        quantize_q8_0_act(x.data(), q.data(), s.data(), n);
        benchmark::DoNotOptimize(q.data());
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n));
    set_kernel_isa_for_testing("auto");
}

void BM_QuantizeQ8_K(benchmark::State &state) {
    if (!select_isa(state)) return;
    const uint64_t n = 4096;
    const auto x = random_floats(n, 8);
    std::vector<BlockQ8_K> y(n / 256);
    for (auto _ : state) {
        quantize_q8_k_act(x.data(), y.data(), n);
        benchmark::DoNotOptimize(y.data());
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n));
    set_kernel_isa_for_testing("auto");
}

// Weight quantizers (the converter's work, quantize.h) on one thread: 16 expert-shaped rows
// of 4096 N(0,1) values; items/s = weights/s.  Argument 0 = GGUF type id (8 Q8_0, 10 Q2_K,
// 12 Q4_K, 16 IQ2_XXS), 1 = with a log-normal importance vector.  They use no kernel set.
void BM_QuantizeWeights(benchmark::State &state) {
    const auto type = static_cast<gguf::TensorType>(state.range(0));
    const bool weighted = state.range(1) != 0;
    const uint64_t n = 4096, rows = 16;
    const auto x = random_floats(rows * n, 9);
    std::vector<float> imp(n);
    std::mt19937_64 gen(10);
    std::lognormal_distribution<float> dist(0.0f, 2.0f);
    for (auto &v : imp) v = dist(gen);
    uint64_t row_bytes = 0;
    gguf::row_bytes(type, n, &row_bytes);
    std::vector<uint8_t> out(rows * row_bytes);
    for (auto _ : state) {
        quantize_rows(type, x.data(), out.data(), rows, n, weighted ? imp.data() : nullptr);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetLabel(gguf::type_name(type) + (weighted ? " imatrix" : " uniform"));
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * rows * n));
}

// Rows: 4096 (a 17 MB attention-sized matrix, memory bound) and 64 (hot in L2).
BENCHMARK(BM_DotQ8_0)->ArgsProduct({{0, 1}, {4096, 64}});
// Expert shapes: IQ2_XXS gate/up rows of 4096, Q2_K down rows of 2048, Q4_K both.
BENCHMARK(BM_DotK<BlockIQ2_XXS, dot_iq2_xxs, 0, 0>)->Name("BM_DotIQ2_XXS")->ArgsProduct({{0, 1}, {2048, 64}, {4096}});
BENCHMARK(BM_DotK<BlockQ2_K, dot_q2_k, 80, 82>)->Name("BM_DotQ2_K")->ArgsProduct({{0, 1}, {4096, 64}, {2048}});
BENCHMARK(BM_DotK<BlockQ4_K, dot_q4_k, 0, 2>)->Name("BM_DotQ4_K")->ArgsProduct({{0, 1}, {2048, 64}, {4096}});
BENCHMARK(BM_DotF16Rows)->ArgsProduct({{0, 1}, {256, 24}});
BENCHMARK(BM_QuantizeQ8_0)->ArgsProduct({{0, 1}});
BENCHMARK(BM_QuantizeQ8_K)->ArgsProduct({{0, 1}});
BENCHMARK(BM_QuantizeWeights)->ArgsProduct({{8, 10, 12, 16}, {0, 1}});

}  // namespace

BENCHMARK_MAIN();
