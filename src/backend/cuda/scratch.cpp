#include "backend/cuda/scratch.h"

#include <algorithm>
#include <atomic>
#include <cuda_runtime_api.h>

#include "backend/cuda/check.h"

namespace dstar::backend::cuda {

namespace {
std::atomic<uint64_t> g_generation{0};
}  // namespace

uint64_t memory_generation() { return g_generation.load(); }
void bump_memory_generation() { g_generation.fetch_add(1); }

DeviceScratch::~DeviceScratch() {
    if (p_) cudaFree(p_);
}

void *DeviceScratch::ensure(size_t bytes) {
    if (bytes <= bytes_ && p_) return p_;
    if (p_) {
        bump_memory_generation();
        // Queued kernels may still use the old buffer.
        check(cudaDeviceSynchronize(), "cudaDeviceSynchronize (scratch)");
        check(cudaFree(p_), "cudaFree (scratch)");
    }
    p_ = nullptr;
    const size_t want = std::max(bytes + bytes / 4, size_t{256});
    check(cudaMalloc(&p_, want), "cudaMalloc (scratch)");
    bytes_ = want;
    return p_;
}

}  // namespace dstar::backend::cuda
