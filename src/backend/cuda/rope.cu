// RoPE on the last n_rot dims of every head (adjacent pairs), one thread per pair; or, for
// a product's input, on whole heads with the rows' Q8_0 codes.
#include "backend/cuda/check.h"
#include "backend/cuda/device.cuh"
#include "backend/cuda/launch.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/rope.cuh"
#include "common/error.h"

namespace dstar::backend::cuda {

namespace {

// Rotates pair j of a head's rotated tail for position `pos`; the pair is loaded before the
// angle is worked out, so its memory latency overlaps that work.
__device__ __forceinline__ void rope_pair(float *tail, uint32_t j, const RopeTable &r, uint32_t pos, bool inverse) {
    const float x0 = tail[2 * j], x1 = tail[2 * j + 1];
    float c, s;
    rope_cos_sin(r, pos, j, inverse, c, s);
    tail[2 * j] = x0 * c - x1 * s;
    tail[2 * j + 1] = x0 * s + x1 * c;
}

__global__ void rope_kernel(float *x, uint32_t stride, uint32_t head_dim, RopeTable r, DevPos pos0, bool inverse) {
    pdl_enter();  // waits for the previous kernel (launch.cuh)
    const uint32_t t = blockIdx.x, h = blockIdx.y, j = threadIdx.x;
    if (j >= r.n_rot / 2) return;
    rope_pair(x + uint64_t{t} * stride + uint64_t{h} * head_dim + (head_dim - r.n_rot), j, r, load_pos(pos0) + t, inverse);
}

// Batches with n_rot / 2 <= 32: a warp per (token, head), 8 per block, so a prefill chunk is
// a few thousand blocks instead of one 32-thread block per head and token.  The same
// operations per pair as rope_kernel.
__global__ void __launch_bounds__(256) rope_warp_kernel(float *x, uint32_t n, uint32_t n_head, uint32_t stride,
                                                        uint32_t head_dim, RopeTable r, DevPos pos0, bool inverse) {
    pdl_enter();  // waits for the previous kernel (launch.cuh)
    const uint64_t p = uint64_t{blockIdx.x} * 8 + threadIdx.x / 32;
    const uint32_t j = threadIdx.x & 31;
    if (p >= uint64_t{n} * n_head || j >= r.n_rot / 2) return;
    const uint32_t t = static_cast<uint32_t>(p / n_head), h = static_cast<uint32_t>(p % n_head);
    rope_pair(x + uint64_t{t} * stride + uint64_t{h} * head_dim + (head_dim - r.n_rot), j, r, load_pos(pos0) + t, inverse);
}

// RoPE with the Q8_0 codes of the whole rows (a producer-side quantization: the inverse
// rotation of the attention output feeds the grouped Q8_0 output product, which would
// otherwise quantize it in a launch of its own).  A block per (head, token), float4 i of the
// head on thread i: head_dim % 32 == 0, so each 32-value block is on 8 aligned lanes
// (store_q8_0_quad).  The rotation is rope_kernel's (pair j + 1's extrapolated angle is pair
// j's times theta_scale, the same multiplies as rope_extrap), the codes quantize_q8_0's.
__global__ void __launch_bounds__(1024) rope_q8_kernel(float *x, uint32_t n_head, uint32_t head_dim, RopeTable r,
                                                      DevPos pos0, bool inverse, int8_t *q8, float *d8) {
    pdl_enter();  // waits for the previous kernel (launch.cuh)
    const uint32_t h = blockIdx.x, t = blockIdx.y, i = threadIdx.x;
    const uint32_t n4 = head_dim / 4, n_nope = head_dim - r.n_rot;
    const uint64_t row = uint64_t{n_head} * head_dim;
    float4 *p = reinterpret_cast<float4 *>(x + t * row + uint64_t{h} * head_dim);
    const bool valid = i < n4;
    float4 v = valid ? p[i] : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    rope_quad(v, i, n4, n_nope, r, load_pos(pos0) + t, inverse);
    if (valid && 4 * i + 3 >= n_nope) p[i] = v;  // the unrotated values stay as they are
    store_q8_0_quad(v, valid, uint64_t{h} * n4 + i, q8 + t * row, d8 + t * (row / 32));
}

}  // namespace

bool rope_q8_supported(const float *x, uint32_t stride, uint32_t n_head, uint32_t head_dim, const RopeTable &rope) {
    return stride == n_head * head_dim && head_dim % 32 == 0 && head_dim / 4 <= 1024 && rope.n_rot % 2 == 0 &&
           rope.n_rot <= head_dim && (reinterpret_cast<uintptr_t>(x) & 15u) == 0;
}

void launch_rope_q8(float *x, uint32_t n, uint32_t n_head, uint32_t head_dim, const RopeTable &rope, DevPos pos0,
                    bool inverse, int8_t *q8, float *d8, cudaStream_t stream) {
    if (n == 0 || n_head == 0) return;
    if (!rope_q8_supported(x, n_head * head_dim, n_head, head_dim, rope)) fail("RoPE with Q8_0 codes: unsupported heads of %u", head_dim);
    const dim3 grid(n_head, n);
    const unsigned threads = (head_dim / 4 + 31) / 32 * 32;  // whole warps for the shuffles
    launch_pdl("rope_q8_kernel", rope_q8_kernel, dim3(grid), dim3(threads), 0, stream, x, n_head, head_dim, rope, pos0, inverse, q8, d8);
    check_launch("rope_q8", stream);
}

void launch_rope(float *x, uint32_t n, uint32_t stride, uint32_t n_head, uint32_t head_dim, const RopeTable &rope,
                 DevPos pos0, bool inverse, cudaStream_t stream) {
    if (n == 0 || n_head == 0 || rope.n_rot == 0) return;
    if (n > 1 && rope.n_rot <= 64) {
        launch_pdl("rope_warp_kernel", rope_warp_kernel, dim3(grid_for(uint64_t{n} * n_head, 8)), dim3(256), 0, stream,
                   x, n, n_head, stride, head_dim, rope, pos0, inverse);
        check_launch("rope", stream);
        return;
    }
    const dim3 grid(n, n_head);
    const unsigned threads = (rope.n_rot / 2 + 31) / 32 * 32;  // whole warps, no idle ones
    launch_pdl("rope_kernel", rope_kernel, dim3(grid), dim3(threads ? threads : 32), 0, stream, x, stride, head_dim, rope, pos0, inverse);
    check_launch("rope", stream);
}

}  // namespace dstar::backend::cuda
