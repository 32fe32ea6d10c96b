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
#include "backend/cuda/launch.cuh"
#include "backend/shared/hc_math.h"

namespace dstar::backend::cuda {

// Stores the product y of row `row` for token t: to `out`, or through the HC post epilogue
// (kernels.h, HcPostArgs) with the CPU's element formula (backend/shared/hc_math.h).
__device__ __forceinline__ void store_row(const MatvecArgs &a, float *out, uint64_t out_stride, uint32_t t,
                                          uint64_t row, float y) {
    if (!a.hc.out_hc) {
        out[t * out_stride + row] = y;
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
// blk * 4R + 4r + warp, r < R, all their loads issued before any product is formed.
// With segments (kernels.h, MatvecSeg) the block first finds its segment and works on that
// weight as if launched for it alone (blk counted from the segment's first block).
// Launched with PDL (launch.cuh): the first step's weight loads are issued before the wait,
// so they overlap the previous kernel's tail (for 4096-wide rows, one step is the whole row).
template <class D, int NT, int SPLIT, int U = 2, int R = 1>
__global__ void __launch_bounds__(128) matvec_kernel(MatvecArgs a) {
    static_assert(SPLIT == 1 || R == 1, "several rows per warp only without a split");
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int part = warp % SPLIT;
    DevWeight w = a.w;
    float *out = a.out;
    uint64_t out_stride = a.out_stride;
    uint32_t blk = blockIdx.x;
    if (a.n_seg > 0) {
        int s = 0;
#pragma unroll
        for (int i = 1; i < static_cast<int>(kMatvecMaxSegs); i++)
            if (i < static_cast<int>(a.n_seg) && blk >= a.seg[i].block0) s = i;
#pragma unroll
        for (int i = 0; i < static_cast<int>(kMatvecMaxSegs); i++) {
            if (i != s) continue;
            w.main = a.seg[i].main;
            w.side = a.seg[i].side;
            w.rows = a.seg[i].rows;
            out = a.seg[i].out;
            out_stride = a.seg[i].out_stride;
            blk -= a.seg[i].block0;
        }
    }
    const uint32_t nch = w.k / D::kElems;
    uint64_t row[R], off[R];
    bool row_ok[R];
#pragma unroll
    for (int r = 0; r < R; r++) {
        row[r] = SPLIT == 1 ? uint64_t{blk} * (4 * R) + 4 * r + warp : uint64_t{blk} * (4 / SPLIT) + warp / SPLIT;
        row_ok[r] = row[r] < w.rows;
        off[r] = row_ok[r] ? (row[r] / a.rows_per_group) * a.group_offset : 0;
    }
    typename D::Acc acc[R][NT];
#pragma unroll
    for (int r = 0; r < R; r++)
#pragma unroll
        for (int t = 0; t < NT; t++) acc[r][t] = 0;
    // Chunks of a step: lane's c[u]; invalid chunks keep stale registers, which term()
    // ignores (it reads w only when valid).
    typename D::W wc[R][U] = {};
    uint32_t c[U];
    bool v[R][U];
    auto load_step = [&](uint32_t base) {
#pragma unroll
        for (int u = 0; u < U; u++) c[u] = base + u * 32 * SPLIT + lane;
#pragma unroll
        for (int r = 0; r < R; r++)
#pragma unroll
            for (int u = 0; u < U; u++) {
                v[r][u] = row_ok[r] && c[u] < nch;
                if (v[r][u]) D::load(wc[r][u], w, row[r], c[u]);
            }
    };
    const uint32_t base0 = part * 32;
    load_step(base0);  // weights only: before the wait
    pdl_enter();
    for (uint32_t base = base0; base < nch; base += 32 * SPLIT * U) {
        if (base != base0) load_step(base);
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
                    if (t < static_cast<int>(a.n)) store_row(a, out, out_stride, t, row[r], D::finish(acc[r][t]));
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
            for (int w2 = 1; w2 < 4; w2++) s += sums[w2][t];
            store_row(a, out, out_stride, t, row[0], D::finish(s));
        }
    }
}

// Launches one variant: one block per 4R rows (SPLIT = 1) or per 4 / SPLIT rows, each
// segment starting on a block of its own.
template <class D, int NT, int SPLIT, int U = 2, int R = 1>
void launch_matvec_variant(MatvecArgs a, cudaStream_t stream) {
    constexpr uint64_t rpb = SPLIT == 1 ? 4 * R : 4 / SPLIT;
    uint64_t blocks = 0;
    if (a.n_seg == 0) {
        blocks = (a.w.rows + rpb - 1) / rpb;
    } else {
        for (uint32_t s = 0; s < a.n_seg; s++) {
            a.seg[s].block0 = static_cast<uint32_t>(blocks);
            blocks += (a.seg[s].rows + rpb - 1) / rpb;
        }
    }
    if (blocks == 0) return;
    launch_pdl("matvec", matvec_kernel<D, NT, SPLIT, U, R>, dim3(static_cast<unsigned>(blocks)), dim3(128), 0, stream,
               a);
}

// Launches the kernel for n <= 8 tokens with the smallest token-count template >= n.
// AllowSplit: whether the 4-warps-per-row variant exists for this type (long rows).
// Single-token products (decode) get more loads in flight per lane: float types' long rows
// (>= 512 chunks, e.g. the F16/F32 router's 4096) 4 chunks per lane per step, so a
// 4096-wide F16 row is one step; short rows of large Q8_0/float matrices 4 rows per warp, so
// that a lane has 8 chunks in flight and the grid is about one wave instead of several of
// short-lived blocks.  With segments the choice is made for their rows together.
constexpr uint64_t kMatvecMultiRowMin = 8192;  // rows from which single-token products take 4 rows per warp

template <class D, bool AllowSplit>
void launch_matvec_typed(const MatvecArgs &a, cudaStream_t stream) {
    const uint32_t nch = a.w.k / D::kElems;
    const bool split = AllowSplit && nch >= 256;
    uint64_t rows = a.w.rows;
    if (a.n_seg > 0) {
        rows = 0;
        for (uint32_t s = 0; s < a.n_seg; s++) rows += a.seg[s].rows;
    }
    if (rows == 0 || a.n == 0) return;
    if (a.n == 1) {
        if constexpr (AllowSplit) {
            if (split) {
                if constexpr (D::kElems <= 8) {  // float types (the measured Q8_0 split path is kept)
                    if (nch >= 512) {
                        launch_matvec_variant<D, 1, 4, 4>(a, stream);
                        return;
                    }
                }
                launch_matvec_variant<D, 1, 4>(a, stream);
                return;
            }
        }
        if constexpr (D::kElems <= 16) {
            if (rows >= kMatvecMultiRowMin) {
                launch_matvec_variant<D, 1, 1, 2, 4>(a, stream);
                return;
            }
        }
        launch_matvec_variant<D, 1, 1>(a, stream);
        return;
    }
    auto go = [&](auto nt) {
        constexpr int NT = decltype(nt)::value;
        if constexpr (AllowSplit) {
            if (split) {
                launch_matvec_variant<D, NT, 4>(a, stream);
                return;
            }
        }
        launch_matvec_variant<D, NT, 1>(a, stream);
    };
    if (a.n <= 2) go(std::integral_constant<int, 2>{});
    else if (a.n <= 4) go(std::integral_constant<int, 4>{});
    else go(std::integral_constant<int, 8>{});
}

}  // namespace dstar::backend::cuda
