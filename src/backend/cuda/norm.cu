// RMS normalisation, one block per row: the sum of squares in double (as the CPU does, so
// the scale agrees to the last bit in practice), then x * scale (* w).  In place is fine:
// every thread has read its inputs before the block reduction completes.  Also the fused
// per-head norm + RoPE (+ FP8) of the attention's query and KV rows.
#include "backend/cuda/check.h"
#include "backend/cuda/device.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/qat.cuh"
#include "backend/cuda/rope.cuh"
#include "common/error.h"

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

unsigned norm_threads(uint32_t dim) { return dim >= 8192 ? 1024 : (dim >= 2048 ? 256 : (dim >= 512 ? 128 : 64)); }

// One block per (head, token): the head's row in shared memory goes through the norm, the
// rotation of its last n_rot values and the FP8 round trip, with the separate kernels'
// operations (rms_norm_kernel with the same thread count, rope_kernel, fp8_kv_kernel).
__global__ void __launch_bounds__(1024) head_norm_rope_kernel(float *x, const float *w, uint32_t n_head,
                                                             uint32_t head_dim, float eps, RopeTable r, DevPos pos0,
                                                             bool fp8) {
    extern __shared__ float row[];  // [head_dim]
    __shared__ double scratch[32];
    const uint32_t h = blockIdx.x, t = blockIdx.y;
    float *p = x + (uint64_t{t} * n_head + h) * head_dim;
    double ss = 0.0;
    for (uint32_t i = threadIdx.x; i < head_dim; i += blockDim.x) {
        const float v = p[i];
        row[i] = v;
        ss += static_cast<double>(v) * v;
    }
    ss = block_sum(ss, scratch);
    const float scale = 1.0f / sqrtf(static_cast<float>(ss / static_cast<double>(head_dim)) + eps);
    for (uint32_t i = threadIdx.x; i < head_dim; i += blockDim.x) row[i] = w ? row[i] * scale * w[i] : row[i] * scale;
    __syncthreads();
    const uint32_t pos = load_pos(pos0) + t;
    for (uint32_t j = threadIdx.x; j < r.n_rot / 2; j += blockDim.x) {
        float c, s;
        rope_cos_sin(r, pos, j, false, c, s);
        rope_pair(row + head_dim - r.n_rot, j, c, s);
    }
    __syncthreads();
    if (fp8) block_fp8_row(row, head_dim - r.n_rot);
    for (uint32_t i = threadIdx.x; i < head_dim; i += blockDim.x) p[i] = row[i];
}

}  // namespace

void launch_rms_norm(float *out, const float *x, const float *w, uint32_t rows, uint32_t dim, float eps,
                     cudaStream_t stream) {
    if (rows == 0 || dim == 0) return;
    // Long rows (the 16384-wide hyper-connection state) get a whole 1024-thread block:
    // with one row per token, decode has a single block to spread the row over.
    rms_norm_kernel<<<rows, norm_threads(dim), 0, stream>>>(out, x, w, dim, eps);
    check_launch("rms_norm", stream);
}

void launch_head_norm_rope(float *x, const float *w, uint32_t n, uint32_t n_head, uint32_t head_dim, float eps,
                           const RopeTable &rope, DevPos pos0, bool fp8, cudaStream_t stream) {
    if (n == 0 || n_head == 0 || head_dim == 0) return;
    if (rope.n_rot > head_dim || (fp8 && (head_dim - rope.n_rot) % 64 != 0))
        fail("head norm: %u rotated dims do not fit heads of %u values", rope.n_rot, head_dim);
    if (size_t{head_dim} * sizeof(float) > 48 * 1024) fail("head norm: heads of %u values are too long", head_dim);
    // block_fp8_row needs at least 128 threads.
    const unsigned threads = norm_threads(head_dim) < 128 ? 128 : norm_threads(head_dim);
    const dim3 grid(n_head, n);
    head_norm_rope_kernel<<<grid, threads, head_dim * sizeof(float), stream>>>(x, w, n_head, head_dim, eps, rope, pos0,
                                                                              fp8);
    check_launch("head_norm_rope", stream);
}

}  // namespace dstar::backend::cuda
