// RMS normalisation, one block per row: the sum of squares in double (as the CPU does, so
// the scale agrees to the last bit in practice), then x * scale (* w).  In place is fine:
// every thread has read its inputs before the block reduction completes.  Also the fused
// per-head norm + RoPE (+ FP8) of the attention's query and KV rows.
//
// Decode runs these on one row (or one token's heads), so they are latency-bound: the fast
// kernels keep the row in registers (16-byte loads, all issued before any arithmetic), sum
// with butterflies and cross warps through one barrier (reduce.cuh), and write once.  The
// generic loop kernels remain for shapes the fast ones do not cover (unaligned or odd rows).
#include "backend/cuda/check.h"
#include "backend/cuda/device.cuh"
#include "backend/cuda/launch.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/qat.cuh"
#include "backend/cuda/reduce.cuh"
#include "backend/cuda/rope.cuh"
#include "common/error.h"

namespace dstar::backend::cuda {

namespace {

__global__ void __launch_bounds__(1024) rms_norm_kernel(float *out, const float *x, const float *w, uint32_t dim,
                                                       float eps) {
    pdl_enter();  // waits for the previous kernel (launch.cuh)
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

// Fast path: one block per row, float4 number i of the row on thread i % blockDim.x (kVec per
// thread); every load of x and w is issued before the first add, so a row costs one memory
// round trip, one butterfly sum and one barrier.  Each thread writes only what it read.
constexpr uint32_t kNormMaxVec = 4;

__device__ __forceinline__ double sq_sum(const float4 &v) {
    double s = static_cast<double>(v.x) * v.x;
    s += static_cast<double>(v.y) * v.y;
    s += static_cast<double>(v.z) * v.z;
    s += static_cast<double>(v.w) * v.w;
    return s;
}

// With q8 (dim a multiple of 32), also the Q8_0 codes and scales of every output row (dim
// codes, dim / 32 scales per row) for a following Q8_0 product: the 8 float4 of a block are
// on 8 aligned lanes of a warp, so the block's max is 3 shuffles (device.cuh, store_q8_0_quad).
template <uint32_t kVec>
__global__ void __launch_bounds__(1024) rms_norm_vec_kernel(float *out, const float *x, const float *w, uint32_t dim,
                                                           float eps, int8_t *q8, float *d8) {
    pdl_enter();  // waits for the previous kernel (launch.cuh)
    __shared__ double scratch[32];
    const uint32_t n4 = dim / 4;
    const float4 *xr = reinterpret_cast<const float4 *>(x + uint64_t{blockIdx.x} * dim);
    float4 *o = reinterpret_cast<float4 *>(out + uint64_t{blockIdx.x} * dim);
    const float4 *w4 = reinterpret_cast<const float4 *>(w);
    const float4 zero = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    float4 v[kVec], wv[kVec];
#pragma unroll
    for (uint32_t j = 0; j < kVec; j++) {
        const uint32_t i = threadIdx.x + j * blockDim.x;
        v[j] = i < n4 ? xr[i] : zero;  // plain loads: x may be out (in place)
        wv[j] = w && i < n4 ? __ldg(w4 + i) : zero;
    }
    double ss = 0.0;
#pragma unroll
    for (uint32_t j = 0; j < kVec; j++) ss += sq_sum(v[j]);
    ss = block_sum_fast(ss, scratch, static_cast<int>(blockDim.x >> 5));
    const float scale = 1.0f / sqrtf(static_cast<float>(ss / static_cast<double>(dim)) + eps);
#pragma unroll
    for (uint32_t j = 0; j < kVec; j++) {
        const uint32_t i = threadIdx.x + j * blockDim.x;
        float4 r;
        if (w) {
            r = make_float4(v[j].x * scale * wv[j].x, v[j].y * scale * wv[j].y, v[j].z * scale * wv[j].z,
                            v[j].w * scale * wv[j].w);
        } else {
            r = make_float4(v[j].x * scale, v[j].y * scale, v[j].z * scale, v[j].w * scale);
        }
        if (i < n4) o[i] = r;
        // Every lane reaches the shuffles (blockDim is a multiple of 32).
        if (q8) store_q8_0_quad(r, i < n4, i, q8 + uint64_t{blockIdx.x} * dim, d8 + uint64_t{blockIdx.x} * (dim / 32));
    }
}

bool aligned16(const void *p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

unsigned norm_threads(uint32_t dim) { return dim >= 8192 ? 1024 : (dim >= 2048 ? 256 : (dim >= 512 ? 128 : 64)); }

// One block per (head, token): the head's row in shared memory goes through the norm, the
// rotation of its last n_rot values and the FP8 round trip, with the separate kernels'
// operations (rms_norm_kernel with the same thread count, rope_kernel, fp8_kv_kernel).
__global__ void __launch_bounds__(1024) head_norm_rope_kernel(float *x, const float *w, uint32_t n_head,
                                                             uint32_t head_dim, float eps, RopeTable r, DevPos pos0,
                                                             bool fp8) {
    pdl_enter();  // waits for the previous kernel (launch.cuh)
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

// Fast path of the above: one warp per (head, token), heads of at most 128 * kVec values.
// Lane l holds float4 number l + 32 j of the head (j < kVec), all loads issued first.  The
// norm sums with butterflies (no barrier); a lane rotates the tail pairs it holds (pair
// (e - n_nope) / 2 starting at element e); the FP8 64-blocks of the first n_nope values are
// the aligned half-warps of a 128-value chunk, so a block maximum is 4 butterfly steps (max
// is exact in any order).  The per-value operations are those of the generic kernel.
constexpr uint32_t kHeadMaxVec = 4;
constexpr uint32_t kHeadsPerBlock = 4;

// FP8 round trip of 4 values of a 64-block of largest magnitude amax: fp8_block_value's
// operations with the block scale (a double log2, the slow part) formed once, not per value.
__device__ __forceinline__ float4 fp8_quad(const float4 &v, float amax) {
    const float sc = shared::fp8_block_scale(amax);
    return make_float4(shared::fp8_round_value(v.x, sc), shared::fp8_round_value(v.y, sc),
                       shared::fp8_round_value(v.z, sc), shared::fp8_round_value(v.w, sc));
}

template <uint32_t kVec>
__global__ void __launch_bounds__(32 * kHeadsPerBlock) head_norm_rope_warp_kernel(float *x, const float *w,
                                                                                 uint32_t n_head, uint32_t head_dim,
                                                                                 float eps, RopeTable r, DevPos pos0,
                                                                                 bool fp8) {
    pdl_enter();  // waits for the previous kernel (launch.cuh)
    const uint32_t lane = threadIdx.x & 31;
    const uint32_t h = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), t = blockIdx.y;
    if (h >= n_head) return;  // whole warps, and no block barrier below
    float4 *p = reinterpret_cast<float4 *>(x + (uint64_t{t} * n_head + h) * head_dim);
    const float4 *w4 = reinterpret_cast<const float4 *>(w);
    const uint32_t n4 = head_dim / 4, n_nope = head_dim - r.n_rot;
    const uint32_t pos = load_pos(pos0) + t;
    const float4 zero = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    float4 v[kVec], wv[kVec];
#pragma unroll
    for (uint32_t j = 0; j < kVec; j++) {
        const uint32_t i = lane + 32 * j;
        v[j] = i < n4 ? p[i] : zero;
        wv[j] = w && i < n4 ? __ldg(w4 + i) : zero;
    }
    double ss = 0.0;
#pragma unroll
    for (uint32_t j = 0; j < kVec; j++) ss += sq_sum(v[j]);
    ss = warp_sum(ss);
    const float scale = 1.0f / sqrtf(static_cast<float>(ss / static_cast<double>(head_dim)) + eps);
#pragma unroll
    for (uint32_t j = 0; j < kVec; j++) {
        if (w) {
            v[j] = make_float4(v[j].x * scale * wv[j].x, v[j].y * scale * wv[j].y, v[j].z * scale * wv[j].z,
                               v[j].w * scale * wv[j].w);
        } else {
            v[j] = make_float4(v[j].x * scale, v[j].y * scale, v[j].z * scale, v[j].w * scale);
        }
    }
    // RoPE: elements e, e + 1 (e even, e >= n_nope) form pair (e - n_nope) / 2.
#pragma unroll
    for (uint32_t j = 0; j < kVec; j++) rope_quad(v[j], lane + 32 * j, n4, n_nope, r, pos, false);
    if (fp8) {
#pragma unroll
        for (uint32_t j = 0; j < kVec; j++) {
            // Every lane takes part in the butterflies; lanes past the head hold zeros.
            float m = fmaxf(fmaxf(fabsf(v[j].x), fabsf(v[j].y)), fmaxf(fabsf(v[j].z), fabsf(v[j].w)));
#pragma unroll
            for (int o = 8; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(kFullMask, m, o));
            if (4 * (lane + 32 * j) < n_nope)  // the whole 64-block is below n_nope (n_nope % 64 == 0)
                v[j] = fp8_quad(v[j], m);
        }
    }
#pragma unroll
    for (uint32_t j = 0; j < kVec; j++) {
        const uint32_t i = lane + 32 * j;
        if (i < n4) p[i] = v[j];
    }
}

// The warp kernel's work spread over a block per (head, token): warp j holds float4
// number lane + 32 j (the warp kernel's v[j] of that lane), so a lane loads, rotates and
// rounds one float4 instead of up to 4 in a row (the KV head: 4 warps instead of 1).  The
// sum of squares stays the warp kernel's: each lane adds its float4s' sums in j order through
// shared memory (one barrier), then every warp runs the same butterfly.  Bit-identical.
__global__ void __launch_bounds__(32 * kHeadMaxVec) head_norm_rope_split_kernel(float *x, const float *w,
                                                                              uint32_t n_head, uint32_t head_dim,
                                                                              float eps, RopeTable r, DevPos pos0,
                                                                              bool fp8) {
    pdl_enter();  // waits for the previous kernel (launch.cuh)
    __shared__ double s_sq[kHeadMaxVec][32];
    const uint32_t lane = threadIdx.x & 31, j = threadIdx.x >> 5, warps = blockDim.x >> 5;
    const uint32_t h = blockIdx.x, t = blockIdx.y, i = threadIdx.x;  // i = lane + 32 j
    float4 *p = reinterpret_cast<float4 *>(x + (uint64_t{t} * n_head + h) * head_dim);
    const uint32_t n4 = head_dim / 4, n_nope = head_dim - r.n_rot;
    const float4 zero = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    float4 v = i < n4 ? p[i] : zero;
    const float4 wv = w && i < n4 ? __ldg(reinterpret_cast<const float4 *>(w) + i) : zero;
    const uint32_t pos = load_pos(pos0) + t;
    s_sq[j][lane] = sq_sum(v);
    __syncthreads();
    double ss = 0.0;
    for (uint32_t k = 0; k < warps; k++) ss += s_sq[k][lane];
    ss = warp_sum(ss);
    const float scale = 1.0f / sqrtf(static_cast<float>(ss / static_cast<double>(head_dim)) + eps);
    if (w) v = make_float4(v.x * scale * wv.x, v.y * scale * wv.y, v.z * scale * wv.z, v.w * scale * wv.w);
    else v = make_float4(v.x * scale, v.y * scale, v.z * scale, v.w * scale);
    rope_quad(v, i, n4, n_nope, r, pos, false);
    if (fp8) {
        // Every lane takes part in the butterflies; lanes past the head hold zeros.
        float m = fmaxf(fmaxf(fabsf(v.x), fabsf(v.y)), fmaxf(fabsf(v.z), fabsf(v.w)));
#pragma unroll
        for (int o = 8; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(kFullMask, m, o));
        if (4 * i < n_nope) v = fp8_quad(v, m);  // the whole 64-block is below n_nope (n_nope % 64 == 0)
    }
    if (i < n4) p[i] = v;
}


}  // namespace

bool rms_norm_q8_supported(const float *x, const float *out, const float *w, uint32_t dim) {
    return dim % 32 == 0 && dim / 4 <= 1024 * kNormMaxVec && aligned16(x) && aligned16(out) && (!w || aligned16(w));
}

void launch_rms_norm(float *out, const float *x, const float *w, uint32_t rows, uint32_t dim, float eps,
                     cudaStream_t stream, int8_t *q8, float *d8) {
    if (rows == 0 || dim == 0) return;
    if (q8 && !rms_norm_q8_supported(x, out, w, dim)) fail("RMS norm with Q8_0 codes: unsupported row of %u", dim);
    const uint32_t n4 = dim / 4;
    if (dim % 4 == 0 && n4 <= 1024 * kNormMaxVec && aligned16(x) && aligned16(out) && (!w || aligned16(w))) {
        // A thread per float4 up to 1024 threads, then 2 or 4 float4 per thread (the
        // 16384-wide hyper-connection state: one 1024-thread block, 16 values per thread).
        const uint32_t threads = n4 >= 1024 ? 1024 : (n4 + 31) / 32 * 32;
        const uint32_t vec = (n4 + threads - 1) / threads;
        if (vec <= 1) launch_pdl("rms_norm_vec_kernel", rms_norm_vec_kernel<1>, dim3(rows), dim3(threads), 0, stream, out, x, w, dim, eps, q8, d8);
        else if (vec <= 2) launch_pdl("rms_norm_vec_kernel", rms_norm_vec_kernel<2>, dim3(rows), dim3(threads), 0, stream, out, x, w, dim, eps, q8, d8);
        else launch_pdl("rms_norm_vec_kernel", rms_norm_vec_kernel<4>, dim3(rows), dim3(threads), 0, stream, out, x, w, dim, eps, q8, d8);
        check_launch("rms_norm", stream);
        return;
    }
    // Long rows get a whole 1024-thread block: with one row per token, decode has a single
    // block to spread the row over.
    launch_pdl("rms_norm_kernel", rms_norm_kernel, dim3(rows), dim3(norm_threads(dim)), 0, stream, out, x, w, dim, eps);
    check_launch("rms_norm", stream);
}

void launch_head_norm_rope(float *x, const float *w, uint32_t n, uint32_t n_head, uint32_t head_dim, float eps,
                           const RopeTable &rope, DevPos pos0, bool fp8, cudaStream_t stream) {
    if (n == 0 || n_head == 0 || head_dim == 0) return;
    if (rope.n_rot > head_dim || (fp8 && (head_dim - rope.n_rot) % 64 != 0))
        fail("head norm: %u rotated dims do not fit heads of %u values", rope.n_rot, head_dim);
    if (head_dim % 4 == 0 && rope.n_rot % 2 == 0 && head_dim <= 128 * kHeadMaxVec && aligned16(x) &&
        (!w || aligned16(w))) {
        if (cuda_switch("DSTAR_CUDA_HEAD_SPLIT")) {
            // A block per head, a warp per 128 values (the model: 64 query heads of 512 -> 64
            // blocks of 4 warps; the KV head -> 1 block of 4 warps).
            const dim3 grid(n_head, n);
            const unsigned threads = (head_dim / 4 + 31) / 32 * 32;
            launch_pdl("head_norm_rope_split_kernel", head_norm_rope_split_kernel, dim3(grid), dim3(threads), 0, stream, x, w, n_head, head_dim, eps, rope, pos0, fp8);
            check_launch("head_norm_rope", stream);
            return;
        }
        // A warp per head (the model: 64 query heads of 512 -> 16 blocks; the KV head -> 1).
        const uint32_t per_block = n_head < kHeadsPerBlock ? n_head : kHeadsPerBlock;
        const dim3 grid((n_head + per_block - 1) / per_block, n);
        const unsigned threads = 32 * per_block;
        if (head_dim <= 128)
            launch_pdl("head_norm_rope_warp_kernel", head_norm_rope_warp_kernel<1>, dim3(grid), dim3(threads), 0, stream, x, w, n_head, head_dim, eps, rope, pos0, fp8);
        else if (head_dim <= 256)
            launch_pdl("head_norm_rope_warp_kernel", head_norm_rope_warp_kernel<2>, dim3(grid), dim3(threads), 0, stream, x, w, n_head, head_dim, eps, rope, pos0, fp8);
        else
            launch_pdl("head_norm_rope_warp_kernel", head_norm_rope_warp_kernel<4>, dim3(grid), dim3(threads), 0, stream, x, w, n_head, head_dim, eps, rope, pos0, fp8);
        check_launch("head_norm_rope", stream);
        return;
    }
    if (size_t{head_dim} * sizeof(float) > 48 * 1024) fail("head norm: heads of %u values are too long", head_dim);
    // block_fp8_row needs at least 128 threads.
    const unsigned threads = norm_threads(head_dim) < 128 ? 128 : norm_threads(head_dim);
    const dim3 grid(n_head, n);
    launch_pdl("head_norm_rope_kernel", head_norm_rope_kernel, dim3(grid), dim3(threads), head_dim * sizeof(float), stream, x, w, n_head, head_dim, eps, rope, pos0,
                                                                              fp8);
    check_launch("head_norm_rope", stream);
}

}  // namespace dstar::backend::cuda
