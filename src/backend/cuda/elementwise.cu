// Token embedding (any weight type, dequantized with the CPU reference's float recipe,
// quant/dequant.cpp) and the small elementwise ops: scale, add, clamped SwiGLU.
#include "backend/cuda/check.h"
#include "backend/cuda/launch.cuh"
#include "backend/cuda/dot.cuh"
#include "backend/cuda/kernels.h"
#include "backend/shared/activation.h"

namespace dstar::backend::cuda {

namespace {

// Element i of row `row`, exactly as quant::dequantize_row computes it.
__device__ float dequant_elem(const DevWeight &w, uint64_t row, uint32_t i) {
    const uint8_t *m = w.main + row * w.main_row;
    const uint32_t b = i / 256, j = i % 256;
    switch (w.type) {
    case WType::F32: return reinterpret_cast<const float *>(m)[i];
    case WType::F16: return half_bits_to_float(reinterpret_cast<const uint16_t *>(m)[i]);
    case WType::BF16: return bf16_bits_to_float(reinterpret_cast<const uint16_t *>(m)[i]);
    case WType::Q8_0: {
        const float d = half_bits_to_float(reinterpret_cast<const uint16_t *>(w.side + row * w.side_row)[i / 32]);
        return d * static_cast<float>(static_cast<int8_t>(m[i]));
    }
    case WType::Q2_K: {
        const uint8_t *blk = m + b * 80ull;  // qs[64], scales[16]
        const uint32_t h = j / 128, jj = (j % 128) / 32, l = j % 32;
        const int q = (blk[32 * h + l] >> (2 * jj)) & 3;
        const uint8_t sc = blk[64 + 8 * h + 2 * jj + (l >= 16 ? 1 : 0)];
        const uint16_t *dm = reinterpret_cast<const uint16_t *>(w.side + row * w.side_row) + 2 * b;
        const float dl = half_bits_to_float(dm[0]) * static_cast<float>(sc & 15);
        const float ml = half_bits_to_float(dm[1]) * static_cast<float>(sc >> 4);
        return dl * static_cast<float>(q) - ml;
    }
    case WType::Q4_K: {
        const uint8_t *blk = m + b * 144ull;
        const uint4 hdr = *reinterpret_cast<const uint4 *>(blk);
        const uint32_t g = j / 64, u = j % 64;
        int sc, mn;
        detail::q4k_scale_min(hdr, static_cast<int>(2 * g + (u >= 32 ? 1 : 0)), sc, mn);
        const uint8_t qb = blk[16 + 32 * g + u % 32];
        const int q = u < 32 ? (qb & 15) : (qb >> 4);
        const float d1 = half_bits_to_float(static_cast<uint16_t>(hdr.x & 0xffffu)) * static_cast<float>(sc);
        const float m1 = half_bits_to_float(static_cast<uint16_t>(hdr.x >> 16)) * static_cast<float>(mn);
        return d1 * static_cast<float>(q) - m1;
    }
    case WType::IQ2_XXS: {
        const uint8_t *grp = m + b * 64ull + (j / 32) * 8;
        const uint32_t bits = *reinterpret_cast<const uint32_t *>(grp + 4);
        const float d = half_bits_to_float(reinterpret_cast<const uint16_t *>(w.side + row * w.side_row)[b]);
        const float db = d * (0.5f + static_cast<float>(bits >> 28)) * 0.25f;
        const uint32_t l = (j % 32) / 8, k = j % 8;
        const uint64_t grid = w.iq2_grid[grp[l]];
        const float mag = static_cast<float>((grid >> (8 * k)) & 0xffu);
        const uint32_t signs = detail::iq2_signs((bits >> (7 * l)) & 127u);
        return db * mag * ((signs >> k) & 1u ? -1.0f : 1.0f);
    }
    default: return 0.0f;
    }
}

// One thread per (element, token), 256 elements per block: a row is spread over d / 256
// blocks instead of looped over by one (decode embeds a single token).
__global__ void __launch_bounds__(256) embed_kernel(DevWeight table, const int32_t *tokens, uint32_t n_hc,
                                                    float *x_hc) {
    pdl_enter();  // waits for the previous kernel (launch.cuh)
    const uint64_t t = blockIdx.y;
    const uint32_t d = table.k, i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= d) return;
    const uint64_t row = static_cast<uint64_t>(tokens[t]);
    float *dst = x_hc + t * n_hc * d;
    const float v = dequant_elem(table, row, i);
    for (uint32_t h = 0; h < n_hc; h++) dst[uint64_t{h} * d + i] = v;
}

__global__ void scale_kernel(float *x, float s, size_t n) {
    pdl_enter();  // waits for the previous kernel (launch.cuh)
    for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n; i += size_t{gridDim.x} * blockDim.x) x[i] *= s;
}

__global__ void add_kernel(float *out, const float *a, const float *b, size_t n) {
    pdl_enter();  // waits for the previous kernel (launch.cuh)
    for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n; i += size_t{gridDim.x} * blockDim.x)
        out[i] = a[i] + b[i];
}

__global__ void swiglu_kernel(float *out, const float *g, const float *u, size_t n, float clamp) {
    pdl_enter();  // waits for the previous kernel (launch.cuh)
    for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n; i += size_t{gridDim.x} * blockDim.x)
        out[i] = shared::clamped_swiglu(g[i], u[i], clamp);
}

unsigned elementwise_grid(size_t n) {
    const unsigned g = grid_for(n, 256);
    return g < 8192 ? g : 8192;
}

}  // namespace

void launch_embed(const DevWeight &table, const int32_t *tokens, uint32_t n, uint32_t n_hc, float *x_hc,
                  cudaStream_t stream) {
    if (n == 0) return;
    const dim3 grid(grid_for(table.k, 256), n);
    launch_pdl("embed_kernel", embed_kernel, dim3(grid), dim3(256), 0, stream, table, tokens, n_hc, x_hc);
    check_launch("embed", stream);
}

void launch_scale(float *x, float s, size_t n, cudaStream_t stream) {
    if (n == 0) return;
    launch_pdl("scale_kernel", scale_kernel, dim3(elementwise_grid(n)), dim3(256), 0, stream, x, s, n);
    check_launch("scale", stream);
}

void launch_add(float *out, const float *a, const float *b, size_t n, cudaStream_t stream) {
    if (n == 0) return;
    launch_pdl("add_kernel", add_kernel, dim3(elementwise_grid(n)), dim3(256), 0, stream, out, a, b, n);
    check_launch("add", stream);
}

void launch_swiglu(float *out, const float *g, const float *u, size_t n, float clamp, cudaStream_t stream) {
    if (n == 0) return;
    launch_pdl("swiglu_kernel", swiglu_kernel, dim3(elementwise_grid(n)), dim3(256), 0, stream, out, g, u, n, clamp);
    check_launch("swiglu", stream);
}

}  // namespace dstar::backend::cuda
