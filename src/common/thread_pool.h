// A fixed pool of worker threads running data-parallel loops.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace dstar {

// parallel_for splits [0, n) into one contiguous range per thread and waits for all of
// them.  Work is split by output rows only, never inside a reduction, so results do not
// depend on the thread count.  Decode issues hundreds of small loops per token, so workers
// spin briefly for the next loop before sleeping, and the caller spins for completion.
class ThreadPool {
public:
    // n_threads <= 0 means "one per online CPU".  The calling thread is one of them.
    explicit ThreadPool(int n_threads = 0);
    ~ThreadPool();
    ThreadPool(const ThreadPool &) = delete;
    ThreadPool &operator=(const ThreadPool &) = delete;

    int size() const { return n_threads_; }

    using RangeFn = std::function<void(size_t begin, size_t end)>;
    // Runs fn over [0, n).  Ranges smaller than min_chunk are not split further.
    // Not reentrant: fn must not call parallel_for on the same pool.
    void parallel_for(size_t n, const RangeFn &fn, size_t min_chunk = 1);

    static int default_threads();

private:
    void worker_main(int index);

    int n_threads_;
    std::vector<std::thread> workers_;
    std::mutex mu_;
    std::condition_variable start_cv_;
    const RangeFn *job_ = nullptr;
    size_t job_n_ = 0;
    size_t job_parts_ = 0;
    std::atomic<unsigned long long> generation_{0};
    std::atomic<int> pending_{0};
    std::atomic<bool> stop_{false};
};

}  // namespace dstar
