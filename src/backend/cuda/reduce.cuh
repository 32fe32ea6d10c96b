// Block reductions with a short critical path for the latency-bound decode kernels (norm.cu,
// hc.cu): one barrier round, after which every warp finishes the sum itself from the
// per-warp partials (no serial loop over 32 partials, no second barrier to broadcast).
// Every warp adds the same partials in the same butterfly order, so all threads get the
// same bits and the result does not depend on timing.
#pragma once

#include "backend/cuda/device.cuh"

namespace dstar::backend::cuda {

// Sum of v over the first `warps` warps of the block (warps <= 32, whole warps only).
// `scratch` holds 32 doubles and must not be in use by another call (callers give each
// call its own array, so no leading barrier is needed).  `bar` is the barrier to use: 0
// (__syncthreads; then warps must be the whole block) or a named barrier id over exactly
// warps * 32 threads (when other warps of the block do something else meanwhile).
__device__ __forceinline__ void named_barrier(int bar, int threads) {
    asm volatile("bar.sync %0, %1;" ::"r"(bar), "r"(threads) : "memory");
}

__device__ __forceinline__ double block_sum_fast(double v, double *scratch, int warps, int bar = 0) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    v = warp_sum(v);
    if (warps == 1) return v;
    if (lane == 0) scratch[warp] = v;
    if (bar == 0) __syncthreads();
    else named_barrier(bar, warps * 32);
    // Adding 0.0 to a partial sum is exact, so the padding lanes change nothing.
    return warp_sum(lane < warps ? scratch[lane] : 0.0);
}

}  // namespace dstar::backend::cuda
