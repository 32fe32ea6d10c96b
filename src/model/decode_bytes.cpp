#include "model/decode_bytes.h"

namespace dstar::model {

uint64_t decode_weight_bytes(const ModelWeights &w, uint64_t n_ctx) {
    const ModelConfig &c = w.config;
    uint64_t total = w[GlobalTensor::TokenEmbd].row_bytes;  // one row
    for (int g = 0; g < static_cast<int>(GlobalTensor::Count); g++)
        if (static_cast<GlobalTensor>(g) != GlobalTensor::TokenEmbd) total += w.global[g].n_bytes;
    for (uint32_t l = 0; l < c.n_layer; l++) {
        const LayerWeights &lw = w.layers[l];
        for (int i = 0; i < static_cast<int>(LayerTensor::Count); i++) {
            const auto id = static_cast<LayerTensor>(i);
            const WeightTensor &t = lw[id];
            if (!t.present()) continue;
            switch (id) {
            case LayerTensor::FfnGateExps: case LayerTensor::FfnUpExps: case LayerTensor::FfnDownExps:
                total += t.n_bytes / c.n_expert * c.n_expert_used;
                break;
            case LayerTensor::FfnGateTid2eid: total += t.row_bytes; break;
            case LayerTensor::AttnCompressorApe: case LayerTensor::IndexerCompressorApe:
                total += t.row_bytes;  // the row of the current phase
                break;
            case LayerTensor::IndexerAttnQB: case LayerTensor::IndexerProj:
                if (n_ctx / c.ratio(l) > c.idx_top_k) total += t.n_bytes;
                break;
            default: total += t.n_bytes;
            }
        }
    }
    return total;
}

}  // namespace dstar::model
