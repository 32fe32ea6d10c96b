// RoPE on the last n_rot dims of every head (adjacent pairs), one thread per pair.
#include "backend/cuda/check.h"
#include "backend/cuda/launch.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/rope.cuh"

namespace dstar::backend::cuda {

namespace {

// The pair is loaded before the position and the angle are worked out, so its memory
// latency overlaps theirs instead of following them.
__global__ void rope_kernel(float *x, uint32_t stride, uint32_t head_dim, RopeTable r, DevPos pos0, bool inverse) {
    pdl_enter();  // waits for the previous kernel (launch.cuh)
    const uint32_t t = blockIdx.x, h = blockIdx.y, j = threadIdx.x;
    if (j >= r.n_rot / 2) return;
    float *tail = x + uint64_t{t} * stride + uint64_t{h} * head_dim + (head_dim - r.n_rot);
    const float x0 = tail[2 * j], x1 = tail[2 * j + 1];
    float c, s;
    rope_cos_sin(r, load_pos(pos0) + t, j, inverse, c, s);
    tail[2 * j] = x0 * c - x1 * s;
    tail[2 * j + 1] = x0 * s + x1 * c;
}

}  // namespace

void launch_rope(float *x, uint32_t n, uint32_t stride, uint32_t n_head, uint32_t head_dim, const RopeTable &rope,
                 DevPos pos0, bool inverse, cudaStream_t stream) {
    if (n == 0 || n_head == 0 || rope.n_rot == 0) return;
    const dim3 grid(n, n_head);
    const unsigned threads = (rope.n_rot / 2 + 31) / 32 * 32;  // whole warps, no idle ones
    launch_pdl("rope_kernel", rope_kernel, dim3(grid), dim3(threads ? threads : 32), 0, stream, x, stride, head_dim, rope, pos0, inverse);
    check_launch("rope", stream);
}

}  // namespace dstar::backend::cuda
