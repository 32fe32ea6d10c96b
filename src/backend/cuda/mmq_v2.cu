// Batched int8 tensor-core products, second version (Q8_0, Q2_K, IQ2_XXS weights; Q4_K stays
// on mmq.cu).  Same numerics as mmq.cu (see its header): every block term is the CPU's exact
// integer sum scaled by the CPU's float operations, and each accumulator adds its block terms
// in ascending K order, so the results are mmq.cu's (and the CPU's) bit for bit.
//
// What changed, and why it is faster (tile as mmq.cu: 64 weight rows x 64 tokens, 4 warps of
// 32 x 32, 3 blocks per SM at <= 168 registers; 128-row tiles of 8 warps needed ~200
// registers a thread, i.e. one block per SM):
//  - The activation bytes of step k + 1 (and, except for Q8_0, its weight bytes) are loaded
//    into registers while step k's MMAs run, so no step waits for L2 (mmq.cu loaded each
//    step's activation rows, the larger share of a grouped tile's bytes, after the MMAs).
//  - Fragments come from shared memory with ldmatrix (4 instructions per 8 MMAs, not 16).
//  - Q2_K: the 4-bit sub-block scale is multiplied into the 2-bit codes when they are
//    expanded (3 * 15 = 45 fits int8), so each 32-element pair of sub-blocks is one k32 MMA
//    accumulating straight into the super-block's integer sum (mmq.cu: two k16 MMAs and
//    eight integer multiply-adds); the min term sum_j bsums[j] * min[j] is two k16 MMAs
//    (bsums split into a signed low byte and a high part, 256 * hi + lo) instead of 16
//    scalar multiply-adds with two shared loads each per output.  Both integer sums equal
//    the CPU's exactly (integer addition in any order).
//  - IQ2_XXS: the codebook lives in shared memory (random 8-byte reads from a 2 KB table
//    conflict less there than as L1 lines).
#include <cstdlib>
#include <cstring>

#include "backend/cuda/check.h"
#include "backend/cuda/dot.cuh"
#include "backend/cuda/mma.cuh"
#include "common/error.h"

namespace dstar::backend::cuda {

namespace {

constexpr int BM = 64, BN = static_cast<int>(kGemmTileTokens), KT = 256, NT = 2 * BM;
constexpr int LDS = KT + 16;  // bytes per shared row: 68 words, so ldmatrix rows hit distinct banks
static_assert(BN == 64 && BM % 32 == 0, "tile layout: BM / 32 x 2 warps of 32 x 32");

struct __align__(16) Smem {
    int8_t a[BM][LDS];      // weight codes of the step (Q2_K: times their sub-block scale)
    int8_t b[BN][LDS];      // activation codes of the step
    float ad[8][BM];        // Q8_0: block scales; K-quants: [0] d, [1] dmin
    uint8_t asc[BM][16];    // Q2_K: scale bytes (mins in the high nibbles); IQ2_XXS: 2*ls+1
    float bd[8][BN];        // Q8_0: block scales; Q8_K: [0] d
    int8_t bsl[BN][16];     // Q2_K: bsums = 256 * bsh + bsl
    int8_t bsh[BN][16];
    unsigned long long grid[256];  // IQ2_XXS codebook
    int act_row[BN];        // activation row of each token slot (-1: empty slot)
    int out_row[BN];        // output row of each token slot
};
static_assert(sizeof(Smem) <= 48 * 1024, "static shared memory");

__device__ __forceinline__ uint4 codes2(uint4 v, int shift) {
    return make_uint4((v.x >> shift) & 0x03030303u, (v.y >> shift) & 0x03030303u, (v.z >> shift) & 0x03030303u,
                      (v.w >> shift) & 0x03030303u);
}
__device__ __forceinline__ void st16(int8_t *p, uint4 v) { *reinterpret_cast<uint4 *>(p) = v; }

// float(v) for |v| < 2^22, exactly (mmq.cu: two full-rate instructions instead of a
// conversion; Q8_0 block sums are at most 2^19).
__device__ __forceinline__ float small_int_to_float(int v) { return __int_as_float(v + 0x4B400000) - 12582912.0f; }

// Registers holding one step's global bytes between their load (issued before the previous
// step's MMAs) and their store into shared memory.  Slot j of a thread is item tid + NT * j.
template <WType T>
struct WRegs;
template <>
struct WRegs<WType::Q8_0> {
    uint4 q[BM * 16 / NT];    // 16-byte chunks: row i >> 4, chunk i & 15
    uint16_t d[BM * 8 / NT];  // block scales: row i >> 3, block i & 7
};
template <>
struct WRegs<WType::Q2_K> {
    uint4 q[BM * 4 / NT];   // row i >> 2, quarter i & 3 of the 64 code bytes
    uint2 sc[BM * 4 / NT];  // the 8 scale bytes of that quarter's half of the super-block
    uint32_t dm;            // d | dmin << 16 of row tid (tid < BM)
};
template <>
struct WRegs<WType::IQ2_XXS> {
    uint2 q[BM * 8 / NT];  // row i >> 3, group i & 7: grid indices, signs and scale
    uint16_t d;            // block scale of row tid (tid < BM)
};

template <WType T>
struct ARegs {
    uint4 q[BN * 16 / NT];  // token slot i >> 4, chunk i & 15
    float d[T == WType::Q8_0 ? BN * 8 / NT : 1];  // Q8_0: slot i >> 3, block i & 7; Q8_K: slot tid
    int32_t bs[T == WType::Q2_K ? BN * 16 / NT : 1];  // Q2_K: slot i >> 4, sum i & 15
};

template <WType T>
__device__ __forceinline__ void fetch_w(WRegs<T> &g, const DevWeight &w, uint64_t base_row, uint64_t row0,
                                        uint64_t rows, uint32_t k0) {
    const int tid = threadIdx.x;
    const uint32_t sb = k0 / 256;
    const auto row_ptr = [&](int r) { return w.main + (base_row + row0 + r) * w.main_row; };
    const auto side_ptr = [&](int r) { return w.side + (base_row + row0 + r) * w.side_row; };
    if constexpr (T == WType::Q8_0) {
        const uint32_t nblk = w.k / 32;
#pragma unroll
        for (int j = 0; j < BM * 16 / NT; j++) {
            const int i = tid + NT * j, r = i >> 4, ch = i & 15;
            const bool ok = row0 + r < rows && k0 / 32 + ch / 2 < nblk;
            g.q[j] = ok ? ldg16(row_ptr(r) + k0 + ch * 16) : make_uint4(0, 0, 0, 0);
        }
#pragma unroll
        for (int j = 0; j < BM * 8 / NT; j++) {
            const int i = tid + NT * j, r = i >> 3, b = i & 7;
            const uint32_t blk = k0 / 32 + b;
            g.d[j] = row0 + r < rows && blk < nblk ? __ldg(reinterpret_cast<const unsigned short *>(side_ptr(r)) + blk)
                                                   : uint16_t{0};
        }
    } else if constexpr (T == WType::Q2_K) {
#pragma unroll
        for (int j = 0; j < BM * 4 / NT; j++) {
            const int i = tid + NT * j, r = i >> 2, p = i & 3;
            const bool ok = row0 + r < rows;
            const uint8_t *blk = row_ptr(r) + sb * 80ull;
            g.q[j] = ok ? ldg16(blk + p * 16) : make_uint4(0, 0, 0, 0);
            g.sc[j] = ok ? __ldg(reinterpret_cast<const uint2 *>(blk + 64 + 8 * (p >> 1))) : make_uint2(0, 0);
        }
        const bool ok = tid < BM && row0 + tid < rows;
        g.dm = ok ? __ldg(reinterpret_cast<const unsigned int *>(side_ptr(tid)) + sb) : 0u;
    } else {
#pragma unroll
        for (int j = 0; j < BM * 8 / NT; j++) {
            const int i = tid + NT * j, r = i >> 3, gr = i & 7;
            g.q[j] = row0 + r < rows ? __ldg(reinterpret_cast<const uint2 *>(row_ptr(r) + sb * 64ull + gr * 8))
                                     : make_uint2(0, 0);
        }
        const bool ok = tid < BM && row0 + tid < rows;
        g.d = ok ? __ldg(reinterpret_cast<const unsigned short *>(side_ptr(tid)) + sb) : uint16_t{0};
    }
}

// The fetched step -> shared codes and scales (rows past the matrix hold zeros).
template <WType T>
__device__ __forceinline__ void store_w(Smem &sm, const WRegs<T> &g, uint64_t row0, uint64_t rows) {
    const int tid = threadIdx.x;
    if constexpr (T == WType::Q8_0) {
#pragma unroll
        for (int j = 0; j < BM * 16 / NT; j++) {
            const int i = tid + NT * j;
            st16(&sm.a[i >> 4][(i & 15) * 16], g.q[j]);
        }
#pragma unroll
        for (int j = 0; j < BM * 8 / NT; j++) {
            const int i = tid + NT * j;
            sm.ad[i & 7][i >> 3] = half_bits_to_float(g.d[j]);  // zero bits past the end
        }
    } else if constexpr (T == WType::Q2_K) {
#pragma unroll
        for (int j = 0; j < BM * 4 / NT; j++) {
            // Byte l of the quarter holds elements 128h + 32jj + 16half + l (jj = 0..3, bits
            // 2jj), which use scale byte 8h + 2jj + half (quants.md 5.2), i.e. byte
            // 2jj + half of the quarter's 8 scale bytes.
            const int i = tid + NT * j, r = i >> 2, p = i & 3, h = p >> 1, half = p & 1;
            const uint64_t s8 = uint64_t{g.sc[j].x} | uint64_t{g.sc[j].y} << 32;
#pragma unroll
            for (int jj = 0; jj < 4; jj++) {
                const uint32_t sc = static_cast<uint32_t>(s8 >> (8 * (2 * jj + half))) & 15u;
                const uint4 c = codes2(g.q[j], 2 * jj);  // bytes <= 3: times sc <= 45, no carry
                st16(&sm.a[r][128 * h + 32 * jj + 16 * half], make_uint4(c.x * sc, c.y * sc, c.z * sc, c.w * sc));
            }
            if (half == 0) *reinterpret_cast<uint2 *>(&sm.asc[r][8 * h]) = g.sc[j];
        }
        if (tid < BM) {
            sm.ad[0][tid] = half_bits_to_float(static_cast<uint16_t>(g.dm & 0xffffu));
            sm.ad[1][tid] = half_bits_to_float(static_cast<uint16_t>(g.dm >> 16));
        }
    } else {
#pragma unroll
        for (int j = 0; j < BM * 8 / NT; j++) {
            const int i = tid + NT * j, r = i >> 3, gr = i & 7;
            const bool ok = row0 + r < rows;
            const uint32_t idx = g.q[j].x, bits = g.q[j].y;
            uint32_t v[8];
#pragma unroll
            for (int l = 0; l < 4; l++) {
                const uint64_t gv = ok ? sm.grid[(idx >> (8 * l)) & 0xffu] : 0ull;
                const uint32_t signs = detail::iq2_signs((bits >> (7 * l)) & 127u);
                const uint32_t mlo = detail::byte_mask4(signs), mhi = detail::byte_mask4(signs >> 4);
                v[2 * l] = __vsub4(static_cast<uint32_t>(gv) ^ mlo, mlo);
                v[2 * l + 1] = __vsub4(static_cast<uint32_t>(gv >> 32) ^ mhi, mhi);
            }
            st16(&sm.a[r][32 * gr], make_uint4(v[0], v[1], v[2], v[3]));
            st16(&sm.a[r][32 * gr + 16], make_uint4(v[4], v[5], v[6], v[7]));
            sm.asc[r][gr] = static_cast<uint8_t>(ok ? 2 * (bits >> 28) + 1 : 0);
        }
        if (tid < BM) sm.ad[0][tid] = half_bits_to_float(g.d);
    }
}

// Activation codes and scales of a step for every token slot.
template <WType T>
__device__ __forceinline__ void fetch_a(ARegs<T> &g, const Smem &sm, const DevAct &act, uint32_t k, uint32_t k0) {
    const int tid = threadIdx.x;
#pragma unroll
    for (int j = 0; j < BN * 16 / NT; j++) {
        const int i = tid + NT * j, s = i >> 4, ch = i & 15;
        const int ar = sm.act_row[s];
        const bool ok = ar >= 0 && k0 + ch * 16 < k;
        g.q[j] = ok ? ldg16(act.q + static_cast<uint64_t>(ar) * act.stride + k0 + ch * 16) : make_uint4(0, 0, 0, 0);
    }
    if constexpr (T == WType::Q8_0) {
        const uint32_t nblk = k / 32;
#pragma unroll
        for (int j = 0; j < BN * 8 / NT; j++) {
            const int i = tid + NT * j, s = i >> 3, b = i & 7;
            const int ar = sm.act_row[s];
            const uint32_t blk = k0 / 32 + b;
            g.d[j] = ar >= 0 && blk < nblk ? __ldg(act.d + static_cast<uint64_t>(ar) * (act.stride / 32) + blk) : 0.0f;
        }
    } else {
        if (tid < BN) {
            const int ar = sm.act_row[tid];
            g.d[0] = ar >= 0 ? __ldg(act.d + static_cast<uint64_t>(ar) * (act.stride / 256) + k0 / 256) : 0.0f;
        }
        if constexpr (T == WType::Q2_K) {
#pragma unroll
            for (int j = 0; j < BN * 16 / NT; j++) {
                const int i = tid + NT * j, s = i >> 4, jj = i & 15;
                const int ar = sm.act_row[s];
                g.bs[j] = ar >= 0 ? __ldg(act.bsums + static_cast<uint64_t>(ar) * (act.stride / 16) + k0 / 16 + jj) : 0;
            }
        }
    }
}

template <WType T>
__device__ __forceinline__ void store_a(Smem &sm, const ARegs<T> &g) {
    const int tid = threadIdx.x;
#pragma unroll
    for (int j = 0; j < BN * 16 / NT; j++) {
        const int i = tid + NT * j;
        st16(&sm.b[i >> 4][(i & 15) * 16], g.q[j]);
    }
    if constexpr (T == WType::Q8_0) {
#pragma unroll
        for (int j = 0; j < BN * 8 / NT; j++) {
            const int i = tid + NT * j;
            sm.bd[i & 7][i >> 3] = g.d[j];
        }
    } else {
        if (tid < BN) sm.bd[0][tid] = g.d[0];
        if constexpr (T == WType::Q2_K) {
            // |bsums| <= 16 * 128: lo is the sign-extended low byte, hi = (bs - lo) / 256 in
            // [-9, 9] (exact), so 256 * hi + lo = bs.
#pragma unroll
            for (int j = 0; j < BN * 16 / NT; j++) {
                const int i = tid + NT * j;
                const int lo = static_cast<int8_t>(g.bs[j] & 0xff);
                sm.bsl[i >> 4][i & 15] = static_cast<int8_t>(lo);
                sm.bsh[i >> 4][i & 15] = static_cast<int8_t>((g.bs[j] - lo) / 256);
            }
        }
    }
}

// Blocks per SM the register budget must allow (<= 168 registers; sm_90a, nvcc 13: IQ2_XXS
// 168 with 8 bytes spilled outside the MMA loop, Q2_K 165, Q8_0 168; shared memory allows 5).
constexpr int kMinBlocks = 3;

template <WType T, bool Grouped>
__global__ void __launch_bounds__(NT, kMinBlocks) mmq_v2_kernel(DevWeight w, DevAct act, GemmTokens tok, float *out,
                                                       uint64_t out_stride) {
    __shared__ Smem sm;
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
    if constexpr (T == WType::IQ2_XXS)
        for (int i = tid; i < 256; i += NT) sm.grid[i] = __ldg(reinterpret_cast<const unsigned long long *>(w.iq2_grid) + i);
    __syncthreads();

    // Fragments (8 token slots each) of this warp that hold a token; the others are skipped
    // (their outputs are never written), as in mmq.cu.
    bool live[4];
#pragma unroll
    for (int ni = 0; ni < 4; ni++) live[ni] = wn * 32 + ni * 8 < count;

    float acc[2][4][4];
    int isum[2][4][4];
#pragma unroll
    for (int mi = 0; mi < 2; mi++)
#pragma unroll
        for (int ni = 0; ni < 4; ni++)
#pragma unroll
            for (int e = 0; e < 4; e++) acc[mi][ni][e] = 0.0f;

    // ldmatrix row addresses of this lane (lanes 8m..8m+7 address matrix m).  A (16 rows x 32
    // bytes): m0 rows 0-7 bytes 0-15 (a0), m1 rows 8-15 (a1), m2 rows 0-7 bytes 16-31 (a2), m3
    // rows 8-15 bytes 16-31 (a3).  B (two fragments of 8 token slots x 32 bytes): m0/m1 the
    // first fragment's bytes 0-15/16-31 (b0/b1), m2/m3 the second's.
    const int mat = lane >> 3, mrow = lane & 7;
    const int8_t *a_ptr[2], *b_ptr[2];
#pragma unroll
    for (int mi = 0; mi < 2; mi++) a_ptr[mi] = &sm.a[wm * 32 + mi * 16 + mrow + 8 * (mat & 1)][16 * (mat >> 1)];
#pragma unroll
    for (int np = 0; np < 2; np++) b_ptr[np] = &sm.b[wn * 32 + np * 16 + mrow + 8 * (mat >> 1)][16 * (mat & 1)];

    // The next step's bytes travel while a step's MMAs run: activations always, weights
    // except Q8_0 (its step is 16 KB of codes, 64 more registers a thread: loaded when
    // stored, as in mmq.cu).
    constexpr bool kPrefetchW = T != WType::Q8_0;
    WRegs<T> wr;
    ARegs<T> ar;
    if constexpr (kPrefetchW) fetch_w<T>(wr, w, base_row, row0, rows, 0);
    fetch_a<T>(ar, sm, act, w.k, 0);
    for (uint32_t k0 = 0; k0 < w.k; k0 += KT) {
        if constexpr (!kPrefetchW) fetch_w<T>(wr, w, base_row, row0, rows, k0);
        store_w<T>(sm, wr, row0, rows);
        store_a<T>(sm, ar);
        __syncthreads();
        if (k0 + KT < w.k) {
            if constexpr (kPrefetchW) fetch_w<T>(wr, w, base_row, row0, rows, k0 + KT);
            fetch_a<T>(ar, sm, act, w.k, k0 + KT);
        }
        if constexpr (T != WType::Q8_0) {
#pragma unroll
            for (int mi = 0; mi < 2; mi++)
#pragma unroll
                for (int ni = 0; ni < 4; ni++)
#pragma unroll
                    for (int e = 0; e < 4; e++) isum[mi][ni][e] = 0;
        }

#pragma unroll 2
        for (int s = 0; s < KT / 32; s++) {
            int bfr[4][2];
#pragma unroll
            for (int np = 0; np < 2; np++) {
                int r4[4];
                ldmatrix_x4(r4, b_ptr[np] + 32 * s);
                bfr[2 * np][0] = r4[0];
                bfr[2 * np][1] = r4[1];
                bfr[2 * np + 1][0] = r4[2];
                bfr[2 * np + 1][1] = r4[3];
            }
            // Per-(row, sub-block) and per-(token, block) scales of this lane's outputs.
            float sa[2][2], sbd[4][2];
            int ls[2][2];
#pragma unroll
            for (int mi = 0; mi < 2; mi++)
#pragma unroll
                for (int h = 0; h < 2; h++) {
                    const int rr = wm * 32 + mi * 16 + g + 8 * h;
                    if constexpr (T == WType::Q8_0) sa[mi][h] = sm.ad[s][rr];
                    if constexpr (T == WType::IQ2_XXS) ls[mi][h] = sm.asc[rr][s];
                }
            if constexpr (T == WType::Q8_0) {
#pragma unroll
                for (int ni = 0; ni < 4; ni++) {
                    const float2 v = *reinterpret_cast<const float2 *>(&sm.bd[s][wn * 32 + ni * 8 + 2 * t4]);
                    sbd[ni][0] = v.x;
                    sbd[ni][1] = v.y;
                }
            }
#pragma unroll
            for (int mi = 0; mi < 2; mi++) {
                int afr[4];
                ldmatrix_x4(afr, a_ptr[mi] + 32 * s);
#pragma unroll
                for (int ni = 0; ni < 4; ni++) {
                    if (!live[ni]) continue;
                    if constexpr (T == WType::Q2_K) {
                        mma_s8_k32(isum[mi][ni], afr, bfr[ni]);  // scales are in the codes
                    } else {
                        int c[4] = {0, 0, 0, 0};
                        mma_s8_k32(c, afr, bfr[ni]);
#pragma unroll
                        for (int e = 0; e < 4; e++) {
                            if constexpr (T == WType::Q8_0)
                                acc[mi][ni][e] += (sa[mi][e >> 1] * sbd[ni][e & 1]) * small_int_to_float(c[e]);
                            else
                                isum[mi][ni][e] += ls[mi][e >> 1] * c[e];
                        }
                    }
                }
            }
        }
        if constexpr (T != WType::Q8_0) {
            // Q2_K min term per output: sum_j min[row][j] * bsums[token][j] as two k16 MMAs.
            int amin[2][2], blo[4], bhi[4];
            if constexpr (T == WType::Q2_K) {
#pragma unroll
                for (int mi = 0; mi < 2; mi++)
#pragma unroll
                    for (int h = 0; h < 2; h++) {
                        const int rr = wm * 32 + mi * 16 + g + 8 * h;
                        amin[mi][h] = static_cast<int>((*reinterpret_cast<const uint32_t *>(&sm.asc[rr][4 * t4]) >> 4) &
                                                       0x0f0f0f0fu);
                    }
#pragma unroll
                for (int ni = 0; ni < 4; ni++) {
                    const int cc = wn * 32 + ni * 8 + g;
                    blo[ni] = *reinterpret_cast<const int *>(&sm.bsl[cc][4 * t4]);
                    bhi[ni] = *reinterpret_cast<const int *>(&sm.bsh[cc][4 * t4]);
                }
            }
            // The super-block's float term, in the CPU's operation order (quant/dot_scalar.cpp).
#pragma unroll
            for (int mi = 0; mi < 2; mi++)
#pragma unroll
                for (int ni = 0; ni < 4; ni++) {
                    if (!live[ni]) continue;
                    int summs[4] = {0, 0, 0, 0};
                    if constexpr (T == WType::Q2_K) {
                        int lo[4] = {0, 0, 0, 0}, hi[4] = {0, 0, 0, 0};
                        mma_s8_k16(lo, amin[mi], blo[ni]);
                        mma_s8_k16(hi, amin[mi], bhi[ni]);
#pragma unroll
                        for (int e = 0; e < 4; e++) summs[e] = hi[e] * 256 + lo[e];
                    }
#pragma unroll
                    for (int e = 0; e < 4; e++) {
                        const int rr = wm * 32 + mi * 16 + g + 8 * (e >> 1);
                        const int cc = wn * 32 + ni * 8 + 2 * t4 + (e & 1);
                        const float dy = sm.bd[0][cc];
                        if constexpr (T == WType::IQ2_XXS) {
                            const float d = sm.ad[0][rr] * dy;
                            acc[mi][ni][e] += d * static_cast<float>(isum[mi][ni][e]);
                        } else {
                            const float dall = dy * sm.ad[0][rr];
                            const float dmin = dy * sm.ad[1][rr];
                            const float pos = dall * static_cast<float>(isum[mi][ni][e]);
                            const float neg = dmin * static_cast<float>(summs[e]);
                            acc[mi][ni][e] += pos - neg;
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
    if (grouped) mmq_v2_kernel<T, true><<<grid, NT, 0, stream>>>(w, act, tok, out, out_stride);
    else mmq_v2_kernel<T, false><<<grid, NT, 0, stream>>>(w, act, tok, out, out_stride);
    check_launch("mmq_v2", stream);
}

}  // namespace

bool mmq_v2_handles(WType t) {
    if (t != WType::Q8_0 && t != WType::Q2_K && t != WType::IQ2_XXS) return false;
    // Read at every launch (host side only), so tests can compare both kernels in one process.
    const char *v = std::getenv("DSTAR_CUDA_MMQ_V2");
    return !(v && std::strcmp(v, "0") == 0);
}

void launch_mmq_v2(const DevWeight &w, const DevAct &act, const GemmTokens &tok, float *out, uint64_t out_stride,
                   cudaStream_t stream) {
    switch (w.type) {
    case WType::Q8_0: launch_typed<WType::Q8_0>(w, act, tok, out, out_stride, stream); break;
    case WType::Q2_K: launch_typed<WType::Q2_K>(w, act, tok, out, out_stride, stream); break;
    case WType::IQ2_XXS: launch_typed<WType::IQ2_XXS>(w, act, tok, out, out_stride, stream); break;
    default: fail("mmq_v2: weight type %d is not handled", static_cast<int>(w.type));
    }
}

}  // namespace dstar::backend::cuda
