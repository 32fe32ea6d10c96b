// Routed experts (model.md §3.6 step 5).
//
// Decode path: every (token, expert) pair of a step in one launch for gate + up (fused
// with the clamped SwiGLU and the router weight; a warp loads a gate row and its up row
// together), one launch for down, where a warp loads the rows of several experts together
// and sums their dot products in selection order (the CPU's order; no atomics).  The
// flash-width encodings (IQ2_XXS gate/up, Q2_K down) have persistent-style kernels of their
// own (below: about one wave of warps, each streaming several rows with the next row's loads
// in flight); the generic kernels serve the other encodings and shapes.
// Prefill path (dispatch.cpp): pairs grouped by expert here (stable: pair order inside an
// expert), then batched int8 products per expert tile (mmq.cu), SwiGLU, and an ordered
// reduction over each token's experts.
#include <algorithm>
#include <map>
#include <mutex>
#include <tuple>
#include <type_traits>

#include "backend/cuda/check.h"
#include "backend/cuda/launch.cuh"
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
// Chunks per lane per row loaded together: Q8_0 (the shared expert) loads 8, a whole
// 4096-wide row pair (16 loads of 16 bytes per lane in flight, ~100 registers).
template <class D>
constexpr int kGateUpUnroll = std::is_same_v<D, Dot<WType::Q8_0, true>> ? 8 : 2;

template <class D>
__device__ __forceinline__ void warp_row_dot2(const DevWeight &wa, uint64_t ra, const DevWeight &wb, uint64_t rb,
                                              const DevAct &x, uint64_t act_row, typename D::Acc &sa,
                                              typename D::Acc &sb) {
    constexpr int U = kGateUpUnroll<D>;
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
__global__ void __launch_bounds__(32 * kMoeWarps, 2) moe_gate_up_kernel(DevWeight gate, DevWeight up, DevAct x,
                                                                     const int32_t *sel, const float *weights,
                                                                     uint32_t k, float clamp, float *mid) {
    pdl_enter();  // waits for the previous kernel (launch.cuh)
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
    pdl_enter();  // waits for the previous kernel (launch.cuh)
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

// ---- Decode fast paths: IQ2_XXS gate/up and Q2_K down (the flash-width files) ----
//
// Both are persistent-style: a token's work items (rows) are spread evenly over about as
// many warps as the GPU holds at once (grid.x from the occupancy, grid.y = token), and each
// warp walks its items with a stride, loading the next item's weight bytes before it forms
// the current item's products, so a lane always has a row's loads in flight while it does
// integer math.  Each block term is formed with exactly the integer and float operations of
// Dot<> (and so of the CPU); only the order in which block terms are added differs.

constexpr int kFastWarps = 8;      // warps per block of the IQ2_XXS gate/up kernel
constexpr int kDownWarps = 16;     // warps per block of the Q2_K down kernel (one block per SM)
constexpr int kDownMaxK = 6;       // experts per token the Q2_K down kernel takes

// prmt with sign replication: byte i of the result is 0xff where bit 7 of byte i of v is set.
__device__ __forceinline__ uint32_t byte_signs(uint32_t v) {
    uint32_t r;
    asm("prmt.b32 %0, %1, %2, %3;" : "=r"(r) : "r"(v), "r"(0u), "r"(0xBA98u));
    return r;
}

// Sum over one IQ2_XXS group (32 weights: 4 grid entries of 8) of signed grid value times
// activation code, as an exact integer.  idx: the 4 grid indices; aux: 4 x 7 sign bits and
// the 4-bit scale; x: the 32 activation codes as 8 words.  With m the byte mask of the
// negative values, sum s*g*x = dp4a(g, x) - 2 dp4a(g & m, x) (grid bytes are < 128).
// Multiplying a 7-bit b by 0x10204080 puts bit i of b at bit 8i+7 without carries (the
// four shifted copies occupy disjoint bit ranges), where prmt turns it into a byte mask.
__device__ __forceinline__ int iq2_group_dot(uint32_t idx, uint32_t aux, const uint2 *grid, const uint32_t *x) {
    int pos = 0, neg = 0;
#pragma unroll
    for (int l = 0; l < 4; l++) {
        const uint2 g = grid[(idx >> (8 * l)) & 0xffu];
        const uint32_t s7 = (aux >> (7 * l)) & 127u;
        // ds4's sign table: the 8th sign makes the count of negatives even.
        const uint32_t mlo = byte_signs(s7 * 0x10204080u);
        const uint32_t mhi = byte_signs(((s7 >> 4) * 0x10204080u) | (static_cast<uint32_t>(__popc(s7)) << 31));
        pos = detail::dp4a(g.x, static_cast<int>(x[2 * l]), pos);
        neg = detail::dp4a(g.x & mlo, static_cast<int>(x[2 * l]), neg);
        pos = detail::dp4a(g.y, static_cast<int>(x[2 * l + 1]), pos);
        neg = detail::dp4a(g.y & mhi, static_cast<int>(x[2 * l + 1]), neg);
    }
    return pos - 2 * neg;
}

// The sum of one 16-byte IQ2_XXS chunk (2 groups) against its 64 activation codes, each
// group's sum times 2 * scale + 1 (Dot<IQ2_XXS>::term's integer).
__device__ __forceinline__ int iq2_chunk_dot(const uint4 &q, const uint2 *grid, const uint32_t *x) {
    return static_cast<int>(2 * (q.y >> 28) + 1) * iq2_group_dot(q.x, q.y, grid, x) +
           static_cast<int>(2 * (q.w >> 28) + 1) * iq2_group_dot(q.z, q.w, grid, x + 8);
}

// One work item of the IQ2_XXS gate/up kernel: row i of pair p (gate and up), as loaded.
template <int CPL>
struct Iq2Item {
    uint4 g[CPL], u[CPL];  // the lane's chunks lane + 32 * cc of the gate and up rows
    uint32_t d[CPL];       // f16 scales of their blocks: gate | up << 16 (first lane of a block only)
    uint32_t p = 0, i = 0;
    bool live = false, ok = false;
};

template <int CPL>
__device__ __forceinline__ void iq2_fetch(Iq2Item<CPL> &it, const DevWeight &gate, const DevWeight &up,
                                          const int32_t *sel, uint32_t t, uint32_t k, uint32_t ff, uint64_t n_exp,
                                          uint32_t items, uint32_t item, uint32_t nch, int lane) {
    it.live = item < items;
    it.ok = false;
    if (!it.live) return;
    const uint32_t j = item / ff;
    it.p = t * k + j;
    it.i = item - j * ff;
    const int32_t e = __ldg(sel + it.p);
    it.ok = e >= 0 && static_cast<uint64_t>(e) < n_exp;
    if (!it.ok) return;
    const uint64_t row = static_cast<uint64_t>(e) * ff + it.i;
#pragma unroll
    for (int cc = 0; cc < CPL; cc++) {
        const uint32_t c = lane + 32 * cc;
        it.g[cc] = it.u[cc] = make_uint4(0, 0, 0, 0);
        it.d[cc] = 0;
        if (c < nch) {
            it.g[cc] = ldg16(gate.main + row * gate.main_row + c * 16ull);
            it.u[cc] = ldg16(up.main + row * up.main_row + c * 16ull);
            if ((c & 3u) == 0) {
                const uint32_t dg = __ldg(reinterpret_cast<const unsigned short *>(gate.side + row * gate.side_row) + c / 4);
                const uint32_t du = __ldg(reinterpret_cast<const unsigned short *>(up.side + row * up.side_row) + c / 4);
                it.d[cc] = dg | (du << 16);
            }
        }
    }
}

// IQ2_XXS gate + up + SwiGLU for the pairs of token blockIdx.y.  A lane keeps its chunks'
// activation codes (CPL x 64 bytes) in registers for all its rows, the IQ2 grid is in
// shared memory, and the sign masks are computed (iq2_group_dot).  Rows of CPL * 2048
// values at most (chunk c = lane + 32 * cc).
template <int CPL>
__global__ void __launch_bounds__(32 * kFastWarps, 2)
    moe_gate_up_iq2_kernel(DevWeight gate, DevWeight up, DevAct x, const int32_t *sel, const float *weights,
                           uint32_t k, float clamp, float *mid) {
    __shared__ uint2 s_grid[256];
    for (uint32_t i = threadIdx.x; i < 256; i += blockDim.x) s_grid[i] = reinterpret_cast<const uint2 *>(gate.iq2_grid)[i];
    pdl_enter();  // the codebook (uploaded at load time) before, activations after (launch.cuh)
    const uint32_t t = blockIdx.y;
    const int lane = threadIdx.x & 31;
    const uint32_t ff = static_cast<uint32_t>(gate.rows_per_expert), nch = gate.k / 64;
    uint32_t xr[CPL][16];
    float dy[CPL];
#pragma unroll
    for (int cc = 0; cc < CPL; cc++) {
        const uint32_t c = lane + 32 * cc;
        dy[cc] = 0.0f;
#pragma unroll
        for (int w = 0; w < 16; w++) xr[cc][w] = 0;
        if (c < nch) {
            const int8_t *xq = x.q + uint64_t{t} * x.stride + c * 64ull;
#pragma unroll
            for (int v = 0; v < 4; v++) {
                const uint4 q = ldg16(xq + 16 * v);
                xr[cc][4 * v] = q.x;
                xr[cc][4 * v + 1] = q.y;
                xr[cc][4 * v + 2] = q.z;
                xr[cc][4 * v + 3] = q.w;
            }
            dy[cc] = __ldg(x.d + uint64_t{t} * (x.stride / 256) + c / 4);
        }
    }
    __syncthreads();  // s_grid
    const uint32_t items = k * ff, stride = gridDim.x * kFastWarps;
    const uint64_t n_exp = gate.rows / ff;
    uint32_t item = blockIdx.x * kFastWarps + (threadIdx.x >> 5);
    Iq2Item<CPL> cur;
    iq2_fetch(cur, gate, up, sel, t, k, ff, n_exp, items, item, nch, lane);
    while (cur.live) {
        Iq2Item<CPL> nxt;
        iq2_fetch(nxt, gate, up, sel, t, k, ff, n_exp, items, item + stride, nch, lane);
        float res = 0.0f;
        if (cur.ok) {
            float ag = 0.0f, au = 0.0f;
#pragma unroll
            for (int cc = 0; cc < CPL; cc++) {
                const uint32_t c = lane + 32 * cc;
                int bg = 0, bu = 0;
                if (c < nch) {
                    bg = iq2_chunk_dot(cur.g[cc], s_grid, xr[cc]);
                    bu = iq2_chunk_dot(cur.u[cc], s_grid, xr[cc]);
                }
                bg = group_sum<4>(bg);
                bu = group_sum<4>(bu);
                if (c < nch && (c & 3u) == 0) {
                    // Dot<IQ2_XXS>::term's float operations.
                    const float dg = half_bits_to_float(static_cast<uint16_t>(cur.d[cc] & 0xffffu)) * dy[cc];
                    const float du = half_bits_to_float(static_cast<uint16_t>(cur.d[cc] >> 16)) * dy[cc];
                    ag += dg * static_cast<float>(bg);
                    au += du * static_cast<float>(bu);
                }
            }
            const float g = Dot<WType::IQ2_XXS, true>::finish(warp_sum(ag));
            const float u = Dot<WType::IQ2_XXS, true>::finish(warp_sum(au));
            if (lane == 0) res = shared::clamped_swiglu(g, u, clamp) * __ldg(weights + cur.p);
        }
        if (lane == 0) mid[uint64_t{cur.p} * ff + cur.i] = res;
        cur = nxt;
        item += stride;
    }
}

// Q2_K down products for token blockIdx.y: out[o] = sum over the token's experts j (in
// order) of row o of expert e_j . q8k(mid[t*k + j]).  The block quantizes the token's k f32
// SwiGLU rows to Q8_K itself (exactly as launch_quantize_q8_k does: one warp per 256
// values) into shared memory, which replaces the separate quantization launch; every block
// repeats it (k * ff floats from L2, ~24 values per thread) while its first row's weight
// loads are already in flight.  A warp takes output rows with a stride and loads the next
// row's k expert rows (lane c: 16 code bytes of chunk c, its half of the block's scales,
// and the block's d/dmin on the block's first lane) before forming the current one.  Rows
// of at most 2048 values (chunk c = lane).
//
// Shared layout of a pair's codes: 16-byte unit 8h + r (r = 2jj + odd, the unit chunk
// 4b + 2h + odd reads at step jj) of block b is stored at unit 8h + (r ^ (2h + 4(b & 1))),
// so that the 8 lanes of a quarter warp read 8 different bank groups at every step.
struct Q2Raw {
    uint4 q;
    uint2 sc;
    uint32_t dm;
};

__device__ __forceinline__ uint32_t q2_unit(uint32_t b, uint32_t h, uint32_t r) {
    return 16 * b + 8 * h + (r ^ (2 * h + 4 * (b & 1u)));
}

// Q8_K codes of 256-value block b of a row by one warp (lane: values 8 * lane .. + 7), the
// CPU's recipe (quant/act_quant.cpp): iscale = -127 / (the first value of largest
// magnitude; NaN never wins), codes quant_code(iscale * v), d = 1 / iscale, all zero when
// the largest magnitude is 0.  Writes the lane's 8 codes (q2_unit layout), the 16-code sums
// (even lanes) and d (lane 0).
__device__ __forceinline__ void q8k_block_to_shared(const float *x, int lane, int8_t *codes, uint32_t b,
                                                    int32_t *bsums, float *d) {
    const float4 x0 = __ldg(reinterpret_cast<const float4 *>(x) + 2 * lane);
    const float4 x1 = __ldg(reinterpret_cast<const float4 *>(x) + 2 * lane + 1);
    const float v[8] = {x0.x, x0.y, x0.z, x0.w, x1.x, x1.y, x1.z, x1.w};
    float ax = -1.0f;
    int idx = 0;
#pragma unroll
    for (int i = 0; i < 8; i++) {
        const float a = isnan(v[i]) ? -1.0f : fabsf(v[i]);
        if (a > ax) {  // strict: the first of equal magnitudes
            ax = a;
            idx = 8 * lane + i;
        }
    }
    warp_argmax_lowest(ax, idx);
    float mine = v[0];
#pragma unroll
    for (int i = 1; i < 8; i++)
        if (8 * lane + i == idx) mine = v[i];
    const float max = __shfl_sync(kFullMask, mine, idx >> 3);
    uint32_t w0 = 0, w1 = 0;
    int sum = 0;
    float scale = 0.0f;
    if (ax > 0.0f) {
        const float iscale = -127.0f / max;
#pragma unroll
        for (int i = 0; i < 8; i++) {
            const int8_t c = quant_code(iscale * v[i]);
            sum += c;
            const uint32_t byte = static_cast<uint32_t>(static_cast<uint8_t>(c)) << (8 * (i & 3));
            if (i < 4) w0 |= byte;
            else w1 |= byte;
        }
        scale = 1.0f / iscale;
    }
    // Lanes 2u and 2u+1 hold unit u (codes 16u .. 16u + 15) of the block.
    const uint32_t u = static_cast<uint32_t>(lane) >> 1;
    *reinterpret_cast<uint2 *>(codes + 16 * q2_unit(b, (u >> 3) & 1u, u & 7u) + 8 * (lane & 1)) = make_uint2(w0, w1);
    sum += __shfl_xor_sync(kFullMask, sum, 1);
    if ((lane & 1) == 0) bsums[u] = sum;
    if (lane == 0) *d = scale;
}

__global__ void __launch_bounds__(32 * kDownWarps, 1)
    moe_down_q2k_kernel(DevWeight down, const float *mid, const int32_t *sel, uint32_t k, float *out,
                        uint64_t out_stride) {
    pdl_enter();  // waits for the previous kernel (launch.cuh)
    extern __shared__ uint4 s_dyn[];
    const uint32_t t = blockIdx.y;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const uint32_t ff = down.k, nch = ff / 64, nblk = ff / 256, d_out = static_cast<uint32_t>(down.rows_per_expert);
    int8_t *s_q = reinterpret_cast<int8_t *>(s_dyn);                         // [k][ff]
    int32_t *s_bs = reinterpret_cast<int32_t *>(s_q + uint64_t{k} * ff);     // [k][ff / 16]
    float *s_d = reinterpret_cast<float *>(s_bs + uint64_t{k} * (ff / 16));  // [k][nblk]
    const uint64_t n_exp = down.rows / d_out;
    int32_t e[kDownMaxK];
    bool ok[kDownMaxK];
#pragma unroll
    for (int j = 0; j < kDownMaxK; j++) {
        e[j] = static_cast<uint32_t>(j) < k ? __ldg(sel + uint64_t{t} * k + j) : -1;
        ok[j] = e[j] >= 0 && static_cast<uint64_t>(e[j]) < n_exp;
    }
    const uint32_t c = lane, b = c >> 2, p = c & 3u, h = p >> 1, odd = p & 1u;
    const bool lane_ok = c < nch;
    const uint32_t stride = gridDim.x * kDownWarps;
    uint32_t o = blockIdx.x * kDownWarps + warp;
    auto fetch = [&](Q2Raw (&r)[kDownMaxK], uint32_t row_o) {
#pragma unroll
        for (int j = 0; j < kDownMaxK; j++) {
            r[j].q = make_uint4(0, 0, 0, 0);
            r[j].sc = make_uint2(0, 0);
            r[j].dm = 0;
            if (row_o < d_out && ok[j] && lane_ok) {
                const uint64_t row = static_cast<uint64_t>(e[j]) * d_out + row_o;
                const uint8_t *blk = down.main + row * down.main_row + b * 80ull;
                r[j].q = ldg16(blk + 16 * p);
                r[j].sc = __ldg(reinterpret_cast<const uint2 *>(blk + 64 + 8 * h));
                if (p == 0) r[j].dm = __ldg(reinterpret_cast<const unsigned int *>(down.side + row * down.side_row) + b);
            }
        }
    };
    Q2Raw cur[kDownMaxK];
    fetch(cur, o);  // in flight during the quantization below
    for (uint32_t qb = warp; qb < k * nblk; qb += kDownWarps) {
        const uint32_t j = qb / nblk, blk = qb - j * nblk;
        q8k_block_to_shared(mid + uint64_t{t * k + j} * ff + 256ull * blk, lane, s_q + uint64_t{j} * ff, blk,
                            s_bs + uint64_t{j} * (ff / 16) + 16 * blk, s_d + qb);
    }
    __syncthreads();
    while (o < d_out) {
        Q2Raw nxt[kDownMaxK];
        fetch(nxt, o + stride);
        float acc = 0.0f;
#pragma unroll
        for (int j = 0; j < kDownMaxK; j++) {
            if (!ok[j]) continue;  // warp-uniform
            int isum = 0, summs = 0;
            if (lane_ok) {
                const uint4 *xs = reinterpret_cast<const uint4 *>(s_q + static_cast<uint64_t>(j) * ff);
#pragma unroll
                for (int jj = 0; jj < 4; jj++) {
                    // Element 128h + 32jj + 16odd + l is bits 2jj of code byte 32h + 16odd + l,
                    // scaled by scales[8h + 2jj + odd] (Dot<Q2_K>::term).
                    const uint4 xv = xs[q2_unit(b, h, 2 * jj + odd)];
                    int sub = detail::dp4a((cur[j].q.x >> (2 * jj)) & 0x03030303u, static_cast<int>(xv.x), 0);
                    sub = detail::dp4a((cur[j].q.y >> (2 * jj)) & 0x03030303u, static_cast<int>(xv.y), sub);
                    sub = detail::dp4a((cur[j].q.z >> (2 * jj)) & 0x03030303u, static_cast<int>(xv.z), sub);
                    sub = detail::dp4a((cur[j].q.w >> (2 * jj)) & 0x03030303u, static_cast<int>(xv.w), sub);
                    const uint32_t word = jj < 2 ? cur[j].sc.x : cur[j].sc.y;
                    isum += static_cast<int>((word >> (8 * (odd + 2 * (jj & 1)))) & 15u) * sub;
                }
                // This lane's share of the mins: sub-blocks 4p .. 4p+3 (scales word p = 2h + odd).
                const uint32_t mw = odd ? cur[j].sc.y : cur[j].sc.x;
                const int4 bs = *reinterpret_cast<const int4 *>(s_bs + static_cast<uint64_t>(j) * (ff / 16) + 16 * b + 4 * p);
                summs = bs.x * static_cast<int>((mw >> 4) & 15u) + bs.y * static_cast<int>((mw >> 12) & 15u) +
                        bs.z * static_cast<int>((mw >> 20) & 15u) + bs.w * static_cast<int>(mw >> 28);
            }
            isum = group_sum<4>(isum);
            summs = group_sum<4>(summs);
            float term = 0.0f;
            if (lane_ok && p == 0) {
                const float dy = s_d[j * nblk + b];
                const float dall = dy * half_bits_to_float(static_cast<uint16_t>(cur[j].dm & 0xffffu));
                const float dmin = dy * half_bits_to_float(static_cast<uint16_t>(cur[j].dm >> 16));
                const float pos = dall * static_cast<float>(isum);
                const float neg = dmin * static_cast<float>(summs);
                term = pos - neg;
            }
            acc += warp_sum(term);
        }
        if (lane == 0) out[uint64_t{t} * out_stride + o] = acc;
#pragma unroll
        for (int j = 0; j < kDownMaxK; j++) cur[j] = nxt[j];
        o += stride;
    }
}

// Groups the pairs by expert in one block of kGroupThreads threads (the pair list of a
// sub-batch is at most a few thousand entries): a shared-memory histogram (integer atomics:
// the counts do not depend on their order), one warp's scans of the pair and tile offsets,
// then a stable placement in rounds of kGroupThreads consecutive pairs: inside a warp,
// __match_any_sync ranks the lanes that share an expert; across warps, each expert's
// per-warp counts are scanned in warp order.  So every expert's pairs keep ascending pair
// order, exactly as a sequential pass would place them.
constexpr int kGroupThreads = 1024, kGroupWarps = kGroupThreads / 32;

__global__ void __launch_bounds__(kGroupThreads) moe_group_kernel(const int32_t *sel, uint32_t np, uint32_t n_expert,
                                                                  int32_t *pairs, int32_t *tile_expert,
                                                                  int32_t *tile_begin, int32_t *tile_count,
                                                                  int32_t *n_tiles) {
    pdl_enter();  // waits for the previous kernel (launch.cuh)
    // count[n_expert], run[n_expert] (next free position), wc[kGroupWarps][n_expert]
    extern __shared__ int32_t s[];
    int32_t *s_count = s, *s_run = s + n_expert, *s_wc = s + 2 * n_expert;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const auto valid = [n_expert](int32_t e) { return e >= 0 && static_cast<uint32_t>(e) < n_expert; };

    for (uint32_t e = tid; e < n_expert; e += kGroupThreads) s_count[e] = 0;
    __syncthreads();
    for (uint32_t p = tid; p < np; p += kGroupThreads) {
        const int32_t e = __ldg(sel + p);
        if (valid(e)) atomicAdd(&s_count[e], 1);
    }
    __syncthreads();

    // Offsets: lane l scans experts [l * per, (l + 1) * per) after a warp scan of the lanes'
    // totals; it writes its experts' tiles (expert order, kGemmTileTokens pairs each).
    if (warp == 0) {
        const uint32_t per = (n_expert + 31) / 32, e0 = min(n_expert, lane * per), e1 = min(n_expert, e0 + per);
        int32_t pairs_sum = 0, tiles_sum = 0;
        for (uint32_t e = e0; e < e1; e++) {
            pairs_sum += s_count[e];
            tiles_sum += (s_count[e] + static_cast<int32_t>(kGemmTileTokens) - 1) / static_cast<int32_t>(kGemmTileTokens);
        }
        int32_t pairs_incl = pairs_sum, tiles_incl = tiles_sum;
#pragma unroll
        for (int o = 1; o < 32; o <<= 1) {
            const int32_t pv = __shfl_up_sync(kFullMask, pairs_incl, o), tv = __shfl_up_sync(kFullMask, tiles_incl, o);
            if (lane >= o) {
                pairs_incl += pv;
                tiles_incl += tv;
            }
        }
        int32_t off = pairs_incl - pairs_sum, nt = tiles_incl - tiles_sum;
        for (uint32_t e = e0; e < e1; e++) {
            s_run[e] = off;
            for (int32_t b = 0; b < s_count[e]; b += static_cast<int32_t>(kGemmTileTokens)) {
                tile_expert[nt] = static_cast<int32_t>(e);
                tile_begin[nt] = off + b;
                tile_count[nt] = min(static_cast<int32_t>(kGemmTileTokens), s_count[e] - b);
                nt++;
            }
            off += s_count[e];
        }
        if (lane == 31) *n_tiles = tiles_incl;
    }

    const uint32_t lanes_below = (1u << lane) - 1u;
    for (uint32_t base = 0; base < np; base += kGroupThreads) {
        for (uint32_t i = tid; i < kGroupWarps * n_expert; i += kGroupThreads) s_wc[i] = 0;
        const uint32_t p = base + tid;
        const int32_t e = p < np ? __ldg(sel + p) : -1;
        const bool ok = p < np && valid(e);
        const uint32_t same = __match_any_sync(kFullMask, ok ? e : -1);
        const int32_t rank = __popc(same & lanes_below);
        __syncthreads();  // s_wc cleared (and, in the first round, s_run written)
        if (ok && rank == 0) s_wc[warp * n_expert + e] = __popc(same);
        __syncthreads();
        // Each expert's counts over the warps -> the warps' first positions, in warp order.
        for (uint32_t x = tid; x < n_expert; x += kGroupThreads) {
            int32_t run = s_run[x];
            for (int w = 0; w < kGroupWarps; w++) {
                const int32_t c = s_wc[w * n_expert + x];
                s_wc[w * n_expert + x] = run;
                run += c;
            }
            s_run[x] = run;
        }
        __syncthreads();
        if (ok) pairs[s_wc[warp * n_expert + e] + rank] = static_cast<int32_t>(p);
        __syncthreads();  // s_wc is cleared again next round
    }
}

__global__ void moe_swiglu_kernel(const float *g, const float *u, const int32_t *sel, const float *weights,
                                  uint64_t total, uint32_t ff, uint32_t n_expert, float clamp, float *mid) {
    pdl_enter();  // waits for the previous kernel (launch.cuh)
    for (uint64_t i = blockIdx.x * uint64_t{blockDim.x} + threadIdx.x; i < total; i += uint64_t{gridDim.x} * blockDim.x) {
        const uint64_t p = i / ff;
        const int32_t e = sel[p];
        mid[i] = (e < 0 || static_cast<uint32_t>(e) >= n_expert) ? 0.0f
                                                                 : shared::clamped_swiglu(g[i], u[i], clamp) * weights[p];
    }
}

__global__ void moe_reduce_kernel(const float *part, const int32_t *sel, uint32_t k, uint32_t d_out, uint32_t n_expert,
                                  uint64_t total, float *out) {
    pdl_enter();  // waits for the previous kernel (launch.cuh)
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

// Blocks per token of a persistent-style kernel: enough to fill every SM to the kernel's
// occupancy once over all n tokens, and no more than the token's items need.  The SM count
// and occupancy are host-side queries (no stream work, so also fine while a step is being
// recorded), cached per device, kernel and shared-memory size.
template <class K>
unsigned persistent_blocks(K kernel, int threads, size_t smem, uint32_t n, uint64_t items_per_token, int warps) {
    static std::mutex mu;
    static std::map<std::tuple<int, const void *, int, size_t>, uint64_t> resident;  // blocks the GPU holds
    int dev = 0;
    check(cudaGetDevice(&dev), "cudaGetDevice");
    uint64_t fill = 0;
    {
        const std::lock_guard<std::mutex> lock(mu);
        const auto key = std::make_tuple(dev, reinterpret_cast<const void *>(kernel), threads, smem);
        auto it = resident.find(key);
        if (it == resident.end()) {
            int sms = 0, occ = 0;
            check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev), "cudaDeviceGetAttribute");
            check(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&occ, kernel, threads, smem), "cudaOccupancy");
            it = resident.emplace(key, uint64_t{static_cast<uint32_t>(std::max(sms, 1))} * std::max(occ, 1)).first;
        }
        fill = it->second;
    }
    fill = std::max<uint64_t>(1, fill / n);
    const uint64_t need = (items_per_token + warps - 1) / warps;
    return static_cast<unsigned>(std::max<uint64_t>(1, std::min(fill, need)));
}

template <class D>
void gate_up_typed(const DevWeight &gate, const DevWeight &up, const DevAct &x, const int32_t *sel,
                   const float *weights, uint32_t n, uint32_t k, float clamp, float *mid, cudaStream_t stream) {
    const dim3 grid(static_cast<unsigned>((gate.rows_per_expert + kMoeWarps - 1) / kMoeWarps), n * k);
    launch_pdl("moe_gate_up_kernel", moe_gate_up_kernel<D>, dim3(grid), dim3(32 * kMoeWarps), 0, stream, gate, up, x, sel, weights, k, clamp, mid);
}

template <class D>
void down_typed(const DevWeight &down, const DevAct &mid, const int32_t *sel, uint32_t n, uint32_t k, float *out,
                uint64_t out_stride, cudaStream_t stream) {
    const dim3 grid(static_cast<unsigned>((down.rows_per_expert + kMoeWarps - 1) / kMoeWarps), n);
    launch_pdl("moe_down_kernel", moe_down_kernel<D>, dim3(grid), dim3(32 * kMoeWarps), 0, stream, down, mid, sel, k, out, out_stride);
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
    const uint32_t ff = static_cast<uint32_t>(gate.rows_per_expert), nch = gate.k / 64;
    if (gate.type == WType::IQ2_XXS && up.type == WType::IQ2_XXS && x.kind == ActKind::Q8_K && gate.iq2_grid &&
        up.k == gate.k && gate.k % 256 == 0 && nch <= 64 && uint64_t{k} * ff < (uint64_t{1} << 32)) {
        auto go = [&](auto kernel) {
            const unsigned bx = persistent_blocks(kernel, 32 * kFastWarps, 0, n, uint64_t{k} * ff, kFastWarps);
            launch_pdl("moe_gate_up_iq2_kernel", kernel, dim3(bx, n), dim3(32 * kFastWarps), 0, stream, gate, up, x, sel, weights, k, clamp, mid);
        };
        if (nch <= 32) go(moe_gate_up_iq2_kernel<1>);
        else go(moe_gate_up_iq2_kernel<2>);
    } else {
        with_dot(gate.type, vec_ok(gate, x) && vec_ok(up, x), [&](auto d) {
            gate_up_typed<decltype(d)>(gate, up, x, sel, weights, n, k, clamp, mid, stream);
        });
    }
    check_launch("moe_gate_up", stream);
}

void launch_moe_down(const DevWeight &down, const DevAct &mid, const int32_t *sel, uint32_t n, uint32_t k,
                     float *out, uint64_t out_stride, cudaStream_t stream) {
    if (n == 0 || k == 0) return;
    if (n > 65535) fail("routed experts: %u tokens exceed one launch", n);
    with_dot(down.type, vec_ok(down, mid),
             [&](auto d) { down_typed<decltype(d)>(down, mid, sel, n, k, out, out_stride, stream); });
    check_launch("moe_down", stream);
}

bool moe_down_f32_supported(const DevWeight &down, uint32_t k, const float *mid) {
    const uint64_t ff = down.k;
    return down.type == WType::Q2_K && ff % 256 == 0 && ff / 64 <= 32 && k >= 1 && k <= kDownMaxK &&
           down.rows_per_expert > 0 && down.rows_per_expert < (uint64_t{1} << 31) &&
           (reinterpret_cast<uintptr_t>(mid) & 15u) == 0 && (reinterpret_cast<uintptr_t>(down.main) & 15u) == 0;
}

void launch_moe_down_f32(const DevWeight &down, const float *mid, const int32_t *sel, uint32_t n, uint32_t k,
                         float *out, uint64_t out_stride, cudaStream_t stream) {
    if (n == 0 || k == 0) return;
    if (!moe_down_f32_supported(down, k, mid)) fail("routed experts: no f32-input down kernel for this weight");
    if (n > 65535) fail("routed experts: %u tokens exceed one launch", n);
    const uint32_t ff = down.k;
    const size_t smem = size_t{k} * (ff + ff / 4 + ff / 64);  // codes, bsums, scales: <= 15.4 KiB
    const unsigned bx =
        persistent_blocks(moe_down_q2k_kernel, 32 * kDownWarps, smem, n, down.rows_per_expert, kDownWarps);
    launch_pdl("moe_down_q2k_kernel", moe_down_q2k_kernel, dim3(bx, n), dim3(32 * kDownWarps), smem, stream, down, mid, sel, k, out, out_stride);
    check_launch("moe_down_f32", stream);
}

void launch_moe_group(const int32_t *sel, uint32_t n, uint32_t k, uint32_t n_expert, int32_t *pairs,
                      int32_t *tile_expert, int32_t *tile_begin, int32_t *tile_count, int32_t *n_tiles,
                      cudaStream_t stream) {
    const uint32_t np = n * k;
    const size_t smem = (2 + size_t{kGroupWarps}) * n_expert * sizeof(int32_t);
    if (smem > 48 * 1024) fail("routed experts: %u experts are too many to group in one launch", n_expert);
    launch_pdl("moe_group_kernel", moe_group_kernel, dim3(1), dim3(kGroupThreads), smem, stream, sel, np, n_expert, pairs, tile_expert, tile_begin, tile_count,
                                                         n_tiles);
    check_launch("moe_group", stream);
}

void launch_moe_swiglu(const float *g, const float *u, const int32_t *sel, const float *weights, uint32_t pairs,
                       uint32_t ff, uint32_t n_expert, float clamp, float *mid, cudaStream_t stream) {
    const uint64_t total = uint64_t{pairs} * ff;
    if (total == 0) return;
    launch_pdl("moe_swiglu_kernel", moe_swiglu_kernel, dim3(capped_grid(total)), dim3(256), 0, stream, g, u, sel, weights, total, ff, n_expert, clamp, mid);
    check_launch("moe_swiglu", stream);
}

void launch_moe_reduce(const float *part, const int32_t *sel, uint32_t n, uint32_t k, uint32_t d_out,
                       uint32_t n_expert, float *out, cudaStream_t stream) {
    const uint64_t total = uint64_t{n} * d_out;
    if (total == 0) return;
    launch_pdl("moe_reduce_kernel", moe_reduce_kernel, dim3(capped_grid(total)), dim3(256), 0, stream, part, sel, k, d_out, n_expert, total, out);
    check_launch("moe_reduce", stream);
}

}  // namespace dstar::backend::cuda
