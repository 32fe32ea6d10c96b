#include "backend/cuda/check.h"

#include <cstdlib>
#include <cstring>

#include "common/error.h"

namespace dstar::backend::cuda {

namespace {

bool sync_after_launch() {
    static const bool on = [] {
        const char *v = std::getenv("DSTAR_CUDA_SYNC");
        return v && std::strcmp(v, "0") != 0 && *v != '\0';
    }();
    return on;
}

}  // namespace

bool pdl_enabled() {
    static const bool on = [] {
        const char *v = std::getenv("DSTAR_CUDA_PDL");
        if (v && std::strcmp(v, "0") == 0) return false;
        int dev = 0, major = 0;
        if (cudaGetDevice(&dev) != cudaSuccess) return false;
        if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess) return false;
        return major >= 9;
    }();
    return on;
}

bool producer_q8_enabled() {
    static const bool on = [] {
        const char *v = std::getenv("DSTAR_CUDA_PRODUCER_Q8");
        return !(v && std::strcmp(v, "0") == 0);
    }();
    return on;
}

void check(cudaError_t e, const char *what) {
    if (e != cudaSuccess) fail("CUDA error in %s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
}

void check_launch(const char *kernel, cudaStream_t stream) {
    check(cudaGetLastError(), kernel);
    if (!sync_after_launch()) return;
    // A stream being recorded (graphs.h) cannot be waited for: its kernels run at replay.
    cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
    check(cudaStreamIsCapturing(stream, &capture), kernel);
    if (capture == cudaStreamCaptureStatusNone) check(cudaStreamSynchronize(stream), kernel);
}

}  // namespace dstar::backend::cuda
