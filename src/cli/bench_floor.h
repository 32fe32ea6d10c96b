// The memory floor of decoding (model.md §6): bytes a decode step must read, and what that
// means in tokens/s at a measured bandwidth.  Single-sequence decode is bandwidth-bound, so
// every speed is reported as a fraction of bandwidth / bytes-per-token.
#pragma once

#include <cstdint>

#include "model/config.h"
#include "model/weights.h"

namespace dstar::cli::bench {

// KV-cache bytes one decode step reads at context n (tokens in the cache, the new one
// included), model.md §6.2 with ds4's f32 rows: the raw window on every layer; on ratio-r
// layers the n/r compressed rows, of which indexer layers read all indexer keys (only once
// there are more than idx_top_k rows to choose from) and only the top-k compressed rows.
uint64_t kv_read_bytes(const model::ModelConfig &c, uint64_t n);

// Weight bytes (model::decode_weight_bytes) plus KV bytes of one decode step at context n.
uint64_t decode_floor_bytes(const model::ModelWeights &w, uint64_t n);

// Mean floor bytes per token of `steps` decode steps that start with `first_ctx` tokens in
// the cache (step i runs at context first_ctx + i + 1).
double mean_decode_floor_bytes(const model::ModelWeights &w, uint64_t first_ctx, uint32_t steps);

// tokens/s at the floor for a bandwidth in GB/s (1e9 bytes/s); 0 when unknown.
inline double floor_tokens_per_second(double floor_bytes, double bandwidth_gbps) {
    return floor_bytes > 0 && bandwidth_gbps > 0 ? bandwidth_gbps * 1e9 / floor_bytes : 0.0;
}

}  // namespace dstar::cli::bench
