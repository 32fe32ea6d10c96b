// Per-weight-type pieces of a row . activation dot product, shared by the decode matvec
// (matvec_*.cu) and the routed-expert kernels (moe_experts.cu).
//
// A row is cut into 16-byte "chunks" of weight codes, one per lane per step, so every
// weight byte is read once with a 16-byte load.  For quantized types the lanes that hold one
// quant block (kLanes of them) combine their exact integer partial sums with shuffles; the
// first of them then forms the block's float term with the CPU reference's operations
// (quant/dot_scalar.cpp), so each block term equals the CPU's bit for bit and only the
// order in which block terms are added differs.  Float types accumulate products directly
// (F32 in double, as the CPU does).
//
// Interface of Dot<type, vec>:
//   kElems   elements per chunk;  kLanes  lanes sharing one quant block
//   Acc      accumulator type;    W      the chunk's registers
//   load(w, weight, row, c)                     reads chunk c of a row (only when valid)
//   term(w, act, token, c, offset, valid)       this lane's contribution (all lanes call
//                                               it together: it may shuffle)
//   finish(acc)                                 the row total -> output float
#pragma once

#include <type_traits>

#include "backend/cuda/device.cuh"
#include "backend/cuda/kernels.h"

namespace dstar::backend::cuda {

template <WType T, bool Vec>
struct Dot;

namespace detail {

__device__ __forceinline__ int dp4a(uint32_t a, int b, int c) { return __dp4a(static_cast<int>(a), b, c); }

// 0xff in byte k where bit k of `bits` (4 bits) is set.
__device__ __forceinline__ uint32_t byte_mask4(uint32_t bits) { return (((bits & 15u) * 0x00204081u) & 0x01010101u) * 0xffu; }

// ds4's IQ2 sign table: the 7 stored bits plus an 8th making the count of negatives even.
__device__ __forceinline__ uint32_t iq2_signs(uint32_t code) { return code | ((__popc(code) & 1u) << 7); }

// Byte i (0..11) of a Q4_K block's packed scales (block header = d, dmin, scales[12]).
__device__ __forceinline__ uint32_t q4k_scale_byte(const uint4 &hdr, int i) {
    const uint32_t w = i < 4 ? hdr.y : (i < 8 ? hdr.z : hdr.w);
    return (w >> (8 * (i & 3))) & 0xffu;
}
// 6-bit scale and min of Q4_K sub-block k (quants.md §5.3).
__device__ __forceinline__ void q4k_scale_min(const uint4 &hdr, int k, int &sc, int &m) {
    if (k < 4) {
        sc = static_cast<int>(q4k_scale_byte(hdr, k) & 63u);
        m = static_cast<int>(q4k_scale_byte(hdr, k + 4) & 63u);
    } else {
        sc = static_cast<int>((q4k_scale_byte(hdr, k + 4) & 15u) | ((q4k_scale_byte(hdr, k - 4) >> 6) << 4));
        m = static_cast<int>((q4k_scale_byte(hdr, k + 4) >> 4) | ((q4k_scale_byte(hdr, k) >> 6) << 4));
    }
}

__device__ __forceinline__ int4 ldg_codes16(const int8_t *p) {
    const uint4 v = ldg16(p);
    return make_int4(static_cast<int>(v.x), static_cast<int>(v.y), static_cast<int>(v.z), static_cast<int>(v.w));
}

}  // namespace detail

// Q8_0: a chunk is half a block (16 codes); the two halves' integer sums are combined.
template <>
struct Dot<WType::Q8_0, true> {
    static constexpr int kElems = 16, kLanes = 2;
    using Acc = float;
    struct W {
        uint4 q;
        uint16_t d;
    };
    static __device__ __forceinline__ void load(W &w, const DevWeight &m, uint64_t row, uint32_t c) {
        w.q = ldg16(m.main + row * m.main_row + c * 16ull);
        w.d = __ldg(reinterpret_cast<const unsigned short *>(m.side + row * m.side_row) + c / 2);
    }
    static __device__ __forceinline__ float term(const W &w, const DevAct &a, uint64_t t, uint32_t c, uint64_t off,
                                                 bool valid) {
        int s = 0;
        const uint64_t e0 = off + c * 16ull;  // first element of the chunk
        if (valid) {
            const int4 x = detail::ldg_codes16(a.q + t * a.stride + e0);
            s = detail::dp4a(w.q.x, x.x, s);
            s = detail::dp4a(w.q.y, x.y, s);
            s = detail::dp4a(w.q.z, x.z, s);
            s = detail::dp4a(w.q.w, x.w, s);
        }
        s += __shfl_xor_sync(kFullMask, s, 1);
        if (!valid || (c & 1u)) return 0.0f;
        const float scale = half_bits_to_float(w.d) * __ldg(a.d + t * (a.stride / 32) + e0 / 32);
        return scale * static_cast<float>(s);
    }
    static __device__ __forceinline__ float finish(float v) { return v; }
};

// Q2_K: a chunk is 16 of the block's 64 code bytes (64 weights: 4 lanes per block).
template <>
struct Dot<WType::Q2_K, true> {
    static constexpr int kElems = 64, kLanes = 4;
    using Acc = float;
    struct W {
        uint4 q, sc;
        uint32_t dm;  // d | dmin << 16 (f16)
    };
    static __device__ __forceinline__ void load(W &w, const DevWeight &m, uint64_t row, uint32_t c) {
        const uint8_t *blk = m.main + row * m.main_row + (c / 4) * 80ull;
        w.q = ldg16(blk + (c % 4) * 16);
        w.sc = ldg16(blk + 64);
        w.dm = __ldg(reinterpret_cast<const unsigned int *>(m.side + row * m.side_row) + c / 4);
    }
    static __device__ __forceinline__ float term(const W &w, const DevAct &a, uint64_t t, uint32_t c, uint64_t off,
                                                 bool valid) {
        int isum = 0, summs = 0;
        const uint32_t p = c & 3u, h = p >> 1, odd = p & 1u;
        const uint64_t blk0 = off + (c / 4) * 256ull;  // first element of the block
        if (valid) {
            // Element 128h + 32j + l (l = 16*odd .. +15) is bits 2j of code byte 32h + l,
            // scaled by scales[8h + 2j + odd] (quants.md §5.2).
            const int8_t *xq = a.q + t * a.stride + blk0 + 128 * h + 16 * odd;
            const int32_t *bs = a.bsums + t * (a.stride / 16) + blk0 / 16;
#pragma unroll
            for (int j = 0; j < 4; j++) {
                const int4 x = detail::ldg_codes16(xq + 32 * j);
                int sub = detail::dp4a((w.q.x >> (2 * j)) & 0x03030303u, x.x, 0);
                sub = detail::dp4a((w.q.y >> (2 * j)) & 0x03030303u, x.y, sub);
                sub = detail::dp4a((w.q.z >> (2 * j)) & 0x03030303u, x.z, sub);
                sub = detail::dp4a((w.q.w >> (2 * j)) & 0x03030303u, x.w, sub);
                const uint32_t word = h ? (j < 2 ? w.sc.z : w.sc.w) : (j < 2 ? w.sc.x : w.sc.y);
                const int scb = static_cast<int>((word >> (8 * (odd + 2 * (j & 1)))) & 0xffu);
                isum += (scb & 15) * sub;
                summs += __ldg(bs + 8 * h + 2 * j + odd) * (scb >> 4);
            }
        }
        isum = group_sum<4>(isum);
        summs = group_sum<4>(summs);
        if (!valid || p != 0) return 0.0f;
        const float dy = __ldg(a.d + t * (a.stride / 256) + blk0 / 256);
        const float dall = dy * half_bits_to_float(static_cast<uint16_t>(w.dm & 0xffffu));
        const float dmin = dy * half_bits_to_float(static_cast<uint16_t>(w.dm >> 16));
        const float pos = dall * static_cast<float>(isum);
        const float neg = dmin * static_cast<float>(summs);
        return pos - neg;
    }
    static __device__ __forceinline__ float finish(float v) { return v; }
};

// Q4_K: a chunk is 16 of the block's 128 code bytes (32 weights: 8 lanes per block); each
// lane also reads the 16-byte block header (same cache line for the 8 lanes).
template <>
struct Dot<WType::Q4_K, true> {
    static constexpr int kElems = 32, kLanes = 8;
    using Acc = float;
    struct W {
        uint4 hdr, q;
    };
    static __device__ __forceinline__ void load(W &w, const DevWeight &m, uint64_t row, uint32_t c) {
        const uint8_t *blk = m.main + row * m.main_row + (c / 8) * 144ull;
        w.hdr = ldg16(blk);
        w.q = ldg16(blk + 16 + (c % 8) * 16);
    }
    static __device__ __forceinline__ float term(const W &w, const DevAct &a, uint64_t t, uint32_t c, uint64_t off,
                                                 bool valid) {
        int isum = 0, summs = 0;
        const int p = static_cast<int>(c & 7u), g = p >> 1;
        const uint64_t blk0 = off + (c / 8) * 256ull;
        if (valid) {
            // Code bytes 32g + l: low nibble = element 64g + l, high nibble = 64g + 32 + l.
            const int8_t *xq = a.q + t * a.stride + blk0 + 64 * g + 16 * (p & 1);
            const int4 xl = detail::ldg_codes16(xq), xh = detail::ldg_codes16(xq + 32);
            int lo = detail::dp4a(w.q.x & 0x0f0f0f0fu, xl.x, 0);
            lo = detail::dp4a(w.q.y & 0x0f0f0f0fu, xl.y, lo);
            lo = detail::dp4a(w.q.z & 0x0f0f0f0fu, xl.z, lo);
            lo = detail::dp4a(w.q.w & 0x0f0f0f0fu, xl.w, lo);
            int hi = detail::dp4a((w.q.x >> 4) & 0x0f0f0f0fu, xh.x, 0);
            hi = detail::dp4a((w.q.y >> 4) & 0x0f0f0f0fu, xh.y, hi);
            hi = detail::dp4a((w.q.z >> 4) & 0x0f0f0f0fu, xh.z, hi);
            hi = detail::dp4a((w.q.w >> 4) & 0x0f0f0f0fu, xh.w, hi);
            int sc0, m0, sc1, m1, scp, mp;
            detail::q4k_scale_min(w.hdr, 2 * g, sc0, m0);
            detail::q4k_scale_min(w.hdr, 2 * g + 1, sc1, m1);
            detail::q4k_scale_min(w.hdr, p, scp, mp);
            isum = sc0 * lo + sc1 * hi;
            // Lane p also carries sub-block p's min term.
            const int32_t *bs = a.bsums + t * (a.stride / 16) + blk0 / 16;
            summs = mp * (__ldg(bs + 2 * p) + __ldg(bs + 2 * p + 1));
        }
        isum = group_sum<8>(isum);
        summs = group_sum<8>(summs);
        if (!valid || p != 0) return 0.0f;
        const float dy = __ldg(a.d + t * (a.stride / 256) + blk0 / 256);
        const float dall = dy * half_bits_to_float(static_cast<uint16_t>(w.hdr.x & 0xffffu));
        const float dmin = dy * half_bits_to_float(static_cast<uint16_t>(w.hdr.x >> 16));
        const float pos = dall * static_cast<float>(isum);
        const float neg = dmin * static_cast<float>(summs);
        return pos - neg;
    }
    static __device__ __forceinline__ float finish(float v) { return v; }
};

// IQ2_XXS: a chunk is 2 of the block's 8 groups (64 weights: 4 lanes per block).  The
// signed grid values are formed at load time (they do not depend on the token).
template <>
struct Dot<WType::IQ2_XXS, true> {
    static constexpr int kElems = 64, kLanes = 4;
    using Acc = float;
    struct W {
        uint32_t v[2][8];  // per group: 4 sub-groups x 2 words of 4 signed int8 values
        int ls[2];         // 2 * scale + 1
        uint16_t d;
    };
    static __device__ __forceinline__ void load(W &w, const DevWeight &m, uint64_t row, uint32_t c) {
        const uint4 q = ldg16(m.main + row * m.main_row + (c / 4) * 64ull + (c % 4) * 16);
        w.d = __ldg(reinterpret_cast<const unsigned short *>(m.side + row * m.side_row) + c / 4);
#pragma unroll
        for (int gi = 0; gi < 2; gi++) {
            const uint32_t idx = gi ? q.z : q.x, bits = gi ? q.w : q.y;
            w.ls[gi] = static_cast<int>(2 * (bits >> 28) + 1);
#pragma unroll
            for (int l = 0; l < 4; l++) {
                const uint64_t grid = __ldg(reinterpret_cast<const unsigned long long *>(m.iq2_grid) + ((idx >> (8 * l)) & 0xffu));
                const uint32_t signs = detail::iq2_signs((bits >> (7 * l)) & 127u);
                const uint32_t mlo = detail::byte_mask4(signs), mhi = detail::byte_mask4(signs >> 4);
                w.v[gi][2 * l] = __vsub4(static_cast<uint32_t>(grid) ^ mlo, mlo);
                w.v[gi][2 * l + 1] = __vsub4(static_cast<uint32_t>(grid >> 32) ^ mhi, mhi);
            }
        }
    }
    static __device__ __forceinline__ float term(const W &w, const DevAct &a, uint64_t t, uint32_t c, uint64_t off,
                                                 bool valid) {
        int bsum = 0;
        const uint64_t blk0 = off + (c / 4) * 256ull;
        if (valid) {
            const int8_t *xq = a.q + t * a.stride + blk0 + 64 * (c % 4);
#pragma unroll
            for (int gi = 0; gi < 2; gi++) {
                const int4 x0 = detail::ldg_codes16(xq + 32 * gi), x1 = detail::ldg_codes16(xq + 32 * gi + 16);
                int s = detail::dp4a(w.v[gi][0], x0.x, 0);
                s = detail::dp4a(w.v[gi][1], x0.y, s);
                s = detail::dp4a(w.v[gi][2], x0.z, s);
                s = detail::dp4a(w.v[gi][3], x0.w, s);
                s = detail::dp4a(w.v[gi][4], x1.x, s);
                s = detail::dp4a(w.v[gi][5], x1.y, s);
                s = detail::dp4a(w.v[gi][6], x1.z, s);
                s = detail::dp4a(w.v[gi][7], x1.w, s);
                bsum += w.ls[gi] * s;
            }
        }
        bsum = group_sum<4>(bsum);
        if (!valid || (c & 3u)) return 0.0f;
        const float d = half_bits_to_float(w.d) * __ldg(a.d + t * (a.stride / 256) + blk0 / 256);
        return d * static_cast<float>(bsum);
    }
    static __device__ __forceinline__ float finish(float v) { return 0.125f * v; }
};

// Half-precision rows (F16, BF16) times f32 activations, f32 accumulation.
template <WType T>
__device__ __forceinline__ float half_to_float(uint16_t h) {
    if constexpr (T == WType::BF16) return bf16_bits_to_float(h);
    else return half_bits_to_float(h);
}

template <WType T>
struct DotHalf {
    static constexpr int kElems = 8, kLanes = 1;
    using Acc = float;
    struct W {
        uint4 h;
    };
    static __device__ __forceinline__ void load(W &w, const DevWeight &m, uint64_t row, uint32_t c) {
        w.h = ldg16(m.main + row * m.main_row + c * 16ull);
    }
    static __device__ __forceinline__ float term(const W &w, const DevAct &a, uint64_t t, uint32_t c, uint64_t off,
                                                 bool valid) {
        if (!valid) return 0.0f;
        const float4 *xp = reinterpret_cast<const float4 *>(a.x + t * a.stride + off + c * 8ull);
        const float4 x0 = __ldg(xp), x1 = __ldg(xp + 1);
        const uint32_t words[4] = {w.h.x, w.h.y, w.h.z, w.h.w};
        const float xs[8] = {x0.x, x0.y, x0.z, x0.w, x1.x, x1.y, x1.z, x1.w};
        float s = 0.0f;
#pragma unroll
        for (int i = 0; i < 4; i++) {
            s = fmaf(half_to_float<T>(static_cast<uint16_t>(words[i] & 0xffffu)), xs[2 * i], s);
            s = fmaf(half_to_float<T>(static_cast<uint16_t>(words[i] >> 16)), xs[2 * i + 1], s);
        }
        return s;
    }
    static __device__ __forceinline__ float finish(float v) { return v; }
};
template <>
struct Dot<WType::F16, true> : DotHalf<WType::F16> {};
template <>
struct Dot<WType::BF16, true> : DotHalf<WType::BF16> {};

// One element per chunk: rows whose length or alignment does not allow 16-byte loads.
template <WType T>
struct DotScalar {
    static constexpr int kElems = 1, kLanes = 1;
    using Acc = std::conditional_t<T == WType::F32, double, float>;
    struct W {
        float v;
    };
    static __device__ __forceinline__ void load(W &w, const DevWeight &m, uint64_t row, uint32_t c) {
        const uint8_t *r = m.main + row * m.main_row;
        if constexpr (T == WType::F32) w.v = __ldg(reinterpret_cast<const float *>(r) + c);
        else w.v = half_to_float<T>(__ldg(reinterpret_cast<const unsigned short *>(r) + c));
    }
    static __device__ __forceinline__ Acc term(const W &w, const DevAct &a, uint64_t t, uint32_t c, uint64_t off,
                                               bool valid) {
        if (!valid) return Acc{0};
        return static_cast<Acc>(w.v) * static_cast<Acc>(__ldg(a.x + t * a.stride + off + c));
    }
    static __device__ __forceinline__ float finish(Acc v) { return static_cast<float>(v); }
};
template <>
struct Dot<WType::F16, false> : DotScalar<WType::F16> {};
template <>
struct Dot<WType::BF16, false> : DotScalar<WType::BF16> {};
template <>
struct Dot<WType::F32, false> : DotScalar<WType::F32> {};

// F32 rows, 4 per chunk, accumulated in double like the CPU's matvec_f32.
template <>
struct Dot<WType::F32, true> {
    static constexpr int kElems = 4, kLanes = 1;
    using Acc = double;
    struct W {
        float4 v;
    };
    static __device__ __forceinline__ void load(W &w, const DevWeight &m, uint64_t row, uint32_t c) {
        w.v = __ldg(reinterpret_cast<const float4 *>(m.main + row * m.main_row) + c);
    }
    static __device__ __forceinline__ double term(const W &w, const DevAct &a, uint64_t t, uint32_t c, uint64_t off,
                                                  bool valid) {
        if (!valid) return 0.0;
        const float4 x = __ldg(reinterpret_cast<const float4 *>(a.x + t * a.stride + off + c * 4ull));
        double s = static_cast<double>(w.v.x) * x.x;
        s = fma(static_cast<double>(w.v.y), static_cast<double>(x.y), s);
        s = fma(static_cast<double>(w.v.z), static_cast<double>(x.z), s);
        s = fma(static_cast<double>(w.v.w), static_cast<double>(x.w), s);
        return s;
    }
    static __device__ __forceinline__ float finish(double v) { return static_cast<float>(v); }
};

}  // namespace dstar::backend::cuda
