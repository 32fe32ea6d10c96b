// A grow-only device buffer for per-op intermediates (activation codes, expert buffers,
// indexer scores...).  All ops run in order on one stream, so one buffer per purpose is
// reused by every call; growing frees the old one (cudaFree waits for queued work first).
#pragma once

#include <cstddef>
#include <cstdint>

namespace dstar::backend::cuda {

// A counter of the events after which recorded work (CUDA graphs) may point at freed
// device memory: a scratch buffer replaced by a larger one, a buffer the backend releases.
// Graphs recorded under an older value are dropped, never replayed.
uint64_t memory_generation();
void bump_memory_generation();

class DeviceScratch {
public:
    DeviceScratch() = default;
    ~DeviceScratch();
    DeviceScratch(const DeviceScratch &) = delete;
    DeviceScratch &operator=(const DeviceScratch &) = delete;

    // At least `count` elements of T (contents undefined).
    template <class T>
    T *get(size_t count) {
        return static_cast<T *>(ensure(count * sizeof(T)));
    }

private:
    void *ensure(size_t bytes);
    void *p_ = nullptr;
    size_t bytes_ = 0;
};

}  // namespace dstar::backend::cuda
