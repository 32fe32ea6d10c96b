// The decode matrix-vector kernel (up to 8 tokens), generic over the per-type pieces of
// dot.cuh, with an optional HC post epilogue (kernels.h).  Included by matvec_quant.cu and matvec_float.cu, which instantiate it.
//
// Work split: a block of 4 warps handles 4 rows (SPLIT = 1, short rows: one warp per row;
// 16 rows, 4 per warp, for large single-token products) or 1 row (SPLIT = 4, long rows: the
// warps share the row's chunks and their sums are added in warp order).  Each lane streams two 16-byte weight chunks per step and uses each for
// all NT tokens, so the weights are read once whatever the token count.  Reductions are
// shuffles and fixed-order adds: the result does not depend on timing.
#pragma once

#include "backend/cuda/check.h"
#include "backend/cuda/dot.cuh"
#include "backend/shared/hc_math.h"

namespace dstar::backend::cuda {

// Stores the product y of row `row` for token t: to `out`, or through the HC post epilogue
// (kernels.h, HcPostArgs) with the CPU's element formula (backend/shared/hc_math.h).
__device__ __forceinline__ void store_row(const MatvecArgs &a, uint32_t t, uint64_t row, float y) {
    if (!a.hc.out_hc) {
        a.out[t * a.out_stride + row] = y;
        return;
    }
    const uint64_t embd = a.w.rows;
    const uint32_t nh = a.hc.n_hc;
    if (a.hc.plus) y = a.hc.plus[t * embd + row] + y;
    const float *post = a.hc.post + uint64_t{t} * nh, *comb = a.hc.comb + uint64_t{t} * nh * nh;
    const float *res = a.hc.res_hc + uint64_t{t} * nh * embd + row;
    float *o = a.hc.out_hc + uint64_t{t} * nh * embd + row;
    for (uint32_t s = 0; s < nh; s++) o[s * embd] = shared::hc_post_elem(y, post, comb, res, embd, nh, s);
}

// U: chunks per lane per row loaded together; R (SPLIT = 1 only): rows per warp, rows
// blockIdx.x * 4R + 4r + warp, r < R, all their loads issued before any product is formed.
template <class D, int NT, int SPLIT, int U = 2, int R = 1>
__global__ void __launch_bounds__(128) matvec_kernel(MatvecArgs a) {
    static_assert(SPLIT == 1 || R == 1, "several rows per warp only without a split");
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int part = warp % SPLIT;
    const uint32_t nch = a.w.k / D::kElems;
    uint64_t row[R], off[R];
    bool row_ok[R];
#pragma unroll
    for (int r = 0; r < R; r++) {
        row[r] = SPLIT == 1 ? uint64_t{blockIdx.x} * (4 * R) + 4 * r + warp : uint64_t{blockIdx.x} * (4 / SPLIT) + warp / SPLIT;
        row_ok[r] = row[r] < a.w.rows;
        off[r] = row_ok[r] ? (row[r] / a.rows_per_group) * a.group_offset : 0;
    }
    typename D::Acc acc[R][NT];
#pragma unroll
    for (int r = 0; r < R; r++)
#pragma unroll
        for (int t = 0; t < NT; t++) acc[r][t] = 0;
    for (uint32_t base = part * 32; base < nch; base += 32 * SPLIT * U) {
        typename D::W wc[R][U] = {};
        uint32_t c[U];
        bool v[R][U];
#pragma unroll
        for (int u = 0; u < U; u++) c[u] = base + u * 32 * SPLIT + lane;
#pragma unroll
        for (int r = 0; r < R; r++)
#pragma unroll
            for (int u = 0; u < U; u++) {
                v[r][u] = row_ok[r] && c[u] < nch;
                if (v[r][u]) D::load(wc[r][u], a.w, row[r], c[u]);
            }
#pragma unroll
        for (int r = 0; r < R; r++)
#pragma unroll
            for (int u = 0; u < U; u++) {
#pragma unroll
                for (int t = 0; t < NT; t++)
                    if (t < static_cast<int>(a.n)) acc[r][t] += D::term(wc[r][u], a.act, t, c[u], off[r], v[r][u]);
            }
    }
#pragma unroll
    for (int r = 0; r < R; r++)
#pragma unroll
        for (int t = 0; t < NT; t++) acc[r][t] = warp_sum(acc[r][t]);
    if constexpr (SPLIT == 1) {
        if (lane == 0) {
#pragma unroll
            for (int r = 0; r < R; r++) {
                if (!row_ok[r]) continue;
#pragma unroll
                for (int t = 0; t < NT; t++)
                    if (t < static_cast<int>(a.n)) store_row(a, t, row[r], D::finish(acc[r][t]));
            }
        }
    } else {
        __shared__ typename D::Acc sums[4][NT];
        if (lane == 0) {
#pragma unroll
            for (int t = 0; t < NT; t++) sums[warp][t] = acc[0][t];
        }
        __syncthreads();
        const int t = static_cast<int>(threadIdx.x);
        if (t < NT && t < static_cast<int>(a.n) && row_ok[0]) {
            typename D::Acc s = sums[0][t];
            for (int w = 1; w < 4; w++) s += sums[w][t];
            store_row(a, t, row[0], D::finish(s));
        }
    }
}

// Launches the kernel for n <= 8 tokens with the smallest token-count template >= n.
// AllowSplit: whether the 4-warps-per-row variant exists for this type (long rows).
// Single-token products (decode) get more loads in flight per lane: float types' long rows
// (>= 512 chunks, e.g. the F16/F32 router's 4096) 4 chunks per lane per step, so a
// 4096-wide F16 row is one step; short rows of large Q8_0/float matrices 4 rows per warp, so
// that a lane has 8 chunks in flight and the grid is about one wave instead of several of
// short-lived blocks.
constexpr uint64_t kMatvecMultiRowMin = 8192;  // rows from which single-token products take 4 rows per warp

template <class D, bool AllowSplit>
void launch_matvec_typed(const MatvecArgs &a, cudaStream_t stream) {
    const uint32_t nch = a.w.k / D::kElems;
    const bool split = AllowSplit && nch >= 256;
    if (a.w.rows == 0 || a.n == 0) return;
    if (a.n == 1) {
        if constexpr (AllowSplit) {
            if (split) {
                const unsigned grid = static_cast<unsigned>(a.w.rows);
                if constexpr (D::kElems <= 8) {  // float types (the measured Q8_0 split path is kept)
                    if (nch >= 512) {
                        matvec_kernel<D, 1, 4, 4><<<grid, 128, 0, stream>>>(a);
                        check_launch("matvec", stream);
                        return;
                    }
                }
                matvec_kernel<D, 1, 4><<<grid, 128, 0, stream>>>(a);
                check_launch("matvec", stream);
                return;
            }
        }
        if constexpr (D::kElems <= 16) {
            if (a.w.rows >= kMatvecMultiRowMin) {
                const unsigned grid = static_cast<unsigned>((a.w.rows + 15) / 16);
                matvec_kernel<D, 1, 1, 2, 4><<<grid, 128, 0, stream>>>(a);
                check_launch("matvec", stream);
                return;
            }
        }
        const unsigned grid = static_cast<unsigned>((a.w.rows + 3) / 4);
        matvec_kernel<D, 1, 1><<<grid, 128, 0, stream>>>(a);
        check_launch("matvec", stream);
        return;
    }
    const uint64_t rows_per_block = split ? 1 : 4;
    const uint64_t blocks = (a.w.rows + rows_per_block - 1) / rows_per_block;
    const unsigned grid = static_cast<unsigned>(blocks);
    auto go = [&](auto nt) {
        constexpr int NT = decltype(nt)::value;
        if constexpr (AllowSplit) {
            if (split) {
                matvec_kernel<D, NT, 4><<<grid, 128, 0, stream>>>(a);
                return;
            }
        }
        matvec_kernel<D, NT, 1><<<grid, 128, 0, stream>>>(a);
    };
    if (a.n <= 2) go(std::integral_constant<int, 2>{});
    else if (a.n <= 4) go(std::integral_constant<int, 4>{});
    else go(std::integral_constant<int, 8>{});
    check_launch("matvec", stream);
}

}  // namespace dstar::backend::cuda
