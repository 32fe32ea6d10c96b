// Router and routed experts on the CPU (model.md §3.6).
#pragma once

#include "backend/backend.h"
#include "common/thread_pool.h"

namespace dstar::backend::cpu {

void route(const float *logits, const Weight *bias, const Weight *tid2eid, const int32_t *tokens, uint32_t n,
           uint32_t n_expert, uint32_t k, float weights_scale, int32_t *sel, float *weights);

void moe(ThreadPool &pool, float *out, const Weight &gate, const Weight &up, const Weight &down, const float *x,
         const int32_t *sel, const float *weights, uint32_t n, uint32_t k, float clamp);

}  // namespace dstar::backend::cpu
