// The position and token id of the single-token step (decode) being run or recorded, in
// device memory: kernels of a step read them there (kernels.h, DevPos), so a replayed graph
// uses the values of the step it replays.  Written before the step's work on the stream,
// from a ring of pinned slots (the host waits only for a copy several steps old).
#pragma once

#include <cstdint>
#include <cuda_runtime_api.h>

#include "backend/cuda/kernels.h"

namespace dstar::backend::cuda {

class StepParams {
public:
    explicit StepParams(cudaStream_t stream);
    ~StepParams();
    StepParams(const StepParams &) = delete;
    StepParams &operator=(const StepParams &) = delete;

    // Queues the copy of the step's position and token and marks the step active.
    void begin(uint32_t pos0, int32_t token);
    void end() { active_ = false; }
    bool active() const { return active_; }
    // The position an op passes, as its kernels read it: in a step, the device word (the op
    // must pass the step's position); otherwise the value itself.
    DevPos pos(uint32_t pos0) const;
    // In a step, the token an op passes (checked against the step's) in device memory.
    const int32_t *token(const int32_t *tokens, uint32_t n) const;

private:
    static constexpr int kSlots = 4;
    cudaStream_t stream_;
    uint32_t *dev_ = nullptr;  // [0] position, [1] token id
    uint32_t *host_[kSlots] = {};
    cudaEvent_t done_[kSlots] = {};
    int slot_ = 0;
    bool active_ = false;
    uint32_t pos0_ = 0;
    int32_t token_ = 0;
};

}  // namespace dstar::backend::cuda
