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

// Batches (prefill): one thread per float4, 8 threads per 32-value block, 16-byte loads and
// 4-byte code stores (the per-value formulas of store_q8_0_quad, the same as the kernel
// above: identical codes and scales).  Rows must start 16-byte aligned.
__global__ void __launch_bounds__(256) quantize_q8_0_quad_kernel(const float *x, uint64_t x_stride, uint32_t n,
                                                                 uint32_t k, int8_t *q, float *d) {
    pdl_enter();  // waits for the previous kernel (launch.cuh)
    const uint32_t quads = k / 4;
    const uint64_t g = uint64_t{blockIdx.x} * blockDim.x + threadIdx.x;
    const bool valid = g < uint64_t{n} * quads;  // the same across each group of 8 (quads % 8 == 0)
    const uint64_t t = valid ? g / quads : 0, i = valid ? g % quads : 0;
    const float4 v = valid ? *reinterpret_cast<const float4 *>(x + t * x_stride + 4 * i) : make_float4(0, 0, 0, 0);
    store_q8_0_quad(v, valid, i, q + t * k, d + t * (k / 32));
}

// Batches: one warp per 256-value block, 8 values per lane (two 16-byte loads): the same
// largest-magnitude element (first on ties, NaN never) and per-value formulas as
// quantize_q8_k_kernel, so identical codes, scales and sums.  Rows 16-byte aligned.
__global__ void __launch_bounds__(256) quantize_q8_k_warp_kernel(const float *x, uint64_t x_stride, uint32_t n,
                                                                 uint32_t k, int8_t *q, float *d, int32_t *bsums) {
    pdl_enter();  // waits for the previous kernel (launch.cuh)
    const uint32_t nb = k / 256;
    const uint64_t blk = uint64_t{blockIdx.x} * 8 + threadIdx.x / 32;
    if (blk >= uint64_t{n} * nb) return;  // whole warps leave together
    const int lane = threadIdx.x & 31;
    const uint64_t t = blk / nb, b = blk % nb;
    const float *src = x + t * x_stride + b * 256 + lane * 8;
    const float4 a = *reinterpret_cast<const float4 *>(src), c4 = *reinterpret_cast<const float4 *>(src + 4);
    const float v[8] = {a.x, a.y, a.z, a.w, c4.x, c4.y, c4.z, c4.w};
    float best = -1.0f;
    int32_t at = -1;
#pragma unroll
    for (int j = 0; j < 8; j++) {
        const float ax = isnan(v[j]) ? -1.0f : fabsf(v[j]);
        if (at < 0 || ax > best) {
            best = ax;
            at = lane * 8 + j;
        }
    }
    warp_argmax_lowest(best, at);
    float iscale = 0.0f, scale = 0.0f;
    if (best > 0.0f) {
        iscale = -127.0f / x[t * x_stride + b * 256 + at];
        scale = 1.0f / iscale;
    }
    char4 lo, hi;
    int sum = 0;
    if (best > 0.0f) {
        lo = make_char4(quant_code(iscale * v[0]), quant_code(iscale * v[1]), quant_code(iscale * v[2]),
                        quant_code(iscale * v[3]));
        hi = make_char4(quant_code(iscale * v[4]), quant_code(iscale * v[5]), quant_code(iscale * v[6]),
                        quant_code(iscale * v[7]));
        sum = lo.x + lo.y + lo.z + lo.w + hi.x + hi.y + hi.z + hi.w;
    } else {
        lo = hi = make_char4(0, 0, 0, 0);
    }
    int8_t *dst = q + t * k + b * 256 + lane * 8;
    *reinterpret_cast<char4 *>(dst) = lo;
    *reinterpret_cast<char4 *>(dst + 4) = hi;
    sum = group_sum<2>(sum);  // 16 codes: this lane's and its neighbour's
    if ((lane & 1) == 0) bsums[t * (k / 16) + b * 16 + lane / 2] = sum;
    if (lane == 0) d[t * nb + b] = scale;
}

bool rows_aligned16(const float *x, uint64_t x_stride) {
    return (reinterpret_cast<uintptr_t>(x) & 15u) == 0 && x_stride % 4 == 0;
}

}  // namespace

void launch_quantize_q8_0(const float *x, uint64_t x_stride, uint32_t n, uint32_t k, int8_t *q, float *d,
                          cudaStream_t stream) {
    const uint64_t blocks = uint64_t{n} * (k / 32);
    if (blocks == 0) return;
    if (n > 1 && k % 32 == 0 && rows_aligned16(x, x_stride)) {
        launch_pdl("quantize_q8_0_quad_kernel", quantize_q8_0_quad_kernel, dim3(grid_for(uint64_t{n} * (k / 4), 256)),
                   dim3(256), 0, stream, x, x_stride, n, k, q, d);
    } else {
        launch_pdl("quantize_q8_0_kernel", quantize_q8_0_kernel, dim3(grid_for(blocks, 8)), dim3(256), 0, stream, x,
                   x_stride, n, k, q, d);
    }
    check_launch("quantize_q8_0", stream);
}

void launch_quantize_q8_k(const float *x, uint64_t x_stride, uint32_t n, uint32_t k, int8_t *q, float *d,
                          int32_t *bsums, cudaStream_t stream) {
    const uint64_t blocks = uint64_t{n} * (k / 256);
    if (blocks == 0) return;
    if (n > 1 && rows_aligned16(x, x_stride)) {
        launch_pdl("quantize_q8_k_warp_kernel", quantize_q8_k_warp_kernel, dim3(grid_for(blocks, 8)), dim3(256), 0,
                   stream, x, x_stride, n, k, q, d, bsums);
    } else {
        launch_pdl("quantize_q8_k_kernel", quantize_q8_k_kernel, dim3(static_cast<unsigned>(blocks)), dim3(256), 0,
                   stream, x, x_stride, k, q, d, bsums);
    }
    check_launch("quantize_q8_k", stream);
}

}  // namespace dstar::backend::cuda
