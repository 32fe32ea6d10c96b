// Batched products of F16 / BF16 weights with f32 activations on tensor cores (prefill).
// The weights enter the mma unchanged (exact).  Each activation is split into two halves of
// the weight's type, x = hi + lo (hi = x rounded, lo = the rounding error rounded), and both
// parts are multiplied: the products then carry about 22 (f16) or 16 (bf16) bits of the
// activation instead of 11 / 8, so prefill agrees with the f32 decode path and the CPU
// reference to f32 summation-order noise (the router, compressors and indexer that use these
// weights make discrete choices, which small errors would flip).  Products accumulate in
// f32.  The inputs of these matmuls in the model are all RMS-normalised vectors (HC mixes,
// compressors, indexer, router), well inside f16 range.
//
// Tile: 64 weight rows x 64 tokens per block of 4 warps (2 x 2, 32 x 32 each), 32 elements
// of K per step.
#include "backend/cuda/check.h"
#include "backend/cuda/device.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/mma.cuh"
#include "common/error.h"

namespace dstar::backend::cuda {

namespace {

constexpr int BM = static_cast<int>(kGemmTileRows), BN = static_cast<int>(kGemmTileTokens), BK = 32,
              LDH = BK + 8;  // halves per shared row (20 words)

// Two activations as a pair of the weight's half type: the rounded values (hi) and the
// rounded remainders (lo).
template <WType T>
__device__ __forceinline__ void split2(float a, float b, uint32_t &hi, uint32_t &lo) {
    if constexpr (T == WType::BF16) {
        const __nv_bfloat162 h = __floats2bfloat162_rn(a, b);
        const __nv_bfloat162 l = __floats2bfloat162_rn(a - __low2float(h), b - __high2float(h));
        hi = *reinterpret_cast<const uint32_t *>(&h);
        lo = *reinterpret_cast<const uint32_t *>(&l);
    } else {
        const __half2 h = __floats2half2_rn(a, b);
        const __half2 l = __floats2half2_rn(a - __low2float(h), b - __high2float(h));
        hi = *reinterpret_cast<const uint32_t *>(&h);
        lo = *reinterpret_cast<const uint32_t *>(&l);
    }
}

template <WType T>
__global__ void __launch_bounds__(128) mma_half_kernel(DevWeight w, DevAct act, uint32_t n, float *out,
                                                       uint64_t out_stride) {
    __shared__ __align__(16) uint16_t sa[BM][LDH];
    __shared__ __align__(16) uint16_t sb[BN][LDH];     // activations, rounded
    __shared__ __align__(16) uint16_t sb_lo[BN][LDH];  // their rounding remainders
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t4 = lane & 3;
    const int wm = warp >> 1, wn = warp & 1;
    const uint64_t row0 = uint64_t{blockIdx.x} * BM;
    const uint32_t tok0 = blockIdx.y * BN;

    float acc[2][4][4];
#pragma unroll
    for (int mi = 0; mi < 2; mi++)
#pragma unroll
        for (int ni = 0; ni < 4; ni++)
#pragma unroll
            for (int e = 0; e < 4; e++) acc[mi][ni][e] = 0.0f;

    for (uint32_t k0 = 0; k0 < w.k; k0 += BK) {
        for (int i = tid; i < BM * 4; i += 128) {
            const int r = i >> 2, ch = i & 3;
            const uint4 v = row0 + r < w.rows ? ldg16(w.main + (row0 + r) * w.main_row + (k0 + ch * 8) * 2ull)
                                              : make_uint4(0, 0, 0, 0);
            *reinterpret_cast<uint4 *>(&sa[r][ch * 8]) = v;
        }
        for (int i = tid; i < BN * 8; i += 128) {
            const int s = i >> 3, ch = i & 7;
            float4 x = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
            if (tok0 + s < n) x = __ldg(reinterpret_cast<const float4 *>(act.x + (tok0 + s) * act.stride + k0 + ch * 4));
            uint32_t h0, l0, h1, l1;
            split2<T>(x.x, x.y, h0, l0);
            split2<T>(x.z, x.w, h1, l1);
            *reinterpret_cast<uint2 *>(&sb[s][ch * 4]) = make_uint2(h0, h1);
            *reinterpret_cast<uint2 *>(&sb_lo[s][ch * 4]) = make_uint2(l0, l1);
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < BK; kk += 16) {
            uint32_t bfr[4][2], bfr_lo[4][2];
#pragma unroll
            for (int ni = 0; ni < 4; ni++) {
                const uint16_t *bp = &sb[wn * 32 + ni * 8 + g][kk + 2 * t4];
                const uint16_t *bl = &sb_lo[wn * 32 + ni * 8 + g][kk + 2 * t4];
                bfr[ni][0] = *reinterpret_cast<const uint32_t *>(bp);
                bfr[ni][1] = *reinterpret_cast<const uint32_t *>(bp + 8);
                bfr_lo[ni][0] = *reinterpret_cast<const uint32_t *>(bl);
                bfr_lo[ni][1] = *reinterpret_cast<const uint32_t *>(bl + 8);
            }
#pragma unroll
            for (int mi = 0; mi < 2; mi++) {
                const int r = wm * 32 + mi * 16 + g;
                const uint32_t afr[4] = {*reinterpret_cast<const uint32_t *>(&sa[r][kk + 2 * t4]),
                                         *reinterpret_cast<const uint32_t *>(&sa[r + 8][kk + 2 * t4]),
                                         *reinterpret_cast<const uint32_t *>(&sa[r][kk + 8 + 2 * t4]),
                                         *reinterpret_cast<const uint32_t *>(&sa[r + 8][kk + 8 + 2 * t4])};
#pragma unroll
                for (int ni = 0; ni < 4; ni++) {
                    if constexpr (T == WType::BF16) {
                        mma_bf16_k16(acc[mi][ni], afr, bfr[ni]);
                        mma_bf16_k16(acc[mi][ni], afr, bfr_lo[ni]);
                    } else {
                        mma_f16_k16(acc[mi][ni], afr, bfr[ni]);
                        mma_f16_k16(acc[mi][ni], afr, bfr_lo[ni]);
                    }
                }
            }
        }
        __syncthreads();
    }

#pragma unroll
    for (int mi = 0; mi < 2; mi++)
#pragma unroll
        for (int ni = 0; ni < 4; ni++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const uint64_t r = row0 + wm * 32 + mi * 16 + g + 8 * (e >> 1);
                const uint32_t t = tok0 + wn * 32 + ni * 8 + 2 * t4 + (e & 1);
                if (r < w.rows && t < n) out[t * out_stride + r] = acc[mi][ni][e];
            }
}

}  // namespace

void launch_mma_half(const DevWeight &w, const DevAct &act, uint32_t n, float *out, uint64_t out_stride,
                     cudaStream_t stream) {
    if (w.k % BK != 0) fail("batched half product needs rows of a multiple of %d elements (got %u)", BK, w.k);
    const dim3 grid(static_cast<unsigned>((w.rows + BM - 1) / BM), (n + BN - 1) / BN);
    if (grid.x == 0 || grid.y == 0) return;
    if (grid.y > 65535) fail("batched product: %u token tiles exceed the launch limit", grid.y);
    switch (w.type) {
    case WType::F16: mma_half_kernel<WType::F16><<<grid, 128, 0, stream>>>(w, act, n, out, out_stride); break;
    case WType::BF16: mma_half_kernel<WType::BF16><<<grid, 128, 0, stream>>>(w, act, n, out, out_stride); break;
    default: fail("batched half product: weight type %d is not F16/BF16", static_cast<int>(w.type));
    }
    check_launch("mma_half", stream);
}

}  // namespace dstar::backend::cuda
