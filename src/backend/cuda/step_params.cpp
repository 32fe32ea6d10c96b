#include "backend/cuda/step_params.h"

#include <cstring>

#include "backend/cuda/check.h"
#include "common/error.h"

namespace dstar::backend::cuda {

StepParams::StepParams(cudaStream_t stream) : stream_(stream) {
    check(cudaMalloc(reinterpret_cast<void **>(&dev_), 2 * sizeof(uint32_t)), "cudaMalloc (step)");
    check(cudaMemset(dev_, 0, 2 * sizeof(uint32_t)), "cudaMemset (step)");
    for (int i = 0; i < kSlots; i++) {
        check(cudaMallocHost(reinterpret_cast<void **>(&host_[i]), 2 * sizeof(uint32_t)), "cudaMallocHost (step)");
        check(cudaEventCreateWithFlags(&done_[i], cudaEventDisableTiming), "cudaEventCreate (step)");
    }
}

StepParams::~StepParams() {
    cudaStreamSynchronize(stream_);
    for (int i = 0; i < kSlots; i++) {
        if (host_[i]) cudaFreeHost(host_[i]);
        if (done_[i]) cudaEventDestroy(done_[i]);
    }
    if (dev_) cudaFree(dev_);
}

void StepParams::begin(uint32_t pos0, int32_t token) {
    const int s = slot_;
    slot_ = (slot_ + 1) % kSlots;
    check(cudaEventSynchronize(done_[s]), "cudaEventSynchronize (step)");  // the slot's last copy
    host_[s][0] = pos0;
    std::memcpy(&host_[s][1], &token, sizeof token);
    check(cudaMemcpyAsync(dev_, host_[s], 2 * sizeof(uint32_t), cudaMemcpyHostToDevice, stream_),
          "cudaMemcpyAsync (step)");
    check(cudaEventRecord(done_[s], stream_), "cudaEventRecord (step)");
    pos0_ = pos0;
    token_ = token;
    active_ = true;
}

DevPos StepParams::pos(uint32_t pos0) const {
    DevPos p;
    p.value = pos0;
    if (!active_) return p;
    if (pos0 != pos0_) fail("an op of the step at position %u was given position %u", pos0_, pos0);
    p.dev = dev_;
    return p;
}

const int32_t *StepParams::token(const int32_t *tokens, uint32_t n) const {
    if (n != 1 || tokens[0] != token_)
        fail("an op of the step of token %d was given %u other token ids", token_, n);
    return reinterpret_cast<const int32_t *>(dev_ + 1);
}

}  // namespace dstar::backend::cuda
