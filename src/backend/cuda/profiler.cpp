#include "backend/cuda/profiler.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "backend/cuda/check.h"
#include "common/error.h"

namespace dstar::backend::cuda {

OpProfiler::OpProfiler(cudaStream_t stream) : stream_(stream) {
    const char *v = std::getenv("DSTAR_CUDA_PROFILE");
    on_ = v && *v && std::strcmp(v, "0") != 0;
}

OpProfiler::~OpProfiler() {
    for (const Pending &p : pending_) {
        cudaEventDestroy(p.start);
        cudaEventDestroy(p.stop);
    }
    for (cudaEvent_t e : free_) cudaEventDestroy(e);
}

cudaEvent_t OpProfiler::take() {
    if (!free_.empty()) {
        cudaEvent_t e = free_.back();
        free_.pop_back();
        return e;
    }
    cudaEvent_t e;
    check(cudaEventCreate(&e), "cudaEventCreate (profiler)");
    return e;
}

void OpProfiler::begin(const char *op) {
    const auto now = std::chrono::steady_clock::now();
    if (!started_) first_ = now;
    started_ = true;
    open_ = op;
    open_start_ = take();
    check(cudaEventRecord(open_start_, stream_), "cudaEventRecord (profiler)");
}

void OpProfiler::end() {
    cudaEvent_t stop = take();
    check(cudaEventRecord(stop, stream_), "cudaEventRecord (profiler)");
    pending_.push_back({open_, open_start_, stop});
    last_ = std::chrono::steady_clock::now();
}

void OpProfiler::resolve() {
    for (const Pending &p : pending_) {
        float ms = 0;
        check(cudaEventSynchronize(p.stop), "cudaEventSynchronize (profiler)");
        check(cudaEventElapsedTime(&ms, p.start, p.stop), "cudaEventElapsedTime (profiler)");
        Total &t = totals_[p.op];
        t.calls++;
        t.ms += ms;
        free_.push_back(p.start);
        free_.push_back(p.stop);
    }
    pending_.clear();
}

std::string OpProfiler::report() {
    resolve();
    double total = 0;
    for (const auto &kv : totals_) total += kv.second.ms;
    std::vector<std::pair<std::string, Total>> rows(totals_.begin(), totals_.end());
    std::sort(rows.begin(), rows.end(), [](const auto &a, const auto &b) { return a.second.ms > b.second.ms; });
    const double wall = started_ ? std::chrono::duration<double, std::milli>(last_ - first_).count() : 0.0;
    std::string out = strformat("CUDA op profile: %.2f ms of GPU time in ops, %.2f ms wall from the first op to the last\n",
                                total, wall);
    out += strformat("  %-16s %10s %12s %10s %7s\n", "op", "calls", "total ms", "mean us", "share");
    for (const auto &[name, t] : rows)
        out += strformat("  %-16s %10llu %12.3f %10.2f %6.1f%%\n", name.c_str(), static_cast<unsigned long long>(t.calls),
                         t.ms, 1000.0 * t.ms / static_cast<double>(t.calls), total > 0 ? 100.0 * t.ms / total : 0.0);
    return out;
}

}  // namespace dstar::backend::cuda
