// Attention with the sink over each token's visible rows (model.md §3.3 step 11): the raw
// window (positions before the batch from the ring, the batch's own rows straight from its
// KV input, f16-rounded as the ring would hold them) and the compressed rows (all rows
// emitted so far, or the indexer's list).  Decode and small batches run this kernel (larger
// batches the tensor-core one, attention_mma.cu); each token has its own visible set, so
// tokens are independent blocks.
//
// A block handles 4 heads of one token (K = V is shared by all heads: each row is loaded
// once for the 4) and a range of its rows; each warp keeps an online softmax (running max,
// denominator, weighted sum) over the rows it visits, and the warps, then the row splits
// (decode: few tokens, so rows are split across blocks to fill the GPU), are combined in a
// fixed order.  No atomics: the result does not depend on timing.
#include <algorithm>

#include "backend/cuda/attention_rows.cuh"
#include "backend/cuda/check.h"
#include "backend/cuda/device.cuh"
#include "backend/cuda/launch.cuh"
#include "backend/cuda/kernels.h"
#include "common/error.h"

namespace dstar::backend::cuda {

namespace {

constexpr int kHeads = 4;      // heads per block
constexpr int kMaxE = 16;      // values per lane: head_dim <= 512
constexpr int kWarps = 4;

__global__ void __launch_bounds__(128) attention_kernel(AttentionArgs a) {
    pdl_enter();  // waits for the previous kernel (launch.cuh)
    extern __shared__ float s_o[];  // [warp][head][head_dim]
    __shared__ float s_m[kWarps][kHeads], s_l[kWarps][kHeads];
    const uint32_t t = blockIdx.y, split = blockIdx.z, h0 = blockIdx.x * kHeads;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const uint32_t hd = a.head_dim, E = hd / 32;
    const uint32_t pos0 = load_pos(a.pos0);
    const RowSet rs = visible_rows(a, pos0, t);
    const uint32_t total = rs.n_raw + rs.n_comp;
    const uint32_t per = (total + a.splits - 1) / a.splits;
    const uint32_t r_begin = min(total, split * per), r_end = min(total, r_begin + per);
    const float kq_scale = 1.0f / sqrtf(static_cast<float>(hd));

    float q[kHeads][kMaxE], o[kHeads][kMaxE], m[kHeads], l[kHeads];
#pragma unroll
    for (int hh = 0; hh < kHeads; hh++) {
        const uint32_t head = h0 + hh;
        m[hh] = -INFINITY;
        l[hh] = 0.0f;
#pragma unroll
        for (int i = 0; i < kMaxE; i++) {
            o[hh][i] = 0.0f;
            q[hh][i] = (i < static_cast<int>(E) && head < a.n_head)
                           ? a.q[(uint64_t{t} * a.n_head + head) * hd + lane + 32 * i]
                           : 0.0f;
        }
    }

    for (uint32_t r = r_begin + warp; r < r_end; r += kWarps) {
        bool batch;
        const float *krow = visible_row(a, rs, pos0, r, batch);
        const bool round = batch && a.qat;  // the ring stores f16-rounded rows
        float k[kMaxE];
#pragma unroll
        for (int i = 0; i < kMaxE; i++) {
            const float v = i < static_cast<int>(E) ? krow[lane + 32 * i] : 0.0f;
            k[i] = round ? f16_round(v) : v;
        }
#pragma unroll
        for (int hh = 0; hh < kHeads; hh++) {
            float d = 0.0f;
#pragma unroll
            for (int i = 0; i < kMaxE; i++) d = fmaf(q[hh][i], k[i], d);
            const float s = warp_sum(d) * kq_scale;  // the same value in every lane
            if (s > m[hh]) {
                const float corr = expf(m[hh] - s);
                l[hh] = l[hh] * corr + 1.0f;
#pragma unroll
                for (int i = 0; i < kMaxE; i++) o[hh][i] = o[hh][i] * corr + k[i];
                m[hh] = s;
            } else {
                const float p = expf(s - m[hh]);
                l[hh] += p;
#pragma unroll
                for (int i = 0; i < kMaxE; i++) o[hh][i] = fmaf(p, k[i], o[hh][i]);
            }
        }
    }

#pragma unroll
    for (int hh = 0; hh < kHeads; hh++) {
#pragma unroll
        for (int i = 0; i < kMaxE; i++)
            if (i < static_cast<int>(E)) s_o[(warp * kHeads + hh) * hd + lane + 32 * i] = o[hh][i];
        if (lane == 0) {
            s_m[warp][hh] = m[hh];
            s_l[warp][hh] = l[hh];
        }
    }
    __syncthreads();

    for (uint32_t idx = threadIdx.x; idx < kHeads * hd; idx += blockDim.x) {
        const uint32_t hh = idx / hd, j = idx % hd, head = h0 + hh;
        if (head >= a.n_head) continue;
        float mx = -INFINITY;
        for (int w = 0; w < kWarps; w++) mx = fmaxf(mx, s_m[w][hh]);
        if (a.splits == 1) {
            const float sink = a.sinks[head];
            mx = fmaxf(mx, sink);
            float denom = expf(sink - mx), acc = 0.0f;
            for (int w = 0; w < kWarps; w++) {
                const float f = s_m[w][hh] == -INFINITY ? 0.0f : expf(s_m[w][hh] - mx);
                denom += s_l[w][hh] * f;
                acc += s_o[(w * kHeads + hh) * hd + j] * f;
            }
            a.out[(uint64_t{t} * a.n_head + head) * hd + j] = acc * (1.0f / denom);
        } else {
            float lsum = 0.0f, acc = 0.0f;
            if (mx != -INFINITY) {
                for (int w = 0; w < kWarps; w++) {
                    const float f = s_m[w][hh] == -INFINITY ? 0.0f : expf(s_m[w][hh] - mx);
                    lsum += s_l[w][hh] * f;
                    acc += s_o[(w * kHeads + hh) * hd + j] * f;
                }
            }
            float *part = a.partial + ((uint64_t{split} * a.n + t) * a.n_head + head) * (hd + 2);
            part[j] = acc;
            if (j == 0) {
                part[hd] = mx;
                part[hd + 1] = lsum;
            }
        }
    }
}

// Combines the row splits of each (token, head) with the sink, in split order.
__global__ void attention_combine_kernel(AttentionArgs a) {
    pdl_enter();  // waits for the previous kernel (launch.cuh)
    const uint32_t hd = a.head_dim;
    const uint64_t total = uint64_t{a.n} * a.n_head * hd;
    for (uint64_t i = blockIdx.x * uint64_t{blockDim.x} + threadIdx.x; i < total; i += uint64_t{gridDim.x} * blockDim.x) {
        const uint64_t th = i / hd;  // token * n_head + head
        const uint32_t j = static_cast<uint32_t>(i % hd), head = static_cast<uint32_t>(th % a.n_head);
        const uint64_t stride = uint64_t{a.n} * a.n_head * (hd + 2);
        const float sink = a.sinks[head];
        float mx = sink;
        for (uint32_t s = 0; s < a.splits; s++) mx = fmaxf(mx, a.partial[s * stride + th * (hd + 2) + hd]);
        float denom = expf(sink - mx), acc = 0.0f;
        for (uint32_t s = 0; s < a.splits; s++) {
            const float *part = a.partial + s * stride + th * (hd + 2);
            const float f = part[hd] == -INFINITY ? 0.0f : expf(part[hd] - mx);
            denom += part[hd + 1] * f;
            acc += part[j] * f;
        }
        a.out[i] = acc * (1.0f / denom);
    }
}

}  // namespace

void launch_attention(const AttentionArgs &a, cudaStream_t stream) {
    if (a.n == 0) return;
    if (a.head_dim % 32 != 0 || a.head_dim > 32 * kMaxE)
        fail("CUDA attention needs a head size that is a multiple of 32 up to %d (got %u)", 32 * kMaxE, a.head_dim);
    if (a.splits == 1 && attention_mma_eligible(a.n, a.n_head, a.head_dim, a.qat)) {
        launch_attention_mma(a, stream);
        return;
    }
    const dim3 grid((a.n_head + kHeads - 1) / kHeads, a.n, a.splits);
    const size_t smem = size_t{kWarps} * kHeads * a.head_dim * sizeof(float);
    launch_pdl("attention_kernel", attention_kernel, dim3(grid), dim3(128), smem, stream, a);
    check_launch("attention", stream);
    if (a.splits > 1) {
        const uint64_t total = uint64_t{a.n} * a.n_head * a.head_dim;
        const unsigned blocks = grid_for(total, 256) < 4096 ? grid_for(total, 256) : 4096;
        launch_pdl("attention_combine_kernel", attention_combine_kernel, dim3(blocks), dim3(256), 0, stream, a);
        check_launch("attention_combine", stream);
    }
}

}  // namespace dstar::backend::cuda
