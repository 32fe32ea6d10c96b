// Activation quantization before quantized matmuls, bit-identical to the CPU reference
// (quant/act_quant.h): Q8_0 (int8 per 32, for Q8_0 weights) and Q8_K (int8 per 256 with
// sums of 16, for K-quant and IQ2 weights).  Max and integer sums are order-free, and the
// float steps are the same single operations, so the codes and scales equal the CPU's.
#include "backend/cuda/check.h"
#include "backend/cuda/device.cuh"
#include "backend/cuda/launch.cuh"
#include "backend/cuda/kernels.h"

namespace dstar::backend::cuda {

namespace {

// One warp per 32-value block; 8 blocks per thread block.
__global__ void __launch_bounds__(256) quantize_q8_0_kernel(const float *x, uint64_t x_stride, uint32_t n, uint32_t k,
                                                            int8_t *q, float *d) {
    pdl_enter();  // waits for the previous kernel (launch.cuh)
    const uint32_t nb = k / 32;
    const uint64_t blk = blockIdx.x * 8ull + threadIdx.x / 32;
    if (blk >= uint64_t{n} * nb) return;  // whole warps leave together
    const int lane = threadIdx.x & 31;
    const uint64_t t = blk / nb, b = blk % nb;
    const float v = x[t * x_stride + b * 32 + lane];
    const float amax = warp_max(fabsf(v));
    const float dd = amax / 127.0f;
    const float id = dd != 0.0f ? 1.0f / dd : 0.0f;
    q[t * k + b * 32 + lane] = quant_code(v * id);
    if (lane == 0) d[t * nb + b] = dd;
}

// One thread block of 256 threads per 256-value block.
__global__ void __launch_bounds__(256) quantize_q8_k_kernel(const float *x, uint64_t x_stride, uint32_t k, int8_t *q,
                                                            float *d, int32_t *bsums) {
    pdl_enter();  // waits for the previous kernel (launch.cuh)
    __shared__ float best_abs[8];
    __shared__ int best_idx[8];
    const uint32_t nb = k / 256;
    const uint64_t t = blockIdx.x / nb, b = blockIdx.x % nb;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const float v = x[t * x_stride + b * 256 + tid];
    // The element of largest magnitude, the first one on ties (NaN never wins, as on the CPU).
    float ax = isnan(v) ? -1.0f : fabsf(v);
    int idx = tid;
    warp_argmax_lowest(ax, idx);
    if (lane == 0) {
        best_abs[warp] = ax;
        best_idx[warp] = idx;
    }
    __syncthreads();
    float amax = best_abs[0];
    int at = best_idx[0];
    for (int w = 1; w < 8; w++) {
        if (best_abs[w] > amax || (best_abs[w] == amax && best_idx[w] < at)) {
            amax = best_abs[w];
            at = best_idx[w];
        }
    }
    int8_t code = 0;
    float scale = 0.0f;
    if (amax > 0.0f) {
        const float max = x[t * x_stride + b * 256 + at];
        const float iscale = -127.0f / max;
        code = quant_code(iscale * v);
        scale = 1.0f / iscale;
    }
    q[t * k + b * 256 + tid] = code;
    const int s = group_sum<16>(static_cast<int>(code));
    if ((tid & 15) == 0) bsums[t * (k / 16) + b * 16 + tid / 16] = s;
    if (tid == 0) d[t * nb + b] = scale;
}

}  // namespace

void launch_quantize_q8_0(const float *x, uint64_t x_stride, uint32_t n, uint32_t k, int8_t *q, float *d,
                          cudaStream_t stream) {
    const uint64_t blocks = uint64_t{n} * (k / 32);
    if (blocks == 0) return;
    launch_pdl("quantize_q8_0_kernel", quantize_q8_0_kernel, dim3(grid_for(blocks, 8)), dim3(256), 0, stream, x, x_stride, n, k, q, d);
    check_launch("quantize_q8_0", stream);
}

void launch_quantize_q8_k(const float *x, uint64_t x_stride, uint32_t n, uint32_t k, int8_t *q, float *d,
                          int32_t *bsums, cudaStream_t stream) {
    const uint64_t blocks = uint64_t{n} * (k / 256);
    if (blocks == 0) return;
    launch_pdl("quantize_q8_k_kernel", quantize_q8_k_kernel, dim3(static_cast<unsigned>(blocks)), dim3(256), 0, stream, x, x_stride, k, q, d, bsums);
    check_launch("quantize_q8_k", stream);
}

}  // namespace dstar::backend::cuda
