#include "common/thread_pool.h"

#include <algorithm>
#include <unistd.h>

namespace dstar {

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
        const RangeFn *job;
        size_t n, parts;
        {
            std::unique_lock<std::mutex> lock(mu_);
            start_cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
            if (stop_) return;
            seen = generation_;
            job = job_;
            n = job_n_;
            parts = job_parts_;
        }
        if (static_cast<size_t>(index) < parts) run_part(*job, n, parts, static_cast<size_t>(index));
        {
            std::lock_guard<std::mutex> lock(mu_);
            if (--pending_ == 0) done_cv_.notify_one();
        }
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
        pending_ = static_cast<int>(workers_.size());
        generation_++;
    }
    start_cv_.notify_all();
    run_part(fn, n, parts, 0);
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, [&] { return pending_ == 0; });
    job_ = nullptr;
}

}  // namespace dstar
