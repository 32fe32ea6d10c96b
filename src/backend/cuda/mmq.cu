// Batched products of quantized weights (Q8_0, Q2_K, Q4_K, IQ2_XXS) and int8-quantized
// activations on tensor cores (mma.sync int8), for prefill and grouped routed experts.
//
// Why int8 and not dequantized bf16 tiles: the CPU reference (ds4's numerics) quantizes the
// activations to int8 and forms, per quant block, an exact integer dot product scaled by the
// block's float scales.  The int8 tensor cores compute exactly those integer sums, so each
// block term here equals the CPU's bit for bit; and because every (row, token) accumulator
// adds its block terms in ascending K order, as the CPU does, the products are the CPU's
// bit for bit.  Prefill therefore agrees with decode and with the reference to rounding of
// nothing at all, and int8 tensor cores run at twice the bf16 rate.
//
// Tile: 64 weight rows x 64 tokens per block of 4 warps (2 x 2, 32 x 32 each); K advances
// one 256-element step at a time (one super-block of K-quants, eight Q8_0 blocks): weight
// codes are expanded to int8 in shared memory with their sub-block scales, activation codes
// are copied, then each 32- (or 16-) element sub-block is one mma per 16 x 8 fragment,
// scaled into the accumulators in block order.  The K-quant and IQ2 weight bytes of steps
// k + 1 and k + 2 are in registers or in flight while step k's MMAs run (fetch_weights /
// store_weights), every global load of a step is issued before any of its results is used,
// and a warp skips the fragments of empty token slots (expert tiles of a prefill chunk hold
// a few tokens each).
#include "backend/cuda/check.h"
#include "backend/cuda/dot.cuh"
#include "backend/cuda/mma.cuh"
#include "common/error.h"

namespace dstar::backend::cuda {

namespace {

constexpr int BM = static_cast<int>(kGemmTileRows), BN = static_cast<int>(kGemmTileTokens), KT = 256;
constexpr int LDS = KT + 16;  // bytes per shared row: 68 words, so fragment loads hit 32 banks

struct __align__(16) MmqSmem {
    int8_t a[BM][LDS];    // weight codes of the step
    int8_t b[BN][LDS];    // activation codes of the step
    float ad[BM][8];      // Q8_0: block scales; K-quants: [0] d, [1] dmin
    uint8_t asc[BM][16];  // Q2_K: scale bytes; Q4_K: sc[8], m[8]; IQ2_XXS: 2*ls+1
    float bd[BN][8];      // Q8_0: block scales; Q8_K: [0] d
    int32_t bs[BN][16];   // Q8_K: sums of 16 codes
    int act_row[BN];      // activation row of each token slot (-1: empty slot)
    int out_row[BN];      // output row of each token slot
};

__device__ __forceinline__ uint4 codes2(uint4 v, int shift) {
    return make_uint4((v.x >> shift) & 0x03030303u, (v.y >> shift) & 0x03030303u, (v.z >> shift) & 0x03030303u,
                      (v.w >> shift) & 0x03030303u);
}
__device__ __forceinline__ uint4 codes4(uint4 v, int shift) {
    return make_uint4((v.x >> shift) & 0x0f0f0f0fu, (v.y >> shift) & 0x0f0f0f0fu, (v.z >> shift) & 0x0f0f0f0fu,
                      (v.w >> shift) & 0x0f0f0f0fu);
}
__device__ __forceinline__ void st16(int8_t *p, uint4 v) { *reinterpret_cast<uint4 *>(p) = v; }

// float(v) for |v| < 2^22, exactly (the same value as the conversion instruction): v added
// to the bits of 1.5 * 2^23 (whose ulp is 1) gives the float 1.5 * 2^23 + v, and the
// subtraction is exact.  Two full-rate instructions instead of an int-to-float conversion,
// which runs at an eighth of the FMA rate or less and bounded the Q8_0 product (one conversion
// per accumulator and 32-element block: |v| <= 32 * 128 * 128 = 2^19).
__device__ __forceinline__ float small_int_to_float(int v) {
    return __int_as_float(v + 0x4B400000) - 12582912.0f;
}

// Weight loads are split in two so that a step's bytes are in flight while the previous
// step's MMAs run (the grouped MoE products stream every expert's weights from DRAM once
// per tile, and a tile holds few tokens: without the overlap each step waited for its
// loads, ~200-300 GB/s): fetch_weights issues every global load of a step into registers
// (fixed trip counts, so all are in flight together), store_weights decodes them into
// shared memory with the same integer and float operations as before.  Slot i of a thread
// is item tid + 128 * i of the step; rows past the matrix read as zero.
constexpr int kThreads = 128;

template <WType T>
struct WeightRegs;
template <>
struct WeightRegs<WType::Q8_0> {
    uint4 q[BM * 16 / kThreads];       // 16-byte chunks: row i >> 4, chunk i & 15
    uint16_t d[BM * 8 / kThreads];     // block scales: row i >> 3, block i & 7
};
template <>
struct WeightRegs<WType::Q2_K> {
    uint4 q[BM * 4 / kThreads];  // row i >> 2, quarter i & 3 of the 64 code bytes
    uint4 sc;                    // scale bytes of row tid (tid < BM)
    uint32_t dm;                 // d | dmin << 16 of row tid
};
template <>
struct WeightRegs<WType::Q4_K> {
    uint4 q[BM * 8 / kThreads];  // row i >> 3, eighth i & 7 of the 128 code bytes
    uint4 hdr;                   // header (d, dmin, scales) of row tid
};
template <>
struct WeightRegs<WType::IQ2_XXS> {
    uint2 q[BM * 8 / kThreads];  // row i >> 3, group i & 7: grid indices, signs and scale
    uint16_t d;                  // block scale of row tid
};

template <WType T>
__device__ __forceinline__ void fetch_weights(WeightRegs<T> &g, const DevWeight &w, uint64_t base_row, uint64_t row0,
                                              uint64_t rows, uint32_t k0) {
    const int tid = threadIdx.x;
    const uint32_t sb = k0 / 256;
    const auto row_ptr = [&](int r) { return w.main + (base_row + row0 + r) * w.main_row; };
    const auto side_ptr = [&](int r) { return w.side + (base_row + row0 + r) * w.side_row; };
    if constexpr (T == WType::Q8_0) {
        const uint32_t nblk = w.k / 32;
#pragma unroll
        for (int j = 0; j < BM * 16 / kThreads; j++) {
            const int i = tid + kThreads * j, r = i >> 4, ch = i & 15;
            const bool ok = row0 + r < rows && k0 / 32 + ch / 2 < nblk;
            g.q[j] = ok ? ldg16(row_ptr(r) + k0 + ch * 16) : make_uint4(0, 0, 0, 0);
        }
#pragma unroll
        for (int j = 0; j < BM * 8 / kThreads; j++) {
            const int i = tid + kThreads * j, r = i >> 3, b = i & 7;
            const uint32_t blk = k0 / 32 + b;
            g.d[j] = row0 + r < rows && blk < nblk ? __ldg(reinterpret_cast<const unsigned short *>(side_ptr(r)) + blk)
                                                   : uint16_t{0};
        }
    } else if constexpr (T == WType::Q2_K) {
#pragma unroll
        for (int j = 0; j < BM * 4 / kThreads; j++) {
            const int i = tid + kThreads * j, r = i >> 2, p = i & 3;
            g.q[j] = row0 + r < rows ? ldg16(row_ptr(r) + sb * 80ull + p * 16) : make_uint4(0, 0, 0, 0);
        }
        const bool ok = tid < BM && row0 + tid < rows;
        g.sc = ok ? ldg16(row_ptr(tid) + sb * 80ull + 64) : make_uint4(0, 0, 0, 0);
        g.dm = ok ? __ldg(reinterpret_cast<const unsigned int *>(side_ptr(tid)) + sb) : 0u;
    } else if constexpr (T == WType::Q4_K) {
#pragma unroll
        for (int j = 0; j < BM * 8 / kThreads; j++) {
            const int i = tid + kThreads * j, r = i >> 3, p = i & 7;
            g.q[j] = row0 + r < rows ? ldg16(row_ptr(r) + sb * 144ull + 16 + p * 16) : make_uint4(0, 0, 0, 0);
        }
        const bool ok = tid < BM && row0 + tid < rows;
        g.hdr = ok ? ldg16(row_ptr(tid) + sb * 144ull) : make_uint4(0, 0, 0, 0);
    } else if constexpr (T == WType::IQ2_XXS) {
#pragma unroll
        for (int j = 0; j < BM * 8 / kThreads; j++) {
            const int i = tid + kThreads * j, r = i >> 3, gr = i & 7;
            g.q[j] = row0 + r < rows ? __ldg(reinterpret_cast<const uint2 *>(row_ptr(r) + sb * 64ull + gr * 8))
                                     : make_uint2(0, 0);
        }
        const bool ok = tid < BM && row0 + tid < rows;
        g.d = ok ? __ldg(reinterpret_cast<const unsigned short *>(side_ptr(tid)) + sb) : uint16_t{0};
    }
}

// The fetched step -> shared codes/scales (weight rows [row0, row0 + BM)).
template <WType T>
__device__ __forceinline__ void store_weights(MmqSmem &sm, const WeightRegs<T> &g, const DevWeight &w, uint64_t row0,
                                              uint64_t rows) {
    const int tid = threadIdx.x;
    if constexpr (T == WType::Q8_0) {
#pragma unroll
        for (int j = 0; j < BM * 16 / kThreads; j++) {
            const int i = tid + kThreads * j, r = i >> 4, ch = i & 15;
            st16(&sm.a[r][ch * 16], g.q[j]);
        }
#pragma unroll
        for (int j = 0; j < BM * 8 / kThreads; j++) {
            const int i = tid + kThreads * j, r = i >> 3, b = i & 7;
            sm.ad[r][b] = half_bits_to_float(g.d[j]);  // zero bits for rows / blocks past the end
        }
    } else if constexpr (T == WType::Q2_K) {
#pragma unroll
        for (int j = 0; j < BM * 4 / kThreads; j++) {
            const int i = tid + kThreads * j, r = i >> 2, p = i & 3, h = p >> 1, l0 = 16 * (p & 1);
#pragma unroll
            for (int jj = 0; jj < 4; jj++) st16(&sm.a[r][128 * h + 32 * jj + l0], codes2(g.q[j], 2 * jj));
        }
        if (tid < BM) {
            *reinterpret_cast<uint4 *>(&sm.asc[tid][0]) = g.sc;
            sm.ad[tid][0] = half_bits_to_float(static_cast<uint16_t>(g.dm & 0xffffu));
            sm.ad[tid][1] = half_bits_to_float(static_cast<uint16_t>(g.dm >> 16));
        }
    } else if constexpr (T == WType::Q4_K) {
#pragma unroll
        for (int j = 0; j < BM * 8 / kThreads; j++) {
            const int i = tid + kThreads * j, r = i >> 3, p = i & 7, gq = p >> 1, l0 = 16 * (p & 1);
            st16(&sm.a[r][64 * gq + l0], codes4(g.q[j], 0));
            st16(&sm.a[r][64 * gq + 32 + l0], codes4(g.q[j], 4));
        }
        if (tid < BM) {
#pragma unroll
            for (int k = 0; k < 8; k++) {
                int sc, m;
                detail::q4k_scale_min(g.hdr, k, sc, m);
                sm.asc[tid][k] = static_cast<uint8_t>(sc);
                sm.asc[tid][8 + k] = static_cast<uint8_t>(m);
            }
            sm.ad[tid][0] = half_bits_to_float(static_cast<uint16_t>(g.hdr.x & 0xffffu));
            sm.ad[tid][1] = half_bits_to_float(static_cast<uint16_t>(g.hdr.x >> 16));
        }
    } else if constexpr (T == WType::IQ2_XXS) {
        const auto *grid = reinterpret_cast<const unsigned long long *>(w.iq2_grid);
#pragma unroll
        for (int j = 0; j < BM * 8 / kThreads; j++) {
            const int i = tid + kThreads * j, r = i >> 3, gr = i & 7;
            const bool ok = row0 + r < rows;
            const uint32_t idx = g.q[j].x, bits = g.q[j].y;
            uint32_t v[8];
#pragma unroll
            for (int l = 0; l < 4; l++) {
                const uint64_t gv = ok ? __ldg(grid + ((idx >> (8 * l)) & 0xffu)) : 0ull;
                const uint32_t signs = detail::iq2_signs((bits >> (7 * l)) & 127u);
                const uint32_t mlo = detail::byte_mask4(signs), mhi = detail::byte_mask4(signs >> 4);
                v[2 * l] = __vsub4(static_cast<uint32_t>(gv) ^ mlo, mlo);
                v[2 * l + 1] = __vsub4(static_cast<uint32_t>(gv >> 32) ^ mhi, mhi);
            }
            st16(&sm.a[r][32 * gr], make_uint4(v[0], v[1], v[2], v[3]));
            st16(&sm.a[r][32 * gr + 16], make_uint4(v[4], v[5], v[6], v[7]));
            sm.asc[r][gr] = static_cast<uint8_t>(ok ? 2 * (bits >> 28) + 1 : 0);
        }
        if (tid < BM) sm.ad[tid][0] = half_bits_to_float(g.d);
    }
}

// Activation codes of the step for every token slot (fixed trip counts: all loads of a
// thread are issued before its stores).
template <WType T>
__device__ __forceinline__ void load_acts(MmqSmem &sm, const DevAct &act, uint32_t k, uint32_t k0) {
    const int tid = threadIdx.x;
    uint4 q[BN * 16 / kThreads];
#pragma unroll
    for (int j = 0; j < BN * 16 / kThreads; j++) {
        const int i = tid + kThreads * j, s = i >> 4, ch = i & 15;
        const int ar = sm.act_row[s];
        const bool ok = ar >= 0 && k0 + ch * 16 < k;
        q[j] = ok ? ldg16(act.q + static_cast<uint64_t>(ar) * act.stride + k0 + ch * 16) : make_uint4(0, 0, 0, 0);
    }
    if constexpr (T == WType::Q8_0) {
        const uint32_t nblk = k / 32;
        float d[BN * 8 / kThreads];
#pragma unroll
        for (int j = 0; j < BN * 8 / kThreads; j++) {
            const int i = tid + kThreads * j, s = i >> 3, b = i & 7;
            const int ar = sm.act_row[s];
            const uint32_t blk = k0 / 32 + b;
            d[j] = ar >= 0 && blk < nblk ? __ldg(act.d + static_cast<uint64_t>(ar) * (act.stride / 32) + blk) : 0.0f;
        }
#pragma unroll
        for (int j = 0; j < BN * 8 / kThreads; j++) {
            const int i = tid + kThreads * j;
            sm.bd[i >> 3][i & 7] = d[j];
        }
    } else {
        // The 16-code sums only enter the K-quants' min terms: IQ2_XXS (no mins) skips them,
        // a quarter less of the step's L2 traffic (its activation bytes, not the weights,
        // dominate what a 64-row tile reads per step).
        constexpr bool kSums = T != WType::IQ2_XXS;
        int32_t bs[BN * 16 / kThreads];
        if constexpr (kSums) {
#pragma unroll
            for (int j = 0; j < BN * 16 / kThreads; j++) {
                const int i = tid + kThreads * j, s = i >> 4, jj = i & 15;
                const int ar = sm.act_row[s];
                bs[j] = ar >= 0 ? __ldg(act.bsums + static_cast<uint64_t>(ar) * (act.stride / 16) + k0 / 16 + jj) : 0;
            }
        }
        if (tid < BN) {
            const int ar = sm.act_row[tid];
            sm.bd[tid][0] = ar >= 0 ? __ldg(act.d + static_cast<uint64_t>(ar) * (act.stride / 256) + k0 / 256) : 0.0f;
        }
        if constexpr (kSums) {
#pragma unroll
            for (int j = 0; j < BN * 16 / kThreads; j++) {
                const int i = tid + kThreads * j;
                sm.bs[i >> 4][i & 15] = bs[j];
            }
        }
    }
#pragma unroll
    for (int j = 0; j < BN * 16 / kThreads; j++) {
        const int i = tid + kThreads * j;
        st16(&sm.b[i >> 4][(i & 15) * 16], q[j]);
    }
}

// Blocks per SM the register budget must allow (shared memory allows 5): 3 (<= 168
// registers) for the types with two prefetched steps, which fit without spilling (sm_90a,
// nvcc 13: IQ2_XXS 168, Q2_K 161, Q4_K 163-166); 4 (<= 128) for Q8_0 (no prefetch; 16
// bytes spill in the plain variant).
template <WType T>
constexpr int kMinBlocks = T == WType::Q8_0 ? 4 : 3;

template <WType T, bool Grouped>
__global__ void __launch_bounds__(kThreads, kMinBlocks<T>) mmq_kernel(DevWeight w, DevAct act, GemmTokens tok, float *out,
                                                  uint64_t out_stride) {
    __shared__ MmqSmem sm;
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t4 = lane & 3;
    const int wm = warp >> 1, wn = warp & 1;

    int begin, count;
    uint64_t base_row = 0, rows = w.rows;
    if constexpr (Grouped) {
        if (static_cast<int>(blockIdx.y) >= __ldg(tok.n_tiles)) return;  // the whole block leaves
        begin = __ldg(tok.tile_begin + blockIdx.y);
        count = __ldg(tok.tile_count + blockIdx.y);
        rows = w.rows_per_expert;
        base_row = static_cast<uint64_t>(__ldg(tok.tile_expert + blockIdx.y)) * w.rows_per_expert;
    } else {
        begin = static_cast<int>(blockIdx.y) * BN;
        count = min(BN, static_cast<int>(tok.n) - begin);
    }
    const uint64_t row0 = uint64_t{blockIdx.x} * BM;
    if (tid < BN) {
        int ar = -1, orow = -1;
        if (tid < count) {
            if constexpr (Grouped) {
                const int p = __ldg(tok.pairs + begin + tid);
                ar = p / static_cast<int>(tok.act_div);
                orow = p;
            } else {
                ar = orow = begin + tid;
            }
        }
        sm.act_row[tid] = ar;
        sm.out_row[tid] = orow;
    }
    __syncthreads();

    // Fragments (8 token slots each) of this warp that hold a token: the others are skipped
    // (their products would only add zeros to outputs that are never written).  Expert
    // tiles of a prefill chunk hold a few tokens each, so most of the scale math goes.
    bool live[4];
#pragma unroll
    for (int ni = 0; ni < 4; ni++) live[ni] = wn * 32 + ni * 8 < count;

    constexpr int S = T == WType::Q2_K ? 16 : 32;  // elements per scaled sub-block
    constexpr int NSUB = KT / S;
    float acc[2][4][4];
    int isum[2][4][4];
#pragma unroll
    for (int mi = 0; mi < 2; mi++)
#pragma unroll
        for (int ni = 0; ni < 4; ni++)
#pragma unroll
            for (int e = 0; e < 4; e++) acc[mi][ni][e] = 0.0f;

    // The weight bytes of the next two steps travel while a step's products run (two
    // register sets, used alternately: kept in flight across the MMAs, ~9 registers a set
    // for IQ2_XXS, 13 for Q2_K).  Not for Q8_0: its step is 16 KB of codes (36 registers a
    // set would halve the blocks per SM); its loads are only issued together.
    constexpr bool kPrefetch = T != WType::Q8_0;
    WeightRegs<T> wregs[2];
    if constexpr (kPrefetch) {
        fetch_weights<T>(wregs[0], w, base_row, row0, rows, 0);
        if (KT < w.k) fetch_weights<T>(wregs[1], w, base_row, row0, rows, KT);
    }
    // One K step whose weights are (or, for Q8_0, are now loaded) in `cur`.
    const auto run_step = [&](WeightRegs<T> &cur, uint32_t k0) {
        if constexpr (!kPrefetch) fetch_weights<T>(cur, w, base_row, row0, rows, k0);
        store_weights<T>(sm, cur, w, row0, rows);
        load_acts<T>(sm, act, w.k, k0);
        __syncthreads();
        if constexpr (kPrefetch)
            if (k0 + 2 * KT < w.k) fetch_weights<T>(cur, w, base_row, row0, rows, k0 + 2 * KT);
        if constexpr (T != WType::Q8_0) {
#pragma unroll
            for (int mi = 0; mi < 2; mi++)
#pragma unroll
                for (int ni = 0; ni < 4; ni++)
#pragma unroll
                    for (int e = 0; e < 4; e++) isum[mi][ni][e] = 0;
        }

#pragma unroll 2
        for (int s = 0; s < NSUB; s++) {
            int bfr[4][2];
#pragma unroll
            for (int ni = 0; ni < 4; ni++) {
                const int8_t *brow = &sm.b[wn * 32 + ni * 8 + g][S * s + 4 * t4];
                bfr[ni][0] = *reinterpret_cast<const int *>(brow);
                bfr[ni][1] = S == 32 ? *reinterpret_cast<const int *>(brow + 16) : 0;
            }
#pragma unroll
            for (int mi = 0; mi < 2; mi++) {
                const int r = wm * 32 + mi * 16 + g;
                const int8_t *a0 = &sm.a[r][S * s + 4 * t4];
                const int8_t *a1 = &sm.a[r + 8][S * s + 4 * t4];
#pragma unroll
                for (int ni = 0; ni < 4; ni++) {
                    if (!live[ni]) continue;
                    int c[4] = {0, 0, 0, 0};
                    if constexpr (S == 32) {
                        const int afr[4] = {*reinterpret_cast<const int *>(a0), *reinterpret_cast<const int *>(a1),
                                            *reinterpret_cast<const int *>(a0 + 16),
                                            *reinterpret_cast<const int *>(a1 + 16)};
                        mma_s8_k32(c, afr, bfr[ni]);
                    } else {
                        const int afr[2] = {*reinterpret_cast<const int *>(a0), *reinterpret_cast<const int *>(a1)};
                        mma_s8_k16(c, afr, bfr[ni][0]);
                    }
#pragma unroll
                    for (int e = 0; e < 4; e++) {
                        const int rr = r + 8 * (e >> 1);
                        if constexpr (T == WType::Q8_0) {
                            const int cc = wn * 32 + ni * 8 + 2 * t4 + (e & 1);
                            acc[mi][ni][e] += (sm.ad[rr][s] * sm.bd[cc][s]) * small_int_to_float(c[e]);
                        } else if constexpr (T == WType::Q2_K) {
                            isum[mi][ni][e] += (sm.asc[rr][s] & 15) * c[e];
                        } else {
                            isum[mi][ni][e] += sm.asc[rr][s] * c[e];
                        }
                    }
                }
            }
        }
        if constexpr (T != WType::Q8_0) {
            // The super-block's float term, in the CPU's operation order (quant/dot_scalar.cpp).
#pragma unroll
            for (int mi = 0; mi < 2; mi++)
#pragma unroll
                for (int ni = 0; ni < 4; ni++)
#pragma unroll
                    for (int e = 0; e < 4; e++) {
                        if (!live[ni]) continue;
                        const int rr = wm * 32 + mi * 16 + g + 8 * (e >> 1);
                        const int cc = wn * 32 + ni * 8 + 2 * t4 + (e & 1);
                        const float dy = sm.bd[cc][0];
                        if constexpr (T == WType::IQ2_XXS) {
                            const float d = sm.ad[rr][0] * dy;
                            acc[mi][ni][e] += d * static_cast<float>(isum[mi][ni][e]);
                        } else {
                            int summs = 0;
                            if constexpr (T == WType::Q2_K) {
#pragma unroll
                                for (int j = 0; j < 16; j++) summs += sm.bs[cc][j] * (sm.asc[rr][j] >> 4);
                            } else {
#pragma unroll
                                for (int j = 0; j < 8; j++)
                                    summs += sm.asc[rr][8 + j] * (sm.bs[cc][2 * j] + sm.bs[cc][2 * j + 1]);
                            }
                            const float dall = dy * sm.ad[rr][0];
                            const float dmin = dy * sm.ad[rr][1];
                            const float pos = dall * static_cast<float>(isum[mi][ni][e]);
                            const float neg = dmin * static_cast<float>(summs);
                            acc[mi][ni][e] += pos - neg;
                        }
                    }
        }
        __syncthreads();
    };
    if constexpr (kPrefetch) {
        // Steps in pairs, so that each register set is named statically (stays in registers).
        for (uint32_t k0 = 0; k0 < w.k; k0 += 2 * KT) {
            run_step(wregs[0], k0);
            if (k0 + KT < w.k) run_step(wregs[1], k0 + KT);
        }
    } else {
        for (uint32_t k0 = 0; k0 < w.k; k0 += KT) run_step(wregs[0], k0);
    }

#pragma unroll
    for (int mi = 0; mi < 2; mi++)
#pragma unroll
        for (int ni = 0; ni < 4; ni++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int rr = wm * 32 + mi * 16 + g + 8 * (e >> 1);
                const int cc = wn * 32 + ni * 8 + 2 * t4 + (e & 1);
                const int orow = sm.out_row[cc];
                if (row0 + rr < rows && orow >= 0)
                    out[static_cast<uint64_t>(orow) * out_stride + row0 + rr] =
                        T == WType::IQ2_XXS ? 0.125f * acc[mi][ni][e] : acc[mi][ni][e];
            }
}

template <WType T>
void launch_typed(const DevWeight &w, const DevAct &act, const GemmTokens &tok, float *out, uint64_t out_stride,
                  cudaStream_t stream) {
    const bool grouped = tok.n_tiles != nullptr;
    const uint64_t rows = grouped ? w.rows_per_expert : w.rows;
    const dim3 grid(static_cast<unsigned>((rows + BM - 1) / BM),
                    grouped ? tok.n : static_cast<unsigned>((tok.n + BN - 1) / BN));
    if (grid.x == 0 || grid.y == 0) return;
    if (grid.y > 65535) fail("batched product: %u token tiles exceed the launch limit", grid.y);
    if (grouped) mmq_kernel<T, true><<<grid, 128, 0, stream>>>(w, act, tok, out, out_stride);
    else mmq_kernel<T, false><<<grid, 128, 0, stream>>>(w, act, tok, out, out_stride);
    check_launch("mmq", stream);
}

}  // namespace

void launch_mmq(const DevWeight &w, const DevAct &act, const GemmTokens &tok, float *out, uint64_t out_stride,
                cudaStream_t stream) {
    if (mmq_v2_handles(w.type)) {
        launch_mmq_v2(w, act, tok, out, out_stride, stream);
        return;
    }
    switch (w.type) {
    case WType::Q8_0: launch_typed<WType::Q8_0>(w, act, tok, out, out_stride, stream); break;
    case WType::Q2_K: launch_typed<WType::Q2_K>(w, act, tok, out, out_stride, stream); break;
    case WType::Q4_K: launch_typed<WType::Q4_K>(w, act, tok, out, out_stride, stream); break;
    case WType::IQ2_XXS: launch_typed<WType::IQ2_XXS>(w, act, tok, out, out_stride, stream); break;
    default: fail("batched int8 product: weight type %d is not quantized", static_cast<int>(w.type));
    }
}

}  // namespace dstar::backend::cuda
