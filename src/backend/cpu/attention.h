// The cache-dependent part of an attention sublayer on the CPU (model.md §3.3-3.5).
#pragma once

#include "backend/backend.h"
#include "common/thread_pool.h"

namespace dstar::backend::cpu {

void attention(ThreadPool &pool, LayerState &st, const AttentionWeights &w, const AttentionBatch &b,
               const Numerics &num);

// One streaming compressor step for the token at `pos` (model.md §3.4): stores the token's
// projected values/scores (+APE) in the frontier; when the window closes, pools it into
// `row` (head_dim values: normalised, roped at the window start, QAT-rounded) and returns
// true.  `is_indexer` selects the indexer's post-processing (Hadamard + FP4) instead of FP8.
bool compressor_step(float *state_kv, float *state_score, const float *kv, const float *score, const float *ape,
                     const float *norm, uint32_t head_dim, uint32_t ratio, uint32_t pos,
                     const model::RopeParams &rope, bool is_indexer, float eps, const Numerics &num, float *row);

}  // namespace dstar::backend::cpu
