#include "common/thread_pool.h"

#include <algorithm>
#include <chrono>
#include <unistd.h>

namespace dstar {

namespace {
// How long a worker spins for the next loop before sleeping on the condition variable.
constexpr auto kSpin = std::chrono::microseconds(200);

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}
}  // namespace

int ThreadPool::default_threads() {
    const long n = ::sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? static_cast<int>(n) : 1;
}

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads > 0 ? n_threads : default_threads()) {
    for (int i = 1; i < n_threads_; i++) workers_.emplace_back([this, i] { worker_main(i); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
    }
    start_cv_.notify_all();
    for (auto &t : workers_) t.join();
}

static void run_part(const ThreadPool::RangeFn &fn, size_t n, size_t parts, size_t part) {
    const size_t begin = n * part / parts;
    const size_t end = n * (part + 1) / parts;
    if (begin < end) fn(begin, end);
}

void ThreadPool::worker_main(int index) {
    unsigned long long seen = 0;
    for (;;) {
        // Spin for a new generation, then sleep.
        const auto deadline = std::chrono::steady_clock::now() + kSpin;
        while (generation_.load(std::memory_order_acquire) == seen && !stop_.load(std::memory_order_relaxed)) {
            if (std::chrono::steady_clock::now() > deadline) {
                std::unique_lock<std::mutex> lock(mu_);
                start_cv_.wait(lock, [&] { return stop_ || generation_.load() != seen; });
                break;
            }
            cpu_relax();
        }
        if (stop_) return;
        seen = generation_.load(std::memory_order_acquire);
        const RangeFn *job = job_;
        const size_t n = job_n_, parts = job_parts_;
        if (static_cast<size_t>(index) < parts) run_part(*job, n, parts, static_cast<size_t>(index));
        pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
}

void ThreadPool::parallel_for(size_t n, const RangeFn &fn, size_t min_chunk) {
    if (n == 0) return;
    if (min_chunk == 0) min_chunk = 1;
    const size_t parts = std::min<size_t>(static_cast<size_t>(n_threads_), (n + min_chunk - 1) / min_chunk);
    if (parts <= 1 || workers_.empty()) {
        fn(0, n);
        return;
    }
    {
        std::lock_guard<std::mutex> lock(mu_);
        job_ = &fn;
        job_n_ = n;
        job_parts_ = parts;
        pending_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
        generation_.fetch_add(1, std::memory_order_release);
    }
    start_cv_.notify_all();
    run_part(fn, n, parts, 0);
    while (pending_.load(std::memory_order_acquire) != 0) cpu_relax();
    job_ = nullptr;
}

}  // namespace dstar
