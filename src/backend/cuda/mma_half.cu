// Batched products of float weights with f32 activations (prefill): F16 / BF16 on tensor
// cores, F32 on the FP64 units (below).
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
// of K per step; the global loads of step k + 1 are issued (into registers) before step k's
// MMAs run, so a block never waits for a load it could have started earlier.
//
// Split K: products with few tiles (the router: 256 rows, so 4 row tiles; 4 token tiles for a
// 256-token chunk) would leave most multiprocessors idle and run 128 serial K steps per
// block (they went through the 8-token matvec instead, re-reading the weight for every 8
// tokens: 19.5% of prefill).  With splits > 1, blockIdx.z computes the K range
// [z * chunk, (z + 1) * chunk) into its own slice of a partial buffer, and a second kernel
// adds the slices in z order: deterministic (no atomics, fixed order for a given shape).
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
                                                       uint64_t out_stride, uint32_t k_chunk, float *partial) {
    __shared__ __align__(16) uint16_t sa[BM][LDH];
    __shared__ __align__(16) uint16_t sb[BN][LDH];     // activations, rounded
    __shared__ __align__(16) uint16_t sb_lo[BN][LDH];  // their rounding remainders
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t4 = lane & 3;
    const int wm = warp >> 1, wn = warp & 1;
    const uint64_t row0 = uint64_t{blockIdx.x} * BM;
    const uint32_t tok0 = blockIdx.y * BN;
    const uint32_t kbeg = blockIdx.z * k_chunk, kend = min(w.k, kbeg + k_chunk);

    float acc[2][4][4];
#pragma unroll
    for (int mi = 0; mi < 2; mi++)
#pragma unroll
        for (int ni = 0; ni < 4; ni++)
#pragma unroll
            for (int e = 0; e < 4; e++) acc[mi][ni][e] = 0.0f;

    // One step's global data in registers: weight chunk i = tid + 128 * j (row i >> 2,
    // 8 halves i & 3), activation chunk i = tid + 128 * j (token i >> 3, 4 floats i & 7).
    uint4 wv[BM * 4 / 128];
    float4 xv[BN * 8 / 128];
    const auto fetch = [&](uint32_t k0) {
#pragma unroll
        for (int j = 0; j < BM * 4 / 128; j++) {
            const int i = tid + 128 * j, r = i >> 2, ch = i & 3;
            wv[j] = row0 + r < w.rows ? ldg16(w.main + (row0 + r) * w.main_row + (k0 + ch * 8) * 2ull)
                                      : make_uint4(0, 0, 0, 0);
        }
#pragma unroll
        for (int j = 0; j < BN * 8 / 128; j++) {
            const int i = tid + 128 * j, s = i >> 3, ch = i & 7;
            xv[j] = tok0 + s < n ? __ldg(reinterpret_cast<const float4 *>(act.x + (tok0 + s) * act.stride + k0 + ch * 4))
                                 : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        }
    };
    if (kbeg < kend) fetch(kbeg);
    for (uint32_t k0 = kbeg; k0 < kend; k0 += BK) {
#pragma unroll
        for (int j = 0; j < BM * 4 / 128; j++) {
            const int i = tid + 128 * j;
            *reinterpret_cast<uint4 *>(&sa[i >> 2][(i & 3) * 8]) = wv[j];
        }
#pragma unroll
        for (int j = 0; j < BN * 8 / 128; j++) {
            const int i = tid + 128 * j, s = i >> 3, ch = i & 7;
            uint32_t h0, l0, h1, l1;
            split2<T>(xv[j].x, xv[j].y, h0, l0);
            split2<T>(xv[j].z, xv[j].w, h1, l1);
            *reinterpret_cast<uint2 *>(&sb[s][ch * 4]) = make_uint2(h0, h1);
            *reinterpret_cast<uint2 *>(&sb_lo[s][ch * 4]) = make_uint2(l0, l1);
        }
        __syncthreads();
        if (k0 + BK < kend) fetch(k0 + BK);  // in flight while this step's MMAs run
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

    // Split products write their slice of the partial buffer (token-major, rows packed).
    float *dst = partial ? partial + uint64_t{blockIdx.z} * n * w.rows : out;
    const uint64_t dst_stride = partial ? w.rows : out_stride;
#pragma unroll
    for (int mi = 0; mi < 2; mi++)
#pragma unroll
        for (int ni = 0; ni < 4; ni++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const uint64_t r = row0 + wm * 32 + mi * 16 + g + 8 * (e >> 1);
                const uint32_t t = tok0 + wn * 32 + ni * 8 + 2 * t4 + (e & 1);
                if (r < w.rows && t < n) dst[t * dst_stride + r] = acc[mi][ni][e];
            }
}

// F32 weights: the products of an f32 weight and an f32 activation are exact in double and
// are summed in double, as the CPU reference (dot_f32) and the decode matvec do, so a
// batched product differs from them only by the order of adding exact products (far below
// f32 resolution).  Tile: 64 rows x 64 tokens per block of 256 threads, each 4 rows x 4
// tokens (16 double accumulators); 16 elements of K per step, staged k-major in shared
// memory, the next step's global loads in flight during this step's FMAs.
constexpr int FK = 16, FLD = 64 + 4;  // floats per shared k row (keeps float4 alignment)

__global__ void __launch_bounds__(256) gemm_f32_kernel(DevWeight w, DevAct act, uint32_t n, float *out,
                                                       uint64_t out_stride, uint32_t k_chunk, double *partial) {
    __shared__ __align__(16) float sw[FK][FLD];  // [k][row]
    __shared__ __align__(16) float sx[FK][FLD];  // [k][token]
    const int tid = threadIdx.x, tr = tid & 15, tt = tid >> 4;  // rows tr*4.., tokens tt*4..
    const uint64_t row0 = uint64_t{blockIdx.x} * 64;
    const uint32_t tok0 = blockIdx.y * 64;
    const uint32_t kbeg = blockIdx.z * k_chunk, kend = min(w.k, kbeg + k_chunk);
    // Loads: thread tid reads 4 floats (k 4*(tid&3)..) of weight row / token tid >> 2.
    const int lr = tid >> 2, lk = (tid & 3) * 4;
    const bool row_ok = row0 + lr < w.rows, tok_ok = tok0 + lr < n;
    const float *wp = reinterpret_cast<const float *>(w.main + (row0 + lr) * w.main_row);
    const float *xp = act.x + (tok0 + lr) * act.stride;
    float4 wv, xv;
    const auto fetch = [&](uint32_t k0) {
        const bool kin = k0 + lk < kend;  // k % 4 == 0: a chunk is wholly in or out
        wv = row_ok && kin ? __ldg(reinterpret_cast<const float4 *>(wp + k0 + lk)) : make_float4(0.f, 0.f, 0.f, 0.f);
        xv = tok_ok && kin ? __ldg(reinterpret_cast<const float4 *>(xp + k0 + lk)) : make_float4(0.f, 0.f, 0.f, 0.f);
    };
    double acc[4][4];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[i][j] = 0.0;
    if (kbeg < kend) fetch(kbeg);
    for (uint32_t k0 = kbeg; k0 < kend; k0 += FK) {
        sw[lk][lr] = wv.x;
        sw[lk + 1][lr] = wv.y;
        sw[lk + 2][lr] = wv.z;
        sw[lk + 3][lr] = wv.w;
        sx[lk][lr] = xv.x;
        sx[lk + 1][lr] = xv.y;
        sx[lk + 2][lr] = xv.z;
        sx[lk + 3][lr] = xv.w;
        __syncthreads();
        if (k0 + FK < kend) fetch(k0 + FK);
#pragma unroll 4
        for (int kk = 0; kk < FK; kk++) {
            const float4 a = *reinterpret_cast<const float4 *>(&sw[kk][tr * 4]);
            const float4 b = *reinterpret_cast<const float4 *>(&sx[kk][tt * 4]);
            const double ad[4] = {a.x, a.y, a.z, a.w}, bd[4] = {b.x, b.y, b.z, b.w};
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 4; j++) acc[i][j] = fma(ad[i], bd[j], acc[i][j]);  // exact product
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const uint64_t r = row0 + tr * 4 + i;
            const uint32_t t = tok0 + tt * 4 + j;
            if (r >= w.rows || t >= n) continue;
            if (partial) partial[(uint64_t{blockIdx.z} * n + t) * w.rows + r] = acc[i][j];
            else out[t * out_stride + r] = static_cast<float>(acc[i][j]);
        }
}

// out[t * out_stride + r] = the sum of the split slices in slice order.
template <class P>
__global__ void gemm_split_sum_kernel(const P *partial, uint32_t splits, uint32_t n, uint64_t rows, float *out,
                                      uint64_t out_stride) {
    const uint64_t total = uint64_t{n} * rows;
    for (uint64_t i = uint64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < total;
         i += uint64_t{gridDim.x} * blockDim.x) {
        P s = partial[i];
        for (uint32_t z = 1; z < splits; z++) s += partial[uint64_t{z} * total + i];
        const uint64_t t = i / rows, r = i - t * rows;
        out[t * out_stride + r] = static_cast<float>(s);
    }
}

// K elements per split for `splits` slices of a K loop in steps of `step` elements.
uint32_t split_chunk(uint32_t k, uint32_t step, uint32_t splits) {
    const uint32_t steps = (k + step - 1) / step, s = splits > 0 ? splits : 1;
    return ((steps + s - 1) / s) * step;
}

}  // namespace

bool gemm_float_supported(const DevWeight &w, const DevAct &act) {
    const auto a16 = [](const void *p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; };
    if (act.kind != ActKind::Float || !a16(act.x) || act.stride % 4 != 0 || !a16(w.main) || w.main_row % 16 != 0)
        return false;
    switch (w.type) {
    case WType::F16:
    case WType::BF16: return w.k % BK == 0;
    case WType::F32: return w.k % 4 == 0;
    default: return false;
    }
}

uint32_t gemm_float_step(WType t) { return t == WType::F32 ? FK : BK; }

size_t gemm_float_partial_bytes(WType t, uint32_t n, uint64_t rows, uint32_t splits) {
    return splits > 1 ? size_t{splits} * n * rows * (t == WType::F32 ? sizeof(double) : sizeof(float)) : 0;
}

void launch_gemm_float(const DevWeight &w, const DevAct &act, uint32_t n, float *out, uint64_t out_stride,
                       uint32_t splits, void *partial, cudaStream_t stream) {
    if (!gemm_float_supported(w, act)) fail("batched float product: unsupported layout (type %d, k=%u)",
                                            static_cast<int>(w.type), w.k);
    const uint32_t step = gemm_float_step(w.type);
    const uint32_t chunk = split_chunk(w.k, step, splits);
    const uint32_t nz = (w.k + chunk - 1) / chunk;  // <= splits; nz == 1 writes out directly
    if (nz > 1 && partial == nullptr) fail("batched float product: %u K splits without a partial buffer", nz);
    const dim3 grid(static_cast<unsigned>((w.rows + BM - 1) / BM), (n + BN - 1) / BN, nz);
    if (grid.x == 0 || grid.y == 0 || grid.z == 0) return;
    if (grid.y > 65535) fail("batched product: %u token tiles exceed the launch limit", grid.y);
    void *part = nz > 1 ? partial : nullptr;
    switch (w.type) {
    case WType::F16:
        mma_half_kernel<WType::F16>
            <<<grid, 128, 0, stream>>>(w, act, n, out, out_stride, chunk, static_cast<float *>(part));
        break;
    case WType::BF16:
        mma_half_kernel<WType::BF16>
            <<<grid, 128, 0, stream>>>(w, act, n, out, out_stride, chunk, static_cast<float *>(part));
        break;
    case WType::F32:
        gemm_f32_kernel<<<grid, 256, 0, stream>>>(w, act, n, out, out_stride, chunk, static_cast<double *>(part));
        break;
    default: fail("batched float product: weight type %d is not a float type", static_cast<int>(w.type));
    }
    check_launch("gemm_float", stream);
    if (nz > 1) {
        const unsigned blocks = grid_for(uint64_t{n} * w.rows, 256);
        if (w.type == WType::F32)
            gemm_split_sum_kernel<double>
                <<<blocks, 256, 0, stream>>>(static_cast<const double *>(part), nz, n, w.rows, out, out_stride);
        else
            gemm_split_sum_kernel<float>
                <<<blocks, 256, 0, stream>>>(static_cast<const float *>(part), nz, n, w.rows, out, out_stride);
        check_launch("gemm_split_sum", stream);
    }
}

}  // namespace dstar::backend::cuda
