// Batched (prefill) attention on tensor cores.  All heads of a token attend to the same rows
// (K = V, model.md §3.3 step 11), so per token S[heads x rows] = Q[heads x hd] . K^T is a
// matrix product with the heads as the mma M dimension, and so is O += P . V.
//
// Block = one token, 8 warps: warp w owns the 16-head tile w / 2 and half w % 2 of the head
// dimension.  Per tile of 32 rows (converted to f16 in shared memory once, for all heads):
//   S: each warp multiplies its dimension half (partial S of its 16 heads x 32 rows); the
//      two halves meet in shared memory and both warps add them in the same order, so both
//      hold the identical full S;
//   softmax: online (running max, lane-partial denominators), in f32, as the CUDA-core kernel;
//   O: each warp adds P . V for its 16 heads x its dimension half (P straight from the S
//      accumulators: the mma accumulator layout is the A-operand layout).
// Precision: with qat every visible row is an f16 value (ring and compressed rows are stored
// f16-rounded; the batch's own rows are rounded on the way in, as the ring will hold them),
// so K/V enter the mma exactly.  Q and P are f32: each is split into hi = f16(x) and
// lo = f16(x - hi) and both parts are multiplied (mma_half.cu), ~22 bits instead of 11;
// products accumulate in f32.  Fixed summation order, no atomics.
//
// Cost per token and 32-row tile (64 heads, hd 512): 256 mma.m16n8k16 per warp (S 128 +
// O 128, each half of them the lo parts), ~48 KB of shared-memory fragment reads per warp;
// the next tile's rows are fetched into registers (half a tile at a time) while the current
// one is multiplied.  244 registers, no spills; one block (8 warps) per SM.
// Shared memory (hd 512, 64 heads): Q fragments 128 KB + 2 row tiles 65 KB + S exchange 16 KB.
#include <cuda_fp16.h>

#include <cstdlib>
#include <cstring>

#include "backend/cuda/attention_rows.cuh"
#include "backend/cuda/check.h"
#include "backend/cuda/device.cuh"
#include "backend/cuda/launch.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/mma.cuh"

namespace dstar::backend::cuda {

namespace {

constexpr int kWarps = 8, kThreads = 32 * kWarps;
constexpr int kTile = 32;                 // rows per tile
constexpr int kMaxHd = 512, kMaxHeads = 64;
constexpr int kMaxNt = kMaxHd / 16;       // O n-tiles (8 dims) per warp: half of hd / 8
constexpr int kHalfRows = kTile / 2;      // rows fetched per prefetch half
constexpr int kMaxF4 = kHalfRows * kMaxHd / 4 / kThreads;  // float4 per thread per half tile
constexpr uint32_t kMinTokens = 64;       // fewer tokens: the CUDA-core kernel with row splits

__host__ __device__ constexpr uint32_t ktile_stride(uint32_t hd) { return hd + 8; }  // halves; no bank conflicts

size_t smem_bytes(uint32_t n_head, uint32_t hd) {
    const size_t mt = (n_head + 15) / 16;
    return mt * (hd / 16) * 2 * 32 * sizeof(uint4)           // Q fragments, hi and lo
           + 2 * size_t{kTile} * ktile_stride(hd) * 2         // two f16 row tiles
           + size_t{kWarps} * (kTile / 8) * 4 * 32 * 4;       // S partials
}

__device__ __forceinline__ uint32_t pack_half2(float a, float b) {
    const __half2 h = __floats2half2_rn(a, b);
    return *reinterpret_cast<const uint32_t *>(&h);
}

// hi = f16(a, b), lo = f16 of the rounding errors.
__device__ __forceinline__ void split_half2(float a, float b, uint32_t &hi, uint32_t &lo) {
    const __half2 h = __floats2half2_rn(a, b);
    hi = *reinterpret_cast<const uint32_t *>(&h);
    lo = pack_half2(a - __low2float(h), b - __high2float(h));
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void *p) {
    const uint32_t s = static_cast<uint32_t>(__cvta_generic_to_shared(p));
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(s));
}

__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void *p) {
    const uint32_t s = static_cast<uint32_t>(__cvta_generic_to_shared(p));
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(s));
}

// Half a row tile (rows row0 .. row0 + 15 of the token's visible set) in registers: float4
// chunk i = tid + kThreads * j is row i / (hd / 4), floats 4 * (i % (hd / 4)) ..; rows past
// `total` are zero (their scores are masked, but 0 * garbage could be NaN).
struct HalfTile {
    float4 v[kMaxF4];
};

__device__ __forceinline__ void fetch_half(HalfTile &h, const AttentionArgs &a, const RowSet &rs, uint32_t pos0,
                                           uint32_t total, uint32_t row0) {
    const uint32_t per_row = a.head_dim / 4, chunks = kHalfRows * per_row;
#pragma unroll
    for (int j = 0; j < kMaxF4; j++) {
        const uint32_t i = threadIdx.x + kThreads * j, r = row0 + i / per_row;
        h.v[j] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        if (i < chunks && r < total) {
            bool batch;  // all rows are rounded to f16 (store_half), the batch's included
            const float *row = visible_row(a, rs, pos0, r, batch);
            h.v[j] = __ldg(reinterpret_cast<const float4 *>(row) + i % per_row);
        }
    }
}

// Rounds to f16 (exact for ring and compressed rows, the ring's rounding for the batch's own
// rows) into tile rows half * 16 ...
__device__ __forceinline__ void store_half(const HalfTile &h, __half *tile, uint32_t hd, int half) {
    const uint32_t per_row = hd / 4, chunks = kHalfRows * per_row;
#pragma unroll
    for (int j = 0; j < kMaxF4; j++) {
        const uint32_t i = threadIdx.x + kThreads * j;
        if (i < chunks) {
            const uint32_t r = half * kHalfRows + i / per_row, c = 4 * (i % per_row);
            *reinterpret_cast<uint2 *>(tile + r * ktile_stride(hd) + c) =
                make_uint2(pack_half2(h.v[j].x, h.v[j].y), pack_half2(h.v[j].z, h.v[j].w));
        }
    }
}

__global__ void __launch_bounds__(kThreads, 1) attention_mma_kernel(AttentionArgs a) {
    pdl_enter();  // waits for the previous kernel (launch.cuh)
    extern __shared__ __align__(16) unsigned char smem[];
    const uint32_t hd = a.head_dim, ks_all = hd / 16, nt = hd / 16;  // k-steps of hd; O n-tiles per half
    const uint32_t mt = (a.n_head + 15) / 16;
    uint4 *sq = reinterpret_cast<uint4 *>(smem);  // [mtile][kstep][hi, lo][lane]
    __half *sk0 = reinterpret_cast<__half *>(smem + size_t{mt} * ks_all * 2 * 32 * sizeof(uint4));
    float *sx = reinterpret_cast<float *>(sk0 + 2 * kTile * ktile_stride(hd));  // [warp][16][lane]

    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t4 = lane & 3;
    const uint32_t t = blockIdx.x, m = warp >> 1, half = warp & 1;
    const bool active = m < mt;
    const uint32_t pos0 = load_pos(a.pos0);
    const RowSet rs = visible_rows(a, pos0, t);
    const uint32_t total = rs.n_raw + rs.n_comp;
    const float kq_scale = 1.0f / sqrtf(static_cast<float>(hd));

    // Q as mma A fragments (mma.cuh layout), split into hi and lo.
    const float *q = a.q + uint64_t{t} * a.n_head * hd;
    for (uint32_t i = tid; i < mt * ks_all * 32; i += kThreads) {
        const uint32_t l = i & 31, ks = (i >> 5) % ks_all, mi = (i >> 5) / ks_all;
        const uint32_t h = 16 * mi + (l >> 2), k = 16 * ks + 2 * (l & 3);
        float v[8];
#pragma unroll
        for (int e = 0; e < 4; e++) {  // a0 (h, k), a1 (h + 8, k), a2 (h, k + 8), a3 (h + 8, k + 8)
            const uint32_t hh = h + 8 * (e & 1), kk = k + 8 * (e >> 1);
            const float2 x = hh < a.n_head ? *reinterpret_cast<const float2 *>(q + hh * hd + kk) : make_float2(0.f, 0.f);
            v[2 * e] = x.x;
            v[2 * e + 1] = x.y;
        }
        uint4 hi, lo;
        split_half2(v[0], v[1], hi.x, lo.x);
        split_half2(v[2], v[3], hi.y, lo.y);
        split_half2(v[4], v[5], hi.z, lo.z);
        split_half2(v[6], v[7], hi.w, lo.w);
        sq[(i >> 5) * 64 + l] = hi;
        sq[(i >> 5) * 64 + 32 + l] = lo;
    }

    float o[kMaxNt][4];
#pragma unroll
    for (int j = 0; j < kMaxNt; j++) o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0.0f;
    float m_run[2] = {-INFINITY, -INFINITY}, l_run[2] = {0.0f, 0.0f};  // rows g, g + 8; l: this lane's columns

    HalfTile pf;
    fetch_half(pf, a, rs, pos0, total, 0);
    store_half(pf, sk0, hd, 0);
    fetch_half(pf, a, rs, pos0, total, kHalfRows);
    store_half(pf, sk0, hd, 1);
    __syncthreads();

    const uint32_t n_tiles = (total + kTile - 1) / kTile;
    const uint32_t d0 = half * (hd / 2);  // this warp's dimensions
    for (uint32_t tile = 0; tile < n_tiles; tile++) {
        const __half *sk = sk0 + (tile & 1) * kTile * ktile_stride(hd);
        __half *sk_next = sk0 + ((tile + 1) & 1) * kTile * ktile_stride(hd);
        const bool more = tile + 1 < n_tiles;
        const uint32_t next0 = (tile + 1) * kTile;
        if (more) fetch_half(pf, a, rs, pos0, total, next0);

        // Partial S over this warp's dimension half.
        float s[kTile / 8][4];
#pragma unroll
        for (int j = 0; j < kTile / 8; j++) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.0f;
        if (active) {
            const uint4 *qa = sq + size_t{m} * ks_all * 64 + lane;
            for (uint32_t ks = half * ks_all / 2; ks < (half + 1) * ks_all / 2; ks++) {
                const uint4 hi4 = qa[ks * 64], lo4 = qa[ks * 64 + 32];
                const uint32_t ahi[4] = {hi4.x, hi4.y, hi4.z, hi4.w}, alo[4] = {lo4.x, lo4.y, lo4.z, lo4.w};
#pragma unroll
                for (int j = 0; j < kTile / 8; j += 2) {
                    // Matrices: rows 8j.. / 8(j+1).., dims 16ks.. / 16ks + 8..: b of n-tiles j, j + 1.
                    const int mi = lane >> 3;
                    uint32_t b[4];
                    ldmatrix_x4(b, sk + (8 * (j + (mi >> 1)) + (lane & 7)) * ktile_stride(hd) + 16 * ks + 8 * (mi & 1));
                    const uint32_t b0[2] = {b[0], b[1]}, b1[2] = {b[2], b[3]};
                    mma_f16_k16(s[j], ahi, b0);
                    mma_f16_k16(s[j], alo, b0);
                    mma_f16_k16(s[j + 1], ahi, b1);
                    mma_f16_k16(s[j + 1], alo, b1);
                }
            }
#pragma unroll
            for (int j = 0; j < kTile / 8; j++)
#pragma unroll
                for (int e = 0; e < 4; e++) sx[(warp * 16 + j * 4 + e) * 32 + lane] = s[j][e];
        }
        if (more) store_half(pf, sk_next, hd, 0);
        __syncthreads();
        if (more) fetch_half(pf, a, rs, pos0, total, next0 + kHalfRows);

        if (active) {
            // Full S = half 0 + half 1 (the same order in both warps of the pair), scaled and masked.
            const uint32_t cols = min(total - tile * kTile, static_cast<uint32_t>(kTile));
            float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
            for (int j = 0; j < kTile / 8; j++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    const float other = sx[((warp ^ 1) * 16 + j * 4 + e) * 32 + lane];
                    const float full = half == 0 ? s[j][e] + other : other + s[j][e];
                    const uint32_t col = 8 * j + 2 * t4 + (e & 1);
                    s[j][e] = col < cols ? full * kq_scale : -INFINITY;
                    mx[e >> 1] = fmaxf(mx[e >> 1], s[j][e]);
                }
            float corr[2];
#pragma unroll
            for (int r = 0; r < 2; r++) {
                mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
                mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
                const float m_new = fmaxf(m_run[r], mx[r]);  // finite: every tile has a visible row
                corr[r] = expf(m_run[r] - m_new);            // 0 on the first tile
                m_run[r] = m_new;
                l_run[r] *= corr[r];
            }
#pragma unroll
            for (int j = 0; j < kTile / 8; j++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    s[j][e] = expf(s[j][e] - m_run[e >> 1]);
                    l_run[e >> 1] += s[j][e];
                }
#pragma unroll
            for (int j = 0; j < kMaxNt; j++) {
                o[j][0] *= corr[0];
                o[j][1] *= corr[0];
                o[j][2] *= corr[1];
                o[j][3] *= corr[1];
            }

            // P as A fragments (k-step kk: S n-tiles 2kk, 2kk + 1), split into hi and lo.
            uint32_t phi[kTile / 16][4], plo[kTile / 16][4];
#pragma unroll
            for (int kk = 0; kk < kTile / 16; kk++) {
                split_half2(s[2 * kk][0], s[2 * kk][1], phi[kk][0], plo[kk][0]);
                split_half2(s[2 * kk][2], s[2 * kk][3], phi[kk][1], plo[kk][1]);
                split_half2(s[2 * kk + 1][0], s[2 * kk + 1][1], phi[kk][2], plo[kk][2]);
                split_half2(s[2 * kk + 1][2], s[2 * kk + 1][3], phi[kk][3], plo[kk][3]);
            }
            // O += P . V over this warp's dimensions (V = the tile's rows, read transposed).
#pragma unroll
            for (int j = 0; j < kMaxNt; j += 2) {
                if (static_cast<uint32_t>(j) >= nt) break;
#pragma unroll
                for (int kk = 0; kk < kTile / 16; kk++) {
                    // Matrices: rows 16kk.. / 16kk + 8.., dims of n-tile j / j + 1.
                    const int mi = lane >> 3;
                    uint32_t b[4];
                    ldmatrix_x4_trans(b, sk + (16 * kk + 8 * (mi & 1) + (lane & 7)) * ktile_stride(hd) + d0 + 8 * (j + (mi >> 1)));
                    const uint32_t b0[2] = {b[0], b[1]}, b1[2] = {b[2], b[3]};
                    mma_f16_k16(o[j], phi[kk], b0);
                    mma_f16_k16(o[j], plo[kk], b0);
                    mma_f16_k16(o[j + 1], phi[kk], b1);
                    mma_f16_k16(o[j + 1], plo[kk], b1);
                }
            }
        }
        if (more) store_half(pf, sk_next, hd, 1);
        __syncthreads();
    }

    if (!active) return;
    // Denominators: the 4 lanes of a row in a fixed order; then the sink, as attention.cu.
    float scale[2];
#pragma unroll
    for (int r = 0; r < 2; r++) {
        float l = l_run[r];
        l += __shfl_xor_sync(0xffffffffu, l, 1);
        l += __shfl_xor_sync(0xffffffffu, l, 2);
        const uint32_t head = 16 * m + g + 8 * r;
        const float sink = head < a.n_head ? a.sinks[head] : 0.0f;
        const float mx = fmaxf(m_run[r], sink);
        const float f = expf(m_run[r] - mx);
        const float denom = l * f + expf(sink - mx);
        scale[r] = f;
        l_run[r] = 1.0f / denom;
    }
#pragma unroll
    for (int j = 0; j < kMaxNt; j++) {
        if (static_cast<uint32_t>(j) >= nt) break;
#pragma unroll
        for (int r = 0; r < 2; r++) {
            const uint32_t head = 16 * m + g + 8 * r;
            if (head >= a.n_head) continue;
            float2 v;
            v.x = (o[j][2 * r] * scale[r]) * l_run[r];
            v.y = (o[j][2 * r + 1] * scale[r]) * l_run[r];
            *reinterpret_cast<float2 *>(a.out + (uint64_t{t} * a.n_head + head) * hd + d0 + 8 * j + 2 * t4) = v;
        }
    }
}

bool mma_switch_on() {
    static const bool on = [] {
        const char *v = std::getenv("DSTAR_CUDA_ATTN_MMA");
        return !(v && std::strcmp(v, "0") == 0);
    }();
    return on;
}

// Opts the kernel into the shared memory the largest supported shape needs, once; false when
// the GPU has less per block (sm_120 consumer Blackwell: 99 KB).
bool device_fits() {
    static const bool ok = [] {
        const size_t need = smem_bytes(kMaxHeads, kMaxHd);
        int dev = 0, optin = 0;
        if (cudaGetDevice(&dev) != cudaSuccess) return false;
        if (cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) != cudaSuccess) return false;
        if (static_cast<size_t>(optin) < need) return false;
        check(cudaFuncSetAttribute(attention_mma_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                   static_cast<int>(need)),
              "cudaFuncSetAttribute (attention_mma_kernel)");
        return true;
    }();
    return ok;
}

}  // namespace

bool attention_mma_eligible(uint32_t n, uint32_t n_head, uint32_t head_dim, bool qat) {
    return qat && n >= kMinTokens && n_head >= 1 && n_head <= kMaxHeads && head_dim % 32 == 0 && head_dim >= 32 &&
           head_dim <= kMaxHd && mma_switch_on() && device_fits();
}

void launch_attention_mma(const AttentionArgs &a, cudaStream_t stream) {
    launch_pdl("attention_mma_kernel", attention_mma_kernel, dim3(a.n), dim3(kThreads), smem_bytes(a.n_head, a.head_dim),
               stream, a);
    check_launch("attention_mma", stream);
}

}  // namespace dstar::backend::cuda
