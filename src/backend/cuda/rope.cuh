// RoPE angles on the device, with the CPU reference's float recipe (model/rope.cpp): the
// extrapolated angle of pair j is the position multiplied j times by theta_scale, the YaRN
// blend and magnitude factor come precomputed in the RopeTable.
#pragma once

#include "backend/cuda/device.cuh"
#include "backend/cuda/kernels.h"

namespace dstar::backend::cuda {

// The extrapolated angle of pair j: the position multiplied j times by theta_scale (pair
// j + 1's is pair j's times theta_scale once more: callers doing two pairs chain them).
__device__ __forceinline__ float rope_extrap(const RopeTable &r, uint32_t pos, uint32_t j) {
    float theta_extrap = static_cast<float>(pos);
    for (uint32_t i = 0; i < j; i++) theta_extrap *= r.theta_scale;
    return theta_extrap;
}

// cos and sin (with the magnitude factor) of pair j from its extrapolated angle.
__device__ __forceinline__ void rope_cos_sin_at(const RopeTable &r, float theta_extrap, uint32_t j, bool inverse,
                                                float &c, float &s) {
    const float theta_interp = r.freq_scale * theta_extrap;
    float theta = theta_interp;
    if (r.ext) {
        const float mix = r.ramp_mix[j];
        theta = theta_interp * (1.0f - mix) + theta_extrap * mix;
    }
    c = cosf(theta) * r.mscale;
    s = (inverse ? -1.0f : 1.0f) * sinf(theta) * r.mscale;
}

__device__ __forceinline__ void rope_cos_sin(const RopeTable &r, uint32_t pos, uint32_t j, bool inverse, float &c,
                                             float &s) {
    rope_cos_sin_at(r, rope_extrap(r, pos, j), j, inverse, c, s);
}

// Rotates pair j of a head's tail in place.
__device__ __forceinline__ void rope_pair(float *tail, uint32_t j, float c, float s) {
    const float x0 = tail[2 * j], x1 = tail[2 * j + 1];
    tail[2 * j] = x0 * c - x1 * s;
    tail[2 * j + 1] = x0 * s + x1 * c;
}

// RoPE of float4 number i (elements e = 4i .. 4i + 3) of a head whose last n_rot values
// rotate (pair (e - n_nope) / 2 starts at element e >= n_nope, e even).
__device__ __forceinline__ void rope_quad(float4 &v, uint32_t i, uint32_t n4, uint32_t n_nope, const RopeTable &r,
                                          uint32_t pos, bool inverse) {
    const uint32_t e = 4 * i;
    if (i >= n4 || e + 3 < n_nope) return;
    // Pair jj + 1's angle is pair jj's times theta_scale: one chain of multiplies for both.
    const uint32_t jj = e >= n_nope ? (e - n_nope) / 2 : (e + 2 - n_nope) / 2;
    const float ex = rope_extrap(r, pos, jj);
    if (e >= n_nope) {
        float c0, s0, c1, s1;
        rope_cos_sin_at(r, ex, jj, inverse, c0, s0);
        rope_cos_sin_at(r, ex * r.theta_scale, jj + 1, inverse, c1, s1);
        const float x0 = v.x, x1 = v.y, x2 = v.z, x3 = v.w;
        v.x = x0 * c0 - x1 * s0;
        v.y = x0 * s0 + x1 * c0;
        v.z = x2 * c1 - x3 * s1;
        v.w = x2 * s1 + x3 * c1;
    } else {
        float c, s;
        rope_cos_sin_at(r, ex, jj, inverse, c, s);
        const float x0 = v.z, x1 = v.w;
        v.z = x0 * c - x1 * s;
        v.w = x0 * s + x1 * c;
    }
}

}  // namespace dstar::backend::cuda
