// Weights on the device: the type mapping, the device layout of a bound tensor, and the
// upload of file tensors (pinned double-buffered staging, then repacking on the GPU).
#pragma once

#include <cstdint>
#include <cuda_runtime_api.h>
#include <memory>

#include "backend/backend.h"
#include "backend/cuda/kernels.h"
#include "common/thread_pool.h"

namespace dstar::backend::cuda {

// The kernel type of a GGUF tensor type; throws Error naming the tensor for a type the
// CUDA backend cannot compute with.
WType weight_type(gguf::TensorType t, const std::string &name);

// Bytes of device memory a tensor of this shape takes (main region, 256-aligned, + side).
uint64_t device_bytes(WType t, uint64_t ne0, uint64_t rows);

// The kernels' view of a bound weight (Weight::data = start of its device memory).
DevWeight device_weight(const Weight &w, const uint64_t *iq2_grid);

// Uploads file tensors block-aligned through two pinned staging buffers, so that copying
// from the (memory-mapped) file overlaps the transfer of the previous chunk.  The copy into
// pinned memory runs on several threads: one thread reading a cold memory-mapped file (page
// faults, then memcpy) manages ~3-5 GB/s, far below PCIe, and would make loading the 81 GB
// model take 20 s or more.
class WeightUploader {
public:
    explicit WeightUploader(cudaStream_t stream);
    ~WeightUploader();
    WeightUploader(const WeightUploader &) = delete;
    WeightUploader &operator=(const WeightUploader &) = delete;

    // `rows` rows of `ne0` elements of type t from host memory `src` (file layout) into
    // `dst` (device_bytes(t, ne0, rows) bytes) in the device layout.
    void upload(WType t, const uint8_t *src, uint64_t ne0, uint64_t rows, uint8_t *dst);

private:
    static constexpr size_t kChunk = size_t{64} << 20;
    static constexpr int kMaxCopyThreads = 8;
    // Copies len bytes on the copy threads (slices of a few MiB each).
    void copy_parallel(uint8_t *dst, const uint8_t *src, size_t len);
    cudaStream_t stream_;
    std::unique_ptr<ThreadPool> copiers_;
    uint8_t *pinned_[2] = {nullptr, nullptr};
    uint8_t *staging_[2] = {nullptr, nullptr};
    cudaEvent_t done_[2] = {nullptr, nullptr};
};

}  // namespace dstar::backend::cuda
