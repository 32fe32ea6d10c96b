// The KV compressors (model.md §3.4) for a whole batch at once, and the raw window store.
//
// The CPU reference runs the compressor token by token against a frontier state (rows of
// (value, score + APE); ratio 4 keeps the previous window in rows 0..3 and the current one
// in rows 4..7, shifting at each emit).  Here every compressed row whose window closes in
// the batch is pooled in parallel, reading each candidate token's values from the batch
// (positions >= pos0) or from the frontier as it was before the batch; afterwards the
// frontier is advanced to exactly the state the streaming code would leave.  The pooling
// of one channel visits the candidates in the CPU's order with its operations, then the row
// is normalised, rotated and QAT-rounded as on the CPU.
#include "backend/cuda/check.h"
#include "backend/cuda/device.cuh"
#include "backend/cuda/launch.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/qat.cuh"
#include "backend/cuda/rope.cuh"
#include "common/error.h"

namespace dstar::backend::cuda {

namespace {

struct Candidate {
    float kv, score;
};

// Values of the token at position q (column col) as the frontier rows hold them.
// pos0: the batch's first position.
__device__ __forceinline__ Candidate fetch(const CompressorArgs &a, uint32_t pos0, int64_t q, uint32_t col,
                                           uint32_t width) {
    if (q < 0) return {0.0f, -INFINITY};  // before the first window: an empty (initial) row
    const uint32_t r = a.ratio;
    if (q >= static_cast<int64_t>(pos0)) {
        const uint64_t t = static_cast<uint64_t>(q) - pos0;
        return {a.kv[t * width + col], a.score[t * width + col] + a.ape[(static_cast<uint64_t>(q) % r) * width + col]};
    }
    uint32_t slot;
    if (r == 4) {
        const int64_t w0_old = pos0 - pos0 % 4;  // first position of the window open at pos0
        slot = q >= w0_old ? 4 + static_cast<uint32_t>(q % 4) : static_cast<uint32_t>(q % 4);
    } else {
        slot = static_cast<uint32_t>(q % r);
    }
    return {a.state_kv[uint64_t{slot} * width + col], a.state_score[uint64_t{slot} * width + col]};
}

// Emits run as two kernels.  Pooling (compressor_pool_kernel): one warp per (row, 32
// channels); the warp first copies its candidates' values and scores into shared memory
// with kPoolBatch loads per lane in flight (the pooling itself is a serial chain per
// channel, in the CPU's candidate order, that must not wait on a global load at every
// step), then lane j pools channel j0 + j from shared memory, writing the pooled value to
// the row's place in the cache.  Finishing (compressor_finish_kernel): one block per row
// reads it back and applies the norm, RoPE and QAT rounding, which need the whole row.
constexpr int kPoolChannels = 32, kPoolBatch = 8;

// Candidates of a row: ratio 4 pools the previous window (channels [0, hd)) and the
// current one (channels [hd, 2 hd)), 4 positions each; other ratios pool r positions.
__device__ __forceinline__ uint32_t pool_candidates(uint32_t r) { return r == 4 ? 8 : r; }

__global__ void __launch_bounds__(kPoolChannels) compressor_pool_kernel(CompressorArgs a) {
    pdl_enter();  // waits for the previous kernel (launch.cuh)
    extern __shared__ float s_pool[];  // kv [cand][32], then score [cand][32]
    const uint32_t r = a.ratio, hd = a.head_dim;
    const bool overlap = r == 4;
    const uint32_t width = (overlap ? 2 : 1) * hd;
    const uint32_t pos0 = load_pos(a.pos0);
    const uint32_t c = pos0 / r + blockIdx.x;                   // compressed row index
    if (c >= (pos0 + a.n) / r) return;                          // not closed by this batch (whole block)
    const int64_t emit = static_cast<int64_t>(c + 1) * r - 1;   // position whose step emits it
    const uint32_t lane = threadIdx.x, j = blockIdx.y * kPoolChannels + lane;
    const bool ok = j < hd;
    const uint32_t nc = pool_candidates(r);
    float *s_kv = s_pool, *s_sc = s_pool + nc * kPoolChannels;

    // Candidate i: position emit - 7 + i (ratio 4; i >= 4 reads the current-window columns)
    // or emit - r + 1 + i.
    const auto cand = [&](uint32_t i) -> Candidate {
        if (!ok) return {0.0f, -INFINITY};
        if (overlap) return i < 4 ? fetch(a, pos0, emit - 7 + i, j, width) : fetch(a, pos0, emit - 7 + i, hd + j, width);
        return fetch(a, pos0, emit - r + 1 + i, j, width);
    };
    for (uint32_t i0 = 0; i0 < nc; i0 += kPoolBatch) {
        Candidate v[kPoolBatch];
#pragma unroll
        for (int u = 0; u < kPoolBatch; u++) v[u] = i0 + u < nc ? cand(i0 + u) : Candidate{0.0f, -INFINITY};
#pragma unroll
        for (int u = 0; u < kPoolBatch; u++)
            if (i0 + u < nc) {
                s_kv[(i0 + u) * kPoolChannels + lane] = v[u].kv;
                s_sc[(i0 + u) * kPoolChannels + lane] = v[u].score;
            }
    }
    __syncwarp();
    if (!ok) return;

    // Softmax pooling per channel (backend/cpu/attention.cpp compressor_pool): candidates in
    // the CPU's order; ratio 4 visits previous/current pairs (i, 4 + i).
    const auto kv = [&](uint32_t i) { return s_kv[i * kPoolChannels + lane]; };
    const auto sc = [&](uint32_t i) { return s_sc[i * kPoolChannels + lane]; };
    float mx = -INFINITY;
    if (overlap) {
        for (uint32_t i = 0; i < 4; i++) {
            const float sp = sc(i), scur = sc(4 + i);
            if (sp > mx) mx = sp;
            if (scur > mx) mx = scur;
        }
    } else {
        for (uint32_t i = 0; i < r; i++) mx = fmaxf(mx, sc(i));
    }
    float out = 0.0f;
    if (mx != -INFINITY) {
        float denom = 0.0f, sum = 0.0f;
        if (overlap) {
            for (uint32_t i = 0; i < 4; i++) {
                const float wp = expf(sc(i) - mx);
                const float wc = expf(sc(4 + i) - mx);
                denom += wp + wc;
                sum += wp * kv(i);
                sum += wc * kv(4 + i);
            }
        } else {
            for (uint32_t i = 0; i < r; i++) {
                const float w = expf(sc(i) - mx);
                denom += w;
                sum += w * kv(i);
            }
        }
        out = denom > 0.0f ? sum / denom : 0.0f;
    }
    a.rows[uint64_t{c} * hd + j] = out;
}

__global__ void __launch_bounds__(256) compressor_finish_kernel(CompressorArgs a) {
    pdl_enter();  // waits for the previous kernel (launch.cuh)
    extern __shared__ float row[];  // head_dim values
    __shared__ double scratch[32];
    const uint32_t r = a.ratio, hd = a.head_dim;
    const uint32_t pos0 = load_pos(a.pos0);
    const uint32_t c = pos0 / r + blockIdx.x;                   // compressed row index
    if (c >= (pos0 + a.n) / r) return;                          // not closed by this batch (whole block)
    const int64_t emit = static_cast<int64_t>(c + 1) * r - 1;   // position whose step emits it
    for (uint32_t j = threadIdx.x; j < hd; j += blockDim.x) row[j] = a.rows[uint64_t{c} * hd + j];
    __syncthreads();

    // RMS norm with the compressor's weight (sum of squares in double).
    double ss = 0.0;
    for (uint32_t j = threadIdx.x; j < hd; j += blockDim.x) ss += static_cast<double>(row[j]) * row[j];
    ss = block_sum(ss, scratch);
    const float scale = 1.0f / sqrtf(static_cast<float>(ss / static_cast<double>(hd)) + a.eps);
    for (uint32_t j = threadIdx.x; j < hd; j += blockDim.x) row[j] = row[j] * scale * a.norm[j];
    __syncthreads();

    // RoPE at the position of the window's first token.
    const uint32_t n_rot = a.rope.n_rot;
    for (uint32_t j = threadIdx.x; j < n_rot / 2; j += blockDim.x) {
        float cs, sn;
        rope_cos_sin(a.rope, static_cast<uint32_t>(emit + 1 - r), j, false, cs, sn);
        rope_pair(row + hd - n_rot, j, cs, sn);
    }
    __syncthreads();

    if (a.qat) {
        if (a.indexer) block_indexer_qat_row(row);
        else block_fp8_row(row, hd - n_rot);
        for (uint32_t j = threadIdx.x; j < hd; j += blockDim.x) row[j] = f16_round(row[j]);  // ds4 stores f16
        __syncthreads();
    }
    for (uint32_t j = threadIdx.x; j < hd; j += blockDim.x) a.rows[uint64_t{c} * hd + j] = row[j];
}

// One thread per frontier column: the state after the batch, as the streaming code leaves it.
__global__ void compressor_advance_kernel(CompressorArgs a) {
    pdl_enter();  // waits for the previous kernel (launch.cuh)
    const uint32_t r = a.ratio, hd = a.head_dim;
    const bool overlap = r == 4;
    const uint32_t width = (overlap ? 2 : 1) * hd;
    const uint32_t col = blockIdx.x * blockDim.x + threadIdx.x;
    if (col >= width) return;
    const int64_t pos0 = load_pos(a.pos0), end = pos0 + a.n;  // positions [pos0, end)
    auto batch = [&](int64_t q) -> Candidate {
        const uint64_t t = static_cast<uint64_t>(q - pos0);
        return {a.kv[t * width + col], a.score[t * width + col] + a.ape[(static_cast<uint64_t>(q) % r) * width + col]};
    };
    auto put = [&](uint32_t slot, Candidate v) {
        a.state_kv[uint64_t{slot} * width + col] = v.kv;
        a.state_score[uint64_t{slot} * width + col] = v.score;
    };
    // The current-window row of phase ph holds the latest token q = ph (mod r) before end.
    auto latest = [&](uint32_t ph) -> int64_t { return end - 1 >= ph ? end - 1 - (end - 1 - ph) % r : -1; };
    if (overlap) {
        Candidate old[4];
        for (uint32_t ph = 0; ph < 4; ph++)
            old[ph] = {a.state_kv[uint64_t{4 + ph} * width + col], a.state_score[uint64_t{4 + ph} * width + col]};
        for (uint32_t ph = 0; ph < 4; ph++) {
            const int64_t q = latest(ph);
            if (q >= pos0) put(4 + ph, batch(q));
        }
        // A window closed inside the batch: rows 0..3 = the last closed window (its tokens
        // before the batch were in the old current-window rows).
        if (end / 4 > pos0 / 4) {
            const int64_t w0 = end - end % 4;
            for (uint32_t ph = 0; ph < 4; ph++) {
                const int64_t q = w0 - 4 + ph;
                put(ph, q >= pos0 ? batch(q) : old[ph]);
            }
        }
    } else {
        // The batch's last r tokens are the latest of their phases (q % r), so visiting them
        // writes exactly the rows the loop over phases would (one 64-bit modulo per batch
        // token instead of one per phase: a decode step of a ratio-128 layer took ~19 us).
        const int64_t first = end - pos0 > static_cast<int64_t>(r) ? end - static_cast<int64_t>(r) : pos0;
        for (int64_t q = first; q < end; q++) put(static_cast<uint32_t>(q % r), batch(q));
    }
}

__global__ void raw_store_kernel(float *raw, uint32_t raw_cap, const float *kv, uint32_t t0, uint32_t n,
                                 DevPos pos, uint32_t hd, bool qat) {
    pdl_enter();  // waits for the previous kernel (launch.cuh)
    const uint32_t pos0 = load_pos(pos);
    const uint64_t total = uint64_t{n - t0} * hd;
    for (uint64_t i = blockIdx.x * uint64_t{blockDim.x} + threadIdx.x; i < total; i += uint64_t{gridDim.x} * blockDim.x) {
        const uint32_t t = t0 + static_cast<uint32_t>(i / hd), d = static_cast<uint32_t>(i % hd);
        const float v = kv[uint64_t{t} * hd + d];
        raw[uint64_t{(pos0 + t) % raw_cap} * hd + d] = qat ? f16_round(v) : v;
    }
}

}  // namespace

void launch_compressor_emit(const CompressorArgs &a, cudaStream_t stream) {
    if (a.n == 0) return;
    // n tokens close at most floor((n - 1) / ratio) + 1 windows, wherever they start.
    const uint32_t most = (a.n - 1) / a.ratio + 1;
    const uint32_t cand = a.ratio == 4 ? 8 : a.ratio;
    const size_t pool_smem = size_t{cand} * kPoolChannels * 2 * sizeof(float);
    if (pool_smem > 48 * 1024) fail("compressor: ratio %u pools too many positions", a.ratio);
    const dim3 pool_grid(most, (a.head_dim + kPoolChannels - 1) / kPoolChannels);
    launch_pdl("compressor_pool_kernel", compressor_pool_kernel, dim3(pool_grid), dim3(kPoolChannels), pool_smem, stream, a);
    check_launch("compressor_pool", stream);
    launch_pdl("compressor_finish_kernel", compressor_finish_kernel, dim3(most), dim3(256), a.head_dim * sizeof(float), stream, a);
    check_launch("compressor_emit", stream);
}

void launch_compressor_advance(const CompressorArgs &a, cudaStream_t stream) {
    if (a.n == 0) return;
    const uint32_t width = (a.ratio == 4 ? 2 : 1) * a.head_dim;
    launch_pdl("compressor_advance_kernel", compressor_advance_kernel, dim3(grid_for(width, 128)), dim3(128), 0, stream, a);
    check_launch("compressor_advance", stream);
}

void launch_raw_store(float *raw, uint32_t raw_cap, const float *kv, uint32_t n, DevPos pos0, uint32_t head_dim,
                      bool qat, cudaStream_t stream) {
    if (n == 0) return;
    const uint32_t t0 = n > raw_cap ? n - raw_cap : 0;
    const uint64_t total = uint64_t{n - t0} * head_dim;
    const unsigned grid = grid_for(total, 256) < 4096 ? grid_for(total, 256) : 4096;
    launch_pdl("raw_store_kernel", raw_store_kernel, dim3(grid), dim3(256), 0, stream, raw, raw_cap, kv, t0, n, pos0, head_dim, qat);
    check_launch("raw_store", stream);
}

}  // namespace dstar::backend::cuda
