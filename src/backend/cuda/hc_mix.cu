// The hyper-connection mix product of a batch (hc_pre's 24 rows, hc_head's 4): for every
// token t, mix[t][r] = (row r of fn . x[t]) * rms_scale(x[t]) (model.md §3.2, §3.7).
//
// Why a kernel of its own: the generic path normalised the 16384-wide rows into a copy and
// ran the 24-row product as decode matvecs, 8 tokens per launch, each launch re-reading
// the whole weight (32 launches of ~35 us per hc_pre of a 256-token chunk).  The product
// is tiny (24 x 16384 weights) against the activations (64 KB per token), so it is bound
// by reading x once; this reads x once, in one launch, and forms the sum of squares in the
// same pass.
//
// Pass 1 (hc_mix_partial_kernel): block = 64 tokens x one slice of 256 columns.  The
// slice of fn is converted to f32 in shared memory as [column][row], so the 24 weights a
// lane needs for one column are six 16-byte broadcasts.  Lane l owns tokens l and l + 32
// of the tile and streams their x straight from global memory with 16-byte loads (each x
// element is read by exactly one lane; 8 loads per lane in flight), the 4 warps taking
// interleaved 4-column steps of the slice.  Each x value feeds R FMAs per token held in
// registers; the sums of squares go into doubles alongside (as the CPU's rms_norm does).
// The 4 warps' partial sums are added in warp order through shared memory and written per
// (slice, token).
// Pass 2 (hc_mix_reduce_kernel): one warp per token adds the slices in slice order, then
// scales the R sums by the token's RMS scale (the CPU scales each input first instead:
// the same value up to rounding, as in the fused decode kernel of hc.cu).
//
// Every sum has a fixed order (no atomics): results do not depend on timing.
#include "backend/cuda/check.h"
#include "backend/cuda/device.cuh"
#include "backend/cuda/launch.cuh"
#include "backend/cuda/kernels.h"
#include "common/error.h"

namespace dstar::backend::cuda {

namespace {

constexpr int kThreads = 128, kWarps = kThreads / 32;
constexpr int kTileTokens = 64;   // two tokens per lane
constexpr int kSliceCols = 256;   // columns per block
constexpr int kUnroll = 4;        // 4-column steps per lane whose loads are in flight together

// Floats per (slice, token) partial: R sums (padded to even), then the sum of squares as a
// double (8-byte aligned because every record is a multiple of 8 bytes long).
template <int R>
constexpr int partial_stride() {
    return (R + 1) / 2 * 2 + 2;
}

// Elements of a weight row in one 16-byte load and their f32 values.
template <WType T>
constexpr int vec_elems() {
    return T == WType::F32 ? 4 : 8;
}
template <WType T>
__device__ __forceinline__ void to_floats(const uint4 &v, float (&f)[vec_elems<T>()]) {
    const uint32_t words[4] = {v.x, v.y, v.z, v.w};
    if constexpr (T == WType::F32) {
#pragma unroll
        for (int i = 0; i < 4; i++) f[i] = __uint_as_float(words[i]);
    } else {
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const uint16_t lo = static_cast<uint16_t>(words[i] & 0xffffu), hi = static_cast<uint16_t>(words[i] >> 16);
            if constexpr (T == WType::BF16) {
                f[2 * i] = bf16_bits_to_float(lo);
                f[2 * i + 1] = bf16_bits_to_float(hi);
            } else {
                f[2 * i] = half_bits_to_float(lo);
                f[2 * i + 1] = half_bits_to_float(hi);
            }
        }
    }
}

template <int R>
struct MixSmem {
    static constexpr int kRedPitch = R + 1;  // odd: a lane's 64 token rows fall in distinct banks
    static constexpr int kW = kSliceCols * R, kRed = kWarps * kTileTokens * kRedPitch;
    // The weight slice while the products run; the warps' partial sums afterwards.
    float buf[kW > kRed ? kW : kRed];
    double ss[kWarps][kTileTokens];
};

template <int R, WType T>
__global__ void __launch_bounds__(kThreads) hc_mix_partial_kernel(DevWeight fn, const float *x, uint32_t n,
                                                                  float *partial) {
    pdl_enter();  // waits for the previous kernel (launch.cuh)
    static_assert(R % 4 == 0 && R <= 28, "rows are read as float4 and reduced by one warp");
    constexpr int E = vec_elems<T>();
    constexpr int P = partial_stride<R>();
    constexpr int RP = MixSmem<R>::kRedPitch;
    __shared__ __align__(16) MixSmem<R> sm;
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const uint64_t K = fn.k;
    const uint64_t c0 = uint64_t{blockIdx.x} * kSliceCols;
    const int cols = static_cast<int>(K - c0 < kSliceCols ? K - c0 : kSliceCols);  // a multiple of 8
    const uint32_t tok0 = blockIdx.y * kTileTokens;

    // 1. The weight slice as f32 [column][row].  Consecutive threads take consecutive rows
    // of one 16-byte column chunk, so the transposed stores fall in consecutive banks.
    {
        const int items = (cols / E) * R;
        for (int i = tid; i < items; i += kThreads) {
            const int r = i % R, ch = i / R;
            const uint4 v = ldg16(fn.main + uint64_t(r) * fn.main_row + (c0 + uint64_t(ch) * E) * (16 / E));
            float f[E];
            to_floats<T>(v, f);
#pragma unroll
            for (int j = 0; j < E; j++) sm.buf[(ch * E + j) * R + r] = f[j];
        }
    }
    __syncthreads();

    // 2. Products of this lane's two tokens over the warp's column steps.
    const uint32_t ta = tok0 + lane, tb = ta + 32;
    const bool va = ta < n, vb = tb < n;
    const float4 *xa = reinterpret_cast<const float4 *>(x + uint64_t{va ? ta : 0} * K + c0);
    const float4 *xb = reinterpret_cast<const float4 *>(x + uint64_t{vb ? tb : 0} * K + c0);
    float acc_a[R], acc_b[R];
#pragma unroll
    for (int r = 0; r < R; r++) acc_a[r] = acc_b[r] = 0.0f;
    double ss_a = 0.0, ss_b = 0.0;
    const int steps = cols / 4;
    for (int s0 = warp; s0 < steps; s0 += kWarps * kUnroll) {
        float4 a[kUnroll], b[kUnroll];
#pragma unroll
        for (int u = 0; u < kUnroll; u++) {
            const int s = s0 + u * kWarps;
            const float4 zero = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
            a[u] = va && s < steps ? __ldg(xa + s) : zero;
            b[u] = vb && s < steps ? __ldg(xb + s) : zero;
        }
#pragma unroll
        for (int u = 0; u < kUnroll; u++) {
            const int s = s0 + u * kWarps;
            if (s >= steps) break;  // warp-uniform
            const float av[4] = {a[u].x, a[u].y, a[u].z, a[u].w}, bv[4] = {b[u].x, b[u].y, b[u].z, b[u].w};
#pragma unroll
            for (int j = 0; j < 4; j++) {
                ss_a = fma(static_cast<double>(av[j]), static_cast<double>(av[j]), ss_a);
                ss_b = fma(static_cast<double>(bv[j]), static_cast<double>(bv[j]), ss_b);
                const float4 *wr = reinterpret_cast<const float4 *>(&sm.buf[(4 * s + j) * R]);
#pragma unroll
                for (int q = 0; q < R / 4; q++) {
                    const float4 w = wr[q];
                    acc_a[4 * q] = fmaf(w.x, av[j], acc_a[4 * q]);
                    acc_a[4 * q + 1] = fmaf(w.y, av[j], acc_a[4 * q + 1]);
                    acc_a[4 * q + 2] = fmaf(w.z, av[j], acc_a[4 * q + 2]);
                    acc_a[4 * q + 3] = fmaf(w.w, av[j], acc_a[4 * q + 3]);
                    acc_b[4 * q] = fmaf(w.x, bv[j], acc_b[4 * q]);
                    acc_b[4 * q + 1] = fmaf(w.y, bv[j], acc_b[4 * q + 1]);
                    acc_b[4 * q + 2] = fmaf(w.z, bv[j], acc_b[4 * q + 2]);
                    acc_b[4 * q + 3] = fmaf(w.w, bv[j], acc_b[4 * q + 3]);
                }
            }
        }
    }

    // 3. The warps' sums in warp order -> this slice's partial of each token.
    __syncthreads();  // every warp is done with the weight slice
#pragma unroll
    for (int r = 0; r < R; r++) {
        sm.buf[(warp * kTileTokens + lane) * RP + r] = acc_a[r];
        sm.buf[(warp * kTileTokens + lane + 32) * RP + r] = acc_b[r];
    }
    sm.ss[warp][lane] = ss_a;
    sm.ss[warp][lane + 32] = ss_b;
    __syncthreads();
    for (int i = tid; i < kTileTokens * R; i += kThreads) {
        const int t = i / R, r = i % R;
        if (tok0 + t >= n) continue;
        float v = sm.buf[t * RP + r];
#pragma unroll
        for (int w = 1; w < kWarps; w++) v += sm.buf[(w * kTileTokens + t) * RP + r];
        partial[(uint64_t{blockIdx.x} * n + tok0 + t) * P + r] = v;
    }
    if (tid < kTileTokens && tok0 + tid < n) {
        double v = sm.ss[0][tid];
#pragma unroll
        for (int w = 1; w < kWarps; w++) v += sm.ss[w][tid];
        *reinterpret_cast<double *>(partial + (uint64_t{blockIdx.x} * n + tok0 + tid) * P + (P - 2)) = v;
    }
}

// One warp per token: lane r < R adds row r over the slices in order, lane 31 the sums of
// squares; then the RMS scale (rms_norm's formula) times each row's sum.
template <int R>
__global__ void __launch_bounds__(256) hc_mix_reduce_kernel(const float *partial, uint32_t n, uint32_t slices,
                                                            uint64_t k, float eps, float *mix) {
    pdl_enter();  // waits for the previous kernel (launch.cuh)
    constexpr int P = partial_stride<R>();
    const uint32_t t = blockIdx.x * 8 + (threadIdx.x >> 5);
    const int lane = threadIdx.x & 31;
    if (t >= n) return;  // the whole warp
    float v = 0.0f;
    double ss = 0.0;
    if (lane < R) {
        for (uint32_t s = 0; s < slices; s++) v += __ldg(partial + (uint64_t{s} * n + t) * P + lane);
    } else if (lane == 31) {
        for (uint32_t s = 0; s < slices; s++)
            ss += __ldg(reinterpret_cast<const double *>(partial + (uint64_t{s} * n + t) * P + (P - 2)));
    }
    ss = __shfl_sync(kFullMask, ss, 31);
    const float rscale = 1.0f / sqrtf(static_cast<float>(ss / static_cast<double>(k)) + eps);
    if (lane < R) mix[uint64_t{t} * R + lane] = v * rscale;
}

template <int R>
void launch_rows(const DevWeight &fn, const float *x, uint32_t n, float rms_eps, float *partial, float *mix,
                 cudaStream_t stream) {
    const unsigned slices = static_cast<unsigned>((fn.k + kSliceCols - 1) / kSliceCols);
    const dim3 grid(slices, (n + kTileTokens - 1) / kTileTokens);
    switch (fn.type) {
    case WType::F16: launch_pdl("hc_mix_partial_kernel", hc_mix_partial_kernel<R, WType::F16>, dim3(grid), dim3(kThreads), 0, stream, fn, x, n, partial); break;
    case WType::BF16: launch_pdl("hc_mix_partial_kernel", hc_mix_partial_kernel<R, WType::BF16>, dim3(grid), dim3(kThreads), 0, stream, fn, x, n, partial); break;
    case WType::F32: launch_pdl("hc_mix_partial_kernel", hc_mix_partial_kernel<R, WType::F32>, dim3(grid), dim3(kThreads), 0, stream, fn, x, n, partial); break;
    default: fail("HC mix: weight type %d is not a float type", static_cast<int>(fn.type));
    }
    check_launch("hc_mix_partial", stream);
    launch_pdl("hc_mix_reduce_kernel", hc_mix_reduce_kernel<R>, dim3((n + 7) / 8), dim3(256), 0, stream, partial, n, slices, fn.k, rms_eps, mix);
    check_launch("hc_mix_reduce", stream);
}

}  // namespace

bool hc_mix_supported(const DevWeight &fn, const float *x) {
    const bool float_type = fn.type == WType::F16 || fn.type == WType::BF16 || fn.type == WType::F32;
    const bool rows_ok = fn.rows == 4 || fn.rows == 24;
    return float_type && rows_ok && fn.k > 0 && fn.k % 8 == 0 && fn.main_row % 16 == 0 &&
           (reinterpret_cast<uintptr_t>(fn.main) & 15u) == 0 && (reinterpret_cast<uintptr_t>(x) & 15u) == 0;
}

size_t hc_mix_partial_floats(const DevWeight &fn, uint32_t n) {
    const uint64_t slices = (fn.k + kSliceCols - 1) / kSliceCols;
    const int p = fn.rows == 4 ? partial_stride<4>() : partial_stride<24>();
    return static_cast<size_t>(slices * n * static_cast<uint64_t>(p));
}

void launch_hc_mix(const DevWeight &fn, const float *x, uint32_t n, float rms_eps, float *partial, float *mix,
                   cudaStream_t stream) {
    if (n == 0) return;
    if (!hc_mix_supported(fn, x)) fail("HC mix: unsupported shape");
    if ((n + kTileTokens - 1) / kTileTokens > 65535) fail("HC mix: %u tokens exceed one launch", n);
    if (fn.rows == 4) launch_rows<4>(fn, x, n, rms_eps, partial, mix, stream);
    else launch_rows<24>(fn, x, n, rms_eps, partial, mix, stream);
}

}  // namespace dstar::backend::cuda
