#include "backend/cuda/weights.h"

#include <algorithm>
#include <cstring>

#include "backend/cuda/check.h"
#include "common/error.h"

namespace dstar::backend::cuda {

namespace {

uint64_t align256(uint64_t v) { return (v + 255) & ~uint64_t{255}; }

}  // namespace

WType weight_type(gguf::TensorType t, const std::string &name) {
    using gguf::TensorType;
    switch (t) {
    case TensorType::F32: return WType::F32;
    case TensorType::F16: return WType::F16;
    case TensorType::BF16: return WType::BF16;
    case TensorType::Q8_0: return WType::Q8_0;
    case TensorType::Q2_K: return WType::Q2_K;
    case TensorType::Q4_K: return WType::Q4_K;
    case TensorType::IQ2_XXS: return WType::IQ2_XXS;
    case TensorType::I32: return WType::I32;
    default: fail("tensor '%s': no CUDA kernel for type %s", name.c_str(), gguf::type_name(t).c_str());
    }
}

uint64_t device_bytes(WType t, uint64_t ne0, uint64_t rows) {
    const BlockGeom g = block_geom(t);
    const uint64_t blocks = ne0 / g.elems * rows;
    return align256(blocks * g.main_bytes) + blocks * g.side_bytes;
}

DevWeight device_weight(const Weight &w, const uint64_t *iq2_grid) {
    DevWeight d;
    d.type = weight_type(w.type, w.name);
    const BlockGeom g = block_geom(d.type);
    d.k = static_cast<uint32_t>(w.ne0);
    d.rows = w.ne1 * w.ne2;
    d.rows_per_expert = w.ne1;
    const uint64_t bpr = w.ne0 / g.elems;
    d.main_row = bpr * g.main_bytes;
    d.side_row = bpr * g.side_bytes;
    d.main = static_cast<const uint8_t *>(w.data);
    d.side = g.side_bytes ? d.main + align256(d.main_row * d.rows) : nullptr;
    d.iq2_grid = iq2_grid;
    return d;
}

WeightUploader::WeightUploader(cudaStream_t stream)
    : stream_(stream), copiers_(std::make_unique<ThreadPool>(std::min(kMaxCopyThreads, ThreadPool::default_threads()))) {
    for (int i = 0; i < 2; i++) {
        check(cudaMallocHost(reinterpret_cast<void **>(&pinned_[i]), kChunk), "cudaMallocHost (weight staging)");
        check(cudaMalloc(reinterpret_cast<void **>(&staging_[i]), kChunk), "cudaMalloc (weight staging)");
        check(cudaEventCreateWithFlags(&done_[i], cudaEventDisableTiming), "cudaEventCreate");
    }
}

WeightUploader::~WeightUploader() {
    cudaStreamSynchronize(stream_);
    for (int i = 0; i < 2; i++) {
        if (pinned_[i]) cudaFreeHost(pinned_[i]);
        if (staging_[i]) cudaFree(staging_[i]);
        if (done_[i]) cudaEventDestroy(done_[i]);
    }
}

void WeightUploader::upload(WType t, const uint8_t *src, uint64_t ne0, uint64_t rows, uint8_t *dst) {
    const BlockGeom g = block_geom(t);
    const uint64_t blocks = ne0 / g.elems * rows;
    const bool repack = g.main_bytes != g.file_bytes;
    uint8_t *main = dst;
    uint8_t *side = dst + align256(blocks * g.main_bytes);
    const uint64_t chunk_blocks = kChunk / g.file_bytes;
    int buf = 0;
    for (uint64_t b0 = 0; b0 < blocks; b0 += chunk_blocks, buf ^= 1) {
        const uint64_t nb = std::min(chunk_blocks, blocks - b0);
        const uint64_t off = b0 * g.file_bytes, len = nb * g.file_bytes;
        // The staging buffer's previous transfer (two chunks ago) must be finished.
        check(cudaEventSynchronize(done_[buf]), "cudaEventSynchronize (weight staging)");
        copy_parallel(pinned_[buf], src + off, len);
        if (repack) {
            check(cudaMemcpyAsync(staging_[buf], pinned_[buf], len, cudaMemcpyHostToDevice, stream_), "cudaMemcpyAsync (weights)");
            launch_repack(t, staging_[buf], nb, main + b0 * g.main_bytes, side + b0 * g.side_bytes, stream_);
        } else {
            check(cudaMemcpyAsync(main + off, pinned_[buf], len, cudaMemcpyHostToDevice, stream_), "cudaMemcpyAsync (weights)");
        }
        check(cudaEventRecord(done_[buf], stream_), "cudaEventRecord (weight staging)");
    }
}

void WeightUploader::copy_parallel(uint8_t *dst, const uint8_t *src, size_t len) {
    constexpr size_t kSlice = size_t{4} << 20;
    const size_t slices = (len + kSlice - 1) / kSlice;
    copiers_->parallel_for(slices, [&](size_t begin, size_t end) {
        const size_t b = begin * kSlice, e = std::min(len, end * kSlice);
        if (e > b) std::memcpy(dst + b, src + b, e - b);
    });
}

}  // namespace dstar::backend::cuda
