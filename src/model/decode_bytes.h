// Weight bytes one decode step reads (model.md §6.1 counting rule), for roofline ratios.
#pragma once

#include <cstdint>

#include "model/weights.h"

namespace dstar::model {

// Every weight byte a decode step at context length `n_ctx` touches, read once: the selected
// experts' slices only (expert_used_count per layer), one embedding row, one APE row per
// compressor, the indexer's query weights only once it has more rows than it keeps.
uint64_t decode_weight_bytes(const ModelWeights &w, uint64_t n_ctx);

}  // namespace dstar::model
