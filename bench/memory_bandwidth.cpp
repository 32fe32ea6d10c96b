// Memory read bandwidth of this machine (for CPU roofline ratios in docs/PERF.md):
// sums a 1 GiB buffer with 1..N threads, as the CPU decode path streams weights.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <thread>
#include <vector>

namespace {

const std::vector<uint64_t> &buffer() {
    static std::vector<uint64_t> buf(size_t{1} << 27, 1);  // 1 GiB, touched once
    return buf;
}

void BM_ReadBandwidth(benchmark::State &state) {
    const auto &buf = buffer();
    const int threads = static_cast<int>(state.range(0));
    for (auto _ : state) {
        std::vector<std::thread> ts;
        std::vector<uint64_t> sums(static_cast<size_t>(threads));
        for (int t = 0; t < threads; t++)
            ts.emplace_back([&, t] {
                const size_t b = buf.size() * static_cast<size_t>(t) / static_cast<size_t>(threads);
                const size_t e = buf.size() * static_cast<size_t>(t + 1) / static_cast<size_t>(threads);
                uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
                for (size_t i = b; i + 4 <= e; i += 4) {
                    s0 += buf[i];
                    s1 += buf[i + 1];
                    s2 += buf[i + 2];
                    s3 += buf[i + 3];
                }
                sums[static_cast<size_t>(t)] = s0 + s1 + s2 + s3;
            });
        for (auto &t : ts) t.join();
        benchmark::DoNotOptimize(sums.data());
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(buffer().size() * 8));
}
BENCHMARK(BM_ReadBandwidth)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
