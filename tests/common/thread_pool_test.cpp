#include "common/thread_pool.h"

#include <atomic>
#include <gtest/gtest.h>
#include <vector>

namespace dstar {
namespace {

TEST(ThreadPool, CoversEveryIndexExactlyOnce) {
    for (int threads : {1, 2, 3, 8}) {
        ThreadPool pool(threads);
        for (size_t n : {size_t{0}, size_t{1}, size_t{7}, size_t{1000}}) {
            std::vector<std::atomic<int>> hits(n);
            pool.parallel_for(n, [&](size_t b, size_t e) {
                for (size_t i = b; i < e; i++) hits[i]++;
            });
            for (size_t i = 0; i < n; i++) EXPECT_EQ(hits[i].load(), 1) << "n=" << n << " i=" << i;
        }
    }
}

TEST(ThreadPool, MinChunkLimitsSplitting) {
    ThreadPool pool(4);
    std::atomic<int> calls{0};
    pool.parallel_for(10, [&](size_t, size_t) { calls++; }, 100);
    EXPECT_EQ(calls.load(), 1);
}

TEST(ThreadPool, ManyRoundsReuseWorkers) {
    ThreadPool pool(4);
    std::atomic<long> sum{0};
    for (int r = 0; r < 2000; r++)
        pool.parallel_for(64, [&](size_t b, size_t e) { sum += static_cast<long>(e - b); });
    EXPECT_EQ(sum.load(), 2000L * 64);
}

}  // namespace
}  // namespace dstar
