// RoPE on the last n_rot dims of every head (adjacent pairs), one thread per pair.
#include "backend/cuda/check.h"
#include "backend/cuda/kernels.h"
#include "backend/cuda/rope.cuh"

namespace dstar::backend::cuda {

namespace {

__global__ void rope_kernel(float *x, uint32_t stride, uint32_t head_dim, RopeTable r, DevPos pos0, bool inverse) {
    const uint32_t t = blockIdx.x, h = blockIdx.y, j = threadIdx.x;
    if (j >= r.n_rot / 2) return;
    float c, s;
    rope_cos_sin(r, load_pos(pos0) + t, j, inverse, c, s);
    rope_pair(x + uint64_t{t} * stride + uint64_t{h} * head_dim + (head_dim - r.n_rot), j, c, s);
}

}  // namespace

void launch_rope(float *x, uint32_t n, uint32_t stride, uint32_t n_head, uint32_t head_dim, const RopeTable &rope,
                 DevPos pos0, bool inverse, cudaStream_t stream) {
    if (n == 0 || n_head == 0 || rope.n_rot == 0) return;
    const dim3 grid(n, n_head);
    rope_kernel<<<grid, kMaxRopePairs, 0, stream>>>(x, stride, head_dim, rope, pos0, inverse);
    check_launch("rope", stream);
}

}  // namespace dstar::backend::cuda
