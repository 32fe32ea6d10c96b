// Per-op GPU time of the CUDA backend, for finding where a forward pass spends its time.
// Enabled with DSTAR_CUDA_PROFILE=1: every op records a pair of events around its kernels;
// the pairs are resolved at the next host synchronisation and the totals are printed to
// stderr when the backend is destroyed (op, calls, total and mean GPU time, share), next to
// the wall time between the first and the last op.  Off by default: it costs two event
// records per op.
#pragma once

#include <chrono>
#include <cuda_runtime_api.h>
#include <map>
#include <string>
#include <vector>

namespace dstar::backend::cuda {

class OpProfiler {
public:
    explicit OpProfiler(cudaStream_t stream);
    ~OpProfiler();
    OpProfiler(const OpProfiler &) = delete;
    OpProfiler &operator=(const OpProfiler &) = delete;

    bool on() const { return on_; }
    void begin(const char *op);  // before the op's kernels
    void end();                  // after them
    void resolve();              // after a host synchronisation: reads finished event pairs
    std::string report();

private:
    struct Pending {
        const char *op;
        cudaEvent_t start, stop;
    };
    struct Total {
        uint64_t calls = 0;
        double ms = 0;
    };
    cudaEvent_t take();
    cudaStream_t stream_;
    bool on_ = false;
    std::vector<cudaEvent_t> free_;
    std::vector<Pending> pending_;
    std::map<std::string, Total> totals_;
    const char *open_ = nullptr;
    cudaEvent_t open_start_ = nullptr;
    bool started_ = false;
    std::chrono::steady_clock::time_point first_, last_;
};

// Brackets one op when profiling is on.
class OpScope {
public:
    OpScope(OpProfiler &p, const char *op) : p_(p) {
        if (p_.on()) p_.begin(op);
    }
    ~OpScope() {
        if (p_.on()) p_.end();
    }
    OpScope(const OpScope &) = delete;
    OpScope &operator=(const OpScope &) = delete;

private:
    OpProfiler &p_;
};

}  // namespace dstar::backend::cuda
