// The router (model.md §3.6 steps 2-4): one thread per token runs the CPU reference's
// selection loop (backend/cpu/moe.cpp) over the expert scores, so the same scores give the
// same experts in the same order, ties to the lower expert id.
#include "backend/cuda/check.h"
#include "backend/cuda/device.cuh"
#include "backend/cuda/kernels.h"
#include "model/shape.h"

namespace dstar::backend::cuda {

namespace {

constexpr uint32_t kMaxK = 16;

__device__ __forceinline__ float expert_prob(float logit) { return sqrtf(softplus_stable(logit)); }

__global__ void route_kernel(const float *logits, const float *bias, const int32_t *tid2eid, const int32_t *tokens,
                             uint32_t n, uint32_t n_expert, uint32_t k, float weights_scale, float min_sum,
                             int32_t *sel, float *weights) {
    const uint32_t t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= n) return;
    const float *lg = logits + uint64_t{t} * n_expert;
    int32_t s[kMaxK];
    float sv[kMaxK];
    if (tid2eid) {
        // Hash routing: the experts are fixed per token id (validated at load).
        for (uint32_t j = 0; j < k; j++) s[j] = tid2eid[static_cast<uint64_t>(tokens[t]) * k + j];
    } else {
        for (uint32_t j = 0; j < k; j++) s[j] = -1;
        for (uint32_t e = 0; e < n_expert; e++) {
            const float v = bias ? expert_prob(lg[e]) + bias[e] : expert_prob(lg[e]);
            for (uint32_t j = 0; j < k; j++) {
                if (s[j] < 0 || v > sv[j]) {
                    for (uint32_t m = k - 1; m > j; m--) {
                        s[m] = s[m - 1];
                        sv[m] = sv[m - 1];
                    }
                    s[j] = static_cast<int32_t>(e);
                    sv[j] = v;
                    break;
                }
            }
        }
    }
    // Weights from the unbiased scores, normalised over the chosen experts.
    float w[kMaxK];
    float sum = 0.0f;
    for (uint32_t j = 0; j < k; j++) {
        const bool ok = s[j] >= 0 && static_cast<uint32_t>(s[j]) < n_expert;
        w[j] = ok ? expert_prob(lg[s[j]]) : 0.0f;
        sum += w[j];
    }
    if (sum < min_sum) sum = min_sum;
    for (uint32_t j = 0; j < k; j++) {
        sel[uint64_t{t} * k + j] = s[j];
        weights[uint64_t{t} * k + j] = w[j] / sum * weights_scale;
    }
}

}  // namespace

void launch_route(const float *logits, const float *bias, const int32_t *tid2eid, const int32_t *tokens, uint32_t n,
                  uint32_t n_expert, uint32_t k, float weights_scale, int32_t *sel, float *weights,
                  cudaStream_t stream) {
    if (n == 0) return;
    route_kernel<<<grid_for(n, 128), 128, 0, stream>>>(logits, bias, tid2eid, tokens, n, n_expert, k, weights_scale,
                                                      model::limits::kMinRouterSum, sel, weights);
    check_launch("route", stream);
}

}  // namespace dstar::backend::cuda
