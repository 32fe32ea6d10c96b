// Host-side orchestration of the ops made of several kernels: the cache-dependent part of
// attention (compressors, indexer, attention, raw window) and the routed experts.
#pragma once

#include <cuda_runtime_api.h>

#include "backend/backend.h"
#include "backend/cuda/dispatch.h"
#include "backend/cuda/kernels.h"
#include "backend/cuda/scratch.h"
#include "model/rope.h"

namespace dstar::backend::cuda {

// The device's RoPE constants of a layer (ds4's YaRN blend and magnitude evaluated here,
// with the CPU's expressions).  Throws Error when n_rot does not fit the kernels.
RopeTable rope_table(const model::RopeParams &p);

struct AttentionScratch {
    DeviceScratch scores, sel, sel_count, partial;
};
// pos: b.pos0 as the kernels read it.  step: a recorded decode step, whose launches must
// not depend on the position (sizes and splits from the caches' capacities).
void run_attention(cudaStream_t stream, int sm_count, AttentionScratch &scratch, LayerState &st,
                   const AttentionWeights &w, const AttentionBatch &b, const Numerics &num, DevPos pos, bool step);

struct MoeScratch {
    ActivationBuffer x_act, mid_act;
    DeviceScratch mid, g, u, part, pairs, tiles;
};
void run_moe(cudaStream_t stream, MoeScratch &scratch, const DevWeight &gate, const DevWeight &up,
             const DevWeight &down, const float *x, const int32_t *sel, const float *weights, uint32_t n, uint32_t k,
             float clamp, float *out);

}  // namespace dstar::backend::cuda
