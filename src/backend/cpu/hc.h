// Hyper-connection mixers on the CPU (model.md §3.2, §3.7).
#pragma once

#include <cstdint>

#include "backend/backend.h"
#include "common/thread_pool.h"

namespace dstar::backend::cpu {

void hc_pre(ThreadPool &pool, const HcWeights &hc, const float *x_hc, uint32_t n, uint32_t n_hc, uint32_t embd,
            uint32_t iters, float rms_eps, float hc_eps, float *out, float *post, float *comb);
void hc_post(ThreadPool &pool, float *out_hc, const float *y, const float *res_hc, const float *post,
             const float *comb, uint32_t n, uint32_t n_hc, uint32_t embd);
void hc_head(ThreadPool &pool, const Weight &fn, const Weight &scale, const Weight &base, const float *x_hc,
             uint32_t n, uint32_t n_hc, uint32_t embd, float rms_eps, float hc_eps, float *out);

}  // namespace dstar::backend::cpu
