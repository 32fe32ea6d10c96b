// The router (model.md §3.6 steps 2-4): the same scores give the CPU reference's experts in
// its order (ties to the lower expert id) and its weights (backend/shared/router.h).
#include "backend/cuda/check.h"
#include "backend/cuda/device.cuh"
#include "backend/cuda/launch.cuh"
#include "backend/cuda/kernels.h"
#include "backend/shared/activation.h"
#include "backend/shared/router.h"
#include "common/error.h"
#include "model/shape.h"

namespace dstar::backend::cuda {

namespace {

constexpr uint32_t kMaxK = 16;
constexpr int kWarps = 4;  // tokens per block

// One warp per token.  Learned routing picks the k best selection scores (score + bias) by k
// rounds of a warp arg-max that prefers the lower expert id among equal scores: the list
// the CPU's insertion loop (shared::topk_offer, experts offered in id order) builds, in its
// order.  The weights are then formed by the same shared code as on the CPU.
__global__ void __launch_bounds__(32 * kWarps) route_kernel(const float *logits, const float *bias,
                                                            const int32_t *tid2eid, const int32_t *tokens, uint32_t n,
                                                            uint32_t n_expert, uint32_t k, float weights_scale,
                                                            float min_sum, int32_t *sel, float *weights) {
    pdl_enter();  // waits for the previous kernel (launch.cuh)
    extern __shared__ float s_score[];  // [kWarps][n_expert] selection scores (-inf: taken)
    __shared__ int32_t s_sel[kWarps][kMaxK];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const uint32_t t = blockIdx.x * kWarps + warp;
    if (t >= n) return;  // whole warps
    const float *lg = logits + uint64_t{t} * n_expert;
    int32_t *s = s_sel[warp];
    if (tid2eid) {
        // Hash routing: the experts are fixed per token id (validated at load).
        if (lane < static_cast<int>(k)) s[lane] = tid2eid[static_cast<uint64_t>(tokens[t]) * k + lane];
    } else {
        float *score = s_score + static_cast<uint64_t>(warp) * n_expert;
        for (uint32_t e = lane; e < n_expert; e += 32) {
            const float p = shared::expert_prob(lg[e]);
            score[e] = bias ? p + bias[e] : p;
        }
        __syncwarp();
        for (uint32_t j = 0; j < k; j++) {
            float best = -INFINITY;
            int32_t at = -1;
            for (uint32_t e = lane; e < n_expert; e += 32) {
                const float v = score[e];
                if (at < 0 || v > best) {
                    best = v;
                    at = static_cast<int32_t>(e);
                }
            }
            warp_argmax_lowest(best, at);
            if (lane == 0) {
                s[j] = at;
                if (at >= 0) score[at] = -INFINITY;
            }
            __syncwarp();
        }
    }
    __syncwarp();
    if (lane != 0) return;
    // Weights from the unbiased scores, normalised over the chosen experts.
    float w[kMaxK];
    for (uint32_t j = 0; j < k; j++) {
        const bool ok = s[j] >= 0 && static_cast<uint32_t>(s[j]) < n_expert;
        w[j] = ok ? shared::expert_prob(lg[s[j]]) : 0.0f;
    }
    shared::normalise_router_weights(w, k, min_sum, weights_scale);
    for (uint32_t j = 0; j < k; j++) {
        sel[uint64_t{t} * k + j] = s[j];
        weights[uint64_t{t} * k + j] = w[j];
    }
}

// The same selection and weights with the token's scores in registers (kPer per lane:
// expert lane + 32 i), for up to 32 * kPer experts: every logit and bias load is issued
// first, a taken expert is marked by its owning lane, and lane j keeps choice j, so the
// weights are normalised by all lanes at once (the k-step serial tail of the kernel above
// goes away).  The normalisation repeats shared::normalise_router_weights' operations in
// its order: the sum from 0 over j in order, floored at min_sum, then w / sum * scale.
template <uint32_t kPer>
__global__ void __launch_bounds__(32 * kWarps) route_reg_kernel(const float *logits, const float *bias,
                                                                const int32_t *tid2eid, const int32_t *tokens,
                                                                uint32_t n, uint32_t n_expert, uint32_t k,
                                                                float weights_scale, float min_sum, int32_t *sel,
                                                                float *weights) {
    pdl_enter();  // waits for the previous kernel (launch.cuh)
    const int lane = threadIdx.x & 31;
    const uint32_t t = blockIdx.x * kWarps + (threadIdx.x >> 5);
    if (t >= n) return;  // whole warps
    const float *lg = logits + uint64_t{t} * n_expert;
    int32_t my_sel = -1;
    float my_w = 0.0f;
    if (tid2eid) {
        // Hash routing: the experts are fixed per token id (validated at load).
        if (static_cast<uint32_t>(lane) < k) {
            my_sel = tid2eid[static_cast<uint64_t>(tokens[t]) * k + lane];
            const bool ok = my_sel >= 0 && static_cast<uint32_t>(my_sel) < n_expert;
            my_w = ok ? shared::expert_prob(lg[my_sel]) : 0.0f;
        }
    } else {
        float lv[kPer], bv[kPer], prob[kPer], score[kPer];
#pragma unroll
        for (uint32_t i = 0; i < kPer; i++) {
            const uint32_t e = lane + 32 * i;
            lv[i] = e < n_expert ? lg[e] : 0.0f;
            bv[i] = bias && e < n_expert ? __ldg(bias + e) : 0.0f;
        }
#pragma unroll
        for (uint32_t i = 0; i < kPer; i++) {
            prob[i] = shared::expert_prob(lv[i]);
            score[i] = bias ? prob[i] + bv[i] : prob[i];
        }
        for (uint32_t j = 0; j < k; j++) {
            float best = -INFINITY;
            int32_t at = -1;
#pragma unroll
            for (uint32_t i = 0; i < kPer; i++) {
                const uint32_t e = lane + 32 * i;
                if (e < n_expert && (at < 0 || score[i] > best)) {
                    best = score[i];
                    at = static_cast<int32_t>(e);
                }
            }
            warp_argmax_lowest(best, at);
            // Every lane has the same `at`; its owner marks it taken and hands out its weight.
            float p = 0.0f;
#pragma unroll
            for (uint32_t i = 0; i < kPer; i++) {
                if (at >= 0 && static_cast<uint32_t>(at) == lane + 32 * i) {
                    p = prob[i];
                    score[i] = -INFINITY;
                }
            }
            p = __shfl_sync(kFullMask, p, at & 31);
            if (static_cast<uint32_t>(lane) == j) {
                my_sel = at;
                my_w = at >= 0 && static_cast<uint32_t>(at) < n_expert ? p : 0.0f;
            }
        }
    }
    float sum = 0.0f;
    for (uint32_t j = 0; j < k; j++) sum += __shfl_sync(kFullMask, my_w, static_cast<int>(j));
    if (sum < min_sum) sum = min_sum;
    if (static_cast<uint32_t>(lane) < k) {
        sel[uint64_t{t} * k + lane] = my_sel;
        weights[uint64_t{t} * k + lane] = my_w / sum * weights_scale;
    }
}

constexpr uint32_t kRegExperts = 8;  // per lane: up to 256 experts in registers

}  // namespace

void launch_route(const float *logits, const float *bias, const int32_t *tid2eid, const int32_t *tokens, uint32_t n,
                  uint32_t n_expert, uint32_t k, float weights_scale, int32_t *sel, float *weights,
                  cudaStream_t stream) {
    if (n == 0) return;
    if (k > kMaxK) fail("router: at most %u experts per token (got %u)", kMaxK, k);
    if (n_expert <= 32 * kRegExperts) {
        launch_pdl("route_reg_kernel", route_reg_kernel<kRegExperts>, dim3(grid_for(n, kWarps)), dim3(32 * kWarps), 0, stream, logits, bias, tid2eid, tokens, n, n_expert, k, weights_scale, model::limits::kMinRouterSum, sel, weights);
        check_launch("route", stream);
        return;
    }
    const size_t smem = size_t{kWarps} * n_expert * sizeof(float);
    if (smem > 48 * 1024) fail("router: %u experts do not fit the routing kernel", n_expert);
    launch_pdl("route_kernel", route_kernel, dim3(grid_for(n, kWarps)), dim3(32 * kWarps), smem, stream, logits, bias, tid2eid, tokens, n, n_expert, k,
                                                                   weights_scale, model::limits::kMinRouterSum, sel,
                                                                   weights);
    check_launch("route", stream);
}

}  // namespace dstar::backend::cuda
