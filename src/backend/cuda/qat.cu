// QAT ops: FP8 round trip of KV rows, Hadamard + FP4 of indexer rows (qat.cuh).
#include "backend/cuda/check.h"
#include "backend/cuda/launch.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/qat.cuh"

namespace dstar::backend::cuda {

namespace {

// One block of 64 threads per (row, 64-block).
__global__ void __launch_bounds__(64) fp8_kv_kernel(float *x, uint32_t head_dim) {
    pdl_enter();  // waits for the previous kernel (launch.cuh)
    __shared__ float warp_amax[2];
    float *p = x + uint64_t{blockIdx.y} * head_dim + blockIdx.x * 64;
    const int tid = threadIdx.x;
    const float v = p[tid];
    const float m = warp_max(fabsf(v));
    if ((tid & 31) == 0) warp_amax[tid >> 5] = m;
    __syncthreads();
    p[tid] = fp8_block_value(v, fmaxf(warp_amax[0], warp_amax[1]));
}

__global__ void __launch_bounds__(128) indexer_qat_kernel(float *x) {
    pdl_enter();  // waits for the previous kernel (launch.cuh)
    __shared__ float row[128];
    float *p = x + uint64_t{blockIdx.x} * 128;
    row[threadIdx.x] = p[threadIdx.x];
    block_indexer_qat_row(row);
    p[threadIdx.x] = row[threadIdx.x];
}

}  // namespace

void launch_fp8_kv_round(float *x, uint32_t rows, uint32_t head_dim, uint32_t n_nope, cudaStream_t stream) {
    if (rows == 0 || n_nope < 64) return;
    const dim3 grid(n_nope / 64, rows);
    launch_pdl("fp8_kv_kernel", fp8_kv_kernel, dim3(grid), dim3(64), 0, stream, x, head_dim);
    check_launch("fp8_kv_round", stream);
}

void launch_indexer_qat(float *x, uint32_t rows, cudaStream_t stream) {
    if (rows == 0) return;
    launch_pdl("indexer_qat_kernel", indexer_qat_kernel, dim3(rows), dim3(128), 0, stream, x);
    check_launch("indexer_qat", stream);
}

}  // namespace dstar::backend::cuda
