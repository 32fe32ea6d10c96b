#include "cli/bench_floor.h"

#include <algorithm>

#include "model/decode_bytes.h"

namespace dstar::cli::bench {

uint64_t kv_read_bytes(const model::ModelConfig &c, uint64_t n) {
    constexpr uint64_t kF32 = 4;
    uint64_t total = 0;
    for (uint32_t l = 0; l < c.n_layer; l++) {
        total += std::min<uint64_t>(n, c.window) * c.head_dim * kF32;
        const uint32_t r = c.ratio(l);
        if (r == 0) continue;
        const uint64_t rows = n / r;
        if (c.has_indexer(l)) {
            if (rows > c.idx_top_k) total += rows * c.idx_head_dim * kF32;  // indexer scoring
            total += std::min<uint64_t>(rows, c.idx_top_k) * c.head_dim * kF32;
        } else {
            total += rows * c.head_dim * kF32;
        }
    }
    return total;
}

uint64_t decode_floor_bytes(const model::ModelWeights &w, uint64_t n) {
    return model::decode_weight_bytes(w, n) + kv_read_bytes(w.config, n);
}

double mean_decode_floor_bytes(const model::ModelWeights &w, uint64_t first_ctx, uint32_t steps) {
    if (steps == 0) return static_cast<double>(decode_floor_bytes(w, first_ctx + 1));
    double sum = 0;
    for (uint32_t i = 0; i < steps; i++) sum += static_cast<double>(decode_floor_bytes(w, first_ctx + i + 1));
    return sum / steps;
}

}  // namespace dstar::cli::bench
