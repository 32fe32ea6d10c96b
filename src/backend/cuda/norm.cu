// RMS normalisation, one block per row: the sum of squares in double (as the CPU does, so
// the scale agrees to the last bit in practice), then x * scale (* w).  In place is fine:
// every thread has read its inputs before the block reduction completes.
#include "backend/cuda/check.h"
#include "backend/cuda/device.cuh"
#include "backend/cuda/kernels.h"

namespace dstar::backend::cuda {

namespace {

__global__ void __launch_bounds__(1024) rms_norm_kernel(float *out, const float *x, const float *w, uint32_t dim,
                                                       float eps) {
    __shared__ double scratch[32];
    const float *xr = x + uint64_t{blockIdx.x} * dim;
    float *o = out + uint64_t{blockIdx.x} * dim;
    double ss = 0.0;
    for (uint32_t i = threadIdx.x; i < dim; i += blockDim.x) ss += static_cast<double>(xr[i]) * xr[i];
    ss = block_sum(ss, scratch);
    const float scale = 1.0f / sqrtf(static_cast<float>(ss / static_cast<double>(dim)) + eps);
    if (w) {
        for (uint32_t i = threadIdx.x; i < dim; i += blockDim.x) o[i] = xr[i] * scale * w[i];
    } else {
        for (uint32_t i = threadIdx.x; i < dim; i += blockDim.x) o[i] = xr[i] * scale;
    }
}

}  // namespace

void launch_rms_norm(float *out, const float *x, const float *w, uint32_t rows, uint32_t dim, float eps,
                     cudaStream_t stream) {
    if (rows == 0 || dim == 0) return;
    // Long rows (the 16384-wide hyper-connection state) get a whole 1024-thread block:
    // with one row per token, decode has a single block to spread the row over.
    const unsigned threads = dim >= 8192 ? 1024 : (dim >= 2048 ? 256 : (dim >= 512 ? 128 : 64));
    rms_norm_kernel<<<rows, threads, 0, stream>>>(out, x, w, dim, eps);
    check_launch("rms_norm", stream);
}

}  // namespace dstar::backend::cuda
