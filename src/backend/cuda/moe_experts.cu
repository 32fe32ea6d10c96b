// Routed experts (model.md §3.6 step 5).
//
// Decode path: every (token, expert) pair of a step in one launch for gate + up (fused
// with the clamped SwiGLU and the router weight; a warp loads a gate row and its up row
// together), one launch for down, where a warp loads the rows of several experts together
// and sums their dot products in selection order (the CPU's order; no atomics).
// Prefill path (dispatch.cpp): pairs grouped by expert here (stable: pair order inside an
// expert), then batched int8 products per expert tile (mmq.cu), SwiGLU, and an ordered
// reduction over each token's experts.
#include "backend/cuda/check.h"
#include "backend/cuda/dot.cuh"
#include "backend/cuda/kernels.h"
#include "backend/shared/activation.h"
#include "common/error.h"

namespace dstar::backend::cuda {

namespace {

constexpr int kMoeWarps = 8;    // warps (rows) per block of the decode kernels
constexpr int kDownGroup = 6;   // experts whose down rows one warp loads together

// The dot products of row ra of wa and row rb of wb (same type and row length) with
// activation row act_row, by one warp: both rows' chunks are loaded before either product
// is formed, so a lane has 2 * U loads in flight.  Every lane gets both totals (before
// finish()).
template <class D>
__device__ __forceinline__ void warp_row_dot2(const DevWeight &wa, uint64_t ra, const DevWeight &wb, uint64_t rb,
                                              const DevAct &x, uint64_t act_row, typename D::Acc &sa,
                                              typename D::Acc &sb) {
    constexpr int U = 2;
    const int lane = threadIdx.x & 31;
    const uint32_t nch = wa.k / D::kElems;
    typename D::Acc acc_a = 0, acc_b = 0;
    for (uint32_t base = 0; base < nch; base += 32 * U) {
        typename D::W ca[U] = {}, cb[U] = {};
        uint32_t c[U];
        bool v[U];
#pragma unroll
        for (int u = 0; u < U; u++) {
            c[u] = base + u * 32 + lane;
            v[u] = c[u] < nch;
            if (v[u]) {
                D::load(ca[u], wa, ra, c[u]);
                D::load(cb[u], wb, rb, c[u]);
            }
        }
#pragma unroll
        for (int u = 0; u < U; u++) {
            acc_a += D::term(ca[u], x, act_row, c[u], 0, v[u]);
            acc_b += D::term(cb[u], x, act_row, c[u], 0, v[u]);
        }
    }
    sa = warp_sum(acc_a);
    sb = warp_sum(acc_b);
}

// One warp per (pair, row): the gate and up rows of the pair's expert, then the clamped
// SwiGLU and the router weight.  blockIdx.y = pair.
template <class D>
__global__ void __launch_bounds__(32 * kMoeWarps) moe_gate_up_kernel(DevWeight gate, DevWeight up, DevAct x,
                                                                     const int32_t *sel, const float *weights,
                                                                     uint32_t k, float clamp, float *mid) {
    const uint32_t p = blockIdx.y, t = p / k;
    const uint64_t ff = gate.rows_per_expert;
    const uint64_t i = uint64_t{blockIdx.x} * kMoeWarps + (threadIdx.x >> 5);
    if (i >= ff) return;  // whole warps
    const int32_t e = sel[p];
    const uint64_t n_exp = gate.rows / ff;
    if (e < 0 || static_cast<uint64_t>(e) >= n_exp) {
        if ((threadIdx.x & 31) == 0) mid[uint64_t{p} * ff + i] = 0.0f;
        return;
    }
    const uint64_t row = static_cast<uint64_t>(e) * ff + i;
    typename D::Acc g, u;
    warp_row_dot2<D>(gate, row, up, row, x, t, g, u);
    if ((threadIdx.x & 31) == 0)
        mid[uint64_t{p} * ff + i] = shared::clamped_swiglu(D::finish(g), D::finish(u), clamp) * weights[p];
}

// One warp per (token, output row): the rows of up to kDownGroup of the token's experts are
// loaded together, and the experts' products are added in selection order (the CPU's).
template <class D>
__global__ void __launch_bounds__(32 * kMoeWarps) moe_down_kernel(DevWeight down, DevAct mid, const int32_t *sel,
                                                                  uint32_t k, float *out, uint64_t out_stride) {
    const uint32_t t = blockIdx.y;
    const int lane = threadIdx.x & 31;
    const uint64_t d_out = down.rows_per_expert;
    const uint64_t o = uint64_t{blockIdx.x} * kMoeWarps + (threadIdx.x >> 5);
    if (o >= d_out) return;  // whole warps
    const uint64_t n_exp = down.rows / d_out;
    const uint32_t nch = down.k / D::kElems;
    float acc = 0.0f;
    for (uint32_t j0 = 0; j0 < k; j0 += kDownGroup) {
        uint64_t row[kDownGroup];
        bool ok[kDownGroup];
#pragma unroll
        for (int g = 0; g < kDownGroup; g++) {
            const uint32_t j = j0 + g;
            const int32_t e = j < k ? sel[uint64_t{t} * k + j] : -1;
            ok[g] = e >= 0 && static_cast<uint64_t>(e) < n_exp;
            row[g] = ok[g] ? static_cast<uint64_t>(e) * d_out + o : 0;
        }
        typename D::Acc s[kDownGroup];
#pragma unroll
        for (int g = 0; g < kDownGroup; g++) s[g] = 0;
        for (uint32_t base = 0; base < nch; base += 32) {
            const uint32_t c = base + lane;
            typename D::W w[kDownGroup] = {};
            bool v[kDownGroup];
#pragma unroll
            for (int g = 0; g < kDownGroup; g++) {
                v[g] = ok[g] && c < nch;
                if (v[g]) D::load(w[g], down, row[g], c);
            }
#pragma unroll
            for (int g = 0; g < kDownGroup; g++) s[g] += D::term(w[g], mid, uint64_t{t} * k + j0 + g, c, 0, v[g]);
        }
#pragma unroll
        for (int g = 0; g < kDownGroup; g++) {
            const float part = D::finish(warp_sum(s[g]));
            if (ok[g]) acc += part;
        }
    }
    if (lane == 0) out[uint64_t{t} * out_stride + o] = acc;
}

__global__ void moe_group_kernel(const int32_t *sel, uint32_t np, uint32_t n_expert, int32_t *pairs,
                                 int32_t *tile_expert, int32_t *tile_begin, int32_t *tile_count, int32_t *n_tiles) {
    extern __shared__ int32_t s[];  // sel[np], count[n_expert], offset[n_expert]
    int32_t *s_sel = s, *s_count = s + np, *s_off = s + np + n_expert;
    for (uint32_t p = threadIdx.x; p < np; p += blockDim.x) s_sel[p] = sel[p];
    __syncthreads();
    for (uint32_t e = threadIdx.x; e < n_expert; e += blockDim.x) {
        int32_t c = 0;
        for (uint32_t p = 0; p < np; p++) c += s_sel[p] == static_cast<int32_t>(e);
        s_count[e] = c;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        int32_t off = 0, nt = 0;
        for (uint32_t e = 0; e < n_expert; e++) {
            s_off[e] = off;
            for (int32_t b = 0; b < s_count[e]; b += static_cast<int32_t>(kGemmTileTokens)) {
                tile_expert[nt] = static_cast<int32_t>(e);
                tile_begin[nt] = off + b;
                tile_count[nt] = min(static_cast<int32_t>(kGemmTileTokens), s_count[e] - b);
                nt++;
            }
            off += s_count[e];
        }
        *n_tiles = nt;
    }
    __syncthreads();
    for (uint32_t e = threadIdx.x; e < n_expert; e += blockDim.x) {
        int32_t pos = s_off[e];
        for (uint32_t p = 0; p < np; p++)
            if (s_sel[p] == static_cast<int32_t>(e)) pairs[pos++] = static_cast<int32_t>(p);
    }
}

__global__ void moe_swiglu_kernel(const float *g, const float *u, const int32_t *sel, const float *weights,
                                  uint64_t total, uint32_t ff, uint32_t n_expert, float clamp, float *mid) {
    for (uint64_t i = blockIdx.x * uint64_t{blockDim.x} + threadIdx.x; i < total; i += uint64_t{gridDim.x} * blockDim.x) {
        const uint64_t p = i / ff;
        const int32_t e = sel[p];
        mid[i] = (e < 0 || static_cast<uint32_t>(e) >= n_expert) ? 0.0f
                                                                 : shared::clamped_swiglu(g[i], u[i], clamp) * weights[p];
    }
}

__global__ void moe_reduce_kernel(const float *part, const int32_t *sel, uint32_t k, uint32_t d_out, uint32_t n_expert,
                                  uint64_t total, float *out) {
    for (uint64_t i = blockIdx.x * uint64_t{blockDim.x} + threadIdx.x; i < total; i += uint64_t{gridDim.x} * blockDim.x) {
        const uint64_t t = i / d_out, o = i % d_out;
        float acc = 0.0f;
        for (uint32_t j = 0; j < k; j++) {
            const int32_t e = sel[t * k + j];
            if (e < 0 || static_cast<uint32_t>(e) >= n_expert) continue;
            acc += part[(t * k + j) * d_out + o];
        }
        out[i] = acc;
    }
}

template <class D>
void gate_up_typed(const DevWeight &gate, const DevWeight &up, const DevAct &x, const int32_t *sel,
                   const float *weights, uint32_t n, uint32_t k, float clamp, float *mid, cudaStream_t stream) {
    const dim3 grid(static_cast<unsigned>((gate.rows_per_expert + kMoeWarps - 1) / kMoeWarps), n * k);
    moe_gate_up_kernel<D><<<grid, 32 * kMoeWarps, 0, stream>>>(gate, up, x, sel, weights, k, clamp, mid);
}

template <class D>
void down_typed(const DevWeight &down, const DevAct &mid, const int32_t *sel, uint32_t n, uint32_t k, float *out,
                uint64_t out_stride, cudaStream_t stream) {
    const dim3 grid(static_cast<unsigned>((down.rows_per_expert + kMoeWarps - 1) / kMoeWarps), n);
    moe_down_kernel<D><<<grid, 32 * kMoeWarps, 0, stream>>>(down, mid, sel, k, out, out_stride);
}

// Calls f with the Dot type of a weight (vec: float rows allow 16-byte loads).
template <class F>
void with_dot(WType t, bool vec, F &&f) {
    switch (t) {
    case WType::Q8_0: f(Dot<WType::Q8_0, true>{}); break;
    case WType::Q2_K: f(Dot<WType::Q2_K, true>{}); break;
    case WType::Q4_K: f(Dot<WType::Q4_K, true>{}); break;
    case WType::IQ2_XXS: f(Dot<WType::IQ2_XXS, true>{}); break;
    case WType::F16:
        if (vec) f(Dot<WType::F16, true>{});
        else f(Dot<WType::F16, false>{});
        break;
    case WType::BF16:
        if (vec) f(Dot<WType::BF16, true>{});
        else f(Dot<WType::BF16, false>{});
        break;
    case WType::F32:
        if (vec) f(Dot<WType::F32, true>{});
        else f(Dot<WType::F32, false>{});
        break;
    default: fail("routed experts: weight type %d has no kernel", static_cast<int>(t));
    }
}

bool vec_ok(const DevWeight &w, const DevAct &a) {
    const uint32_t per16 = w.type == WType::F32 ? 4 : 8;
    return w.k % per16 == 0 && w.main_row % 16 == 0 && a.stride % 4 == 0 &&
           (reinterpret_cast<uintptr_t>(a.x) & 15u) == 0 && (reinterpret_cast<uintptr_t>(w.main) & 15u) == 0;
}

unsigned capped_grid(uint64_t total) {
    const unsigned g = grid_for(total, 256);
    return g < 8192 ? g : 8192;
}

}  // namespace

void launch_moe_gate_up(const DevWeight &gate, const DevWeight &up, const DevAct &x, const int32_t *sel,
                        const float *weights, uint32_t n, uint32_t k, float clamp, float *mid, cudaStream_t stream) {
    if (n == 0 || k == 0) return;
    if (uint64_t{n} * k > 65535) fail("routed experts: %u token-expert pairs exceed one launch", n * k);
    with_dot(gate.type, vec_ok(gate, x) && vec_ok(up, x), [&](auto d) {
        gate_up_typed<decltype(d)>(gate, up, x, sel, weights, n, k, clamp, mid, stream);
    });
    check_launch("moe_gate_up", stream);
}

void launch_moe_down(const DevWeight &down, const DevAct &mid, const int32_t *sel, uint32_t n, uint32_t k,
                     float *out, uint64_t out_stride, cudaStream_t stream) {
    if (n == 0 || k == 0) return;
    if (n > 65535) fail("routed experts: %u tokens exceed one launch", n);
    with_dot(down.type, vec_ok(down, mid), [&](auto d) { down_typed<decltype(d)>(down, mid, sel, n, k, out, out_stride, stream); });
    check_launch("moe_down", stream);
}

void launch_moe_group(const int32_t *sel, uint32_t n, uint32_t k, uint32_t n_expert, int32_t *pairs,
                      int32_t *tile_expert, int32_t *tile_begin, int32_t *tile_count, int32_t *n_tiles,
                      cudaStream_t stream) {
    const uint32_t np = n * k;
    const size_t smem = (size_t{np} + 2 * size_t{n_expert}) * sizeof(int32_t);
    if (smem > 48 * 1024) fail("routed experts: %u pairs are too many to group in one launch", np);
    moe_group_kernel<<<1, 256, smem, stream>>>(sel, np, n_expert, pairs, tile_expert, tile_begin, tile_count, n_tiles);
    check_launch("moe_group", stream);
}

void launch_moe_swiglu(const float *g, const float *u, const int32_t *sel, const float *weights, uint32_t pairs,
                       uint32_t ff, uint32_t n_expert, float clamp, float *mid, cudaStream_t stream) {
    const uint64_t total = uint64_t{pairs} * ff;
    if (total == 0) return;
    moe_swiglu_kernel<<<capped_grid(total), 256, 0, stream>>>(g, u, sel, weights, total, ff, n_expert, clamp, mid);
    check_launch("moe_swiglu", stream);
}

void launch_moe_reduce(const float *part, const int32_t *sel, uint32_t n, uint32_t k, uint32_t d_out,
                       uint32_t n_expert, float *out, cudaStream_t stream) {
    const uint64_t total = uint64_t{n} * d_out;
    if (total == 0) return;
    moe_reduce_kernel<<<capped_grid(total), 256, 0, stream>>>(part, sel, k, d_out, n_expert, total, out);
    check_launch("moe_reduce", stream);
}

}  // namespace dstar::backend::cuda
