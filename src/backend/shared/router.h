// The router's selection and weighting (model.md §3.6 steps 3-4), shared by the CPU
// reference and the CUDA router kernel (hd.h).
#pragma once

#include <cstdint>

#include "backend/shared/hd.h"

namespace dstar::backend::shared {

// Offers expert e with selection score v to the descending top-k list (sel[j] < 0: an empty
// slot).  An equal later score never displaces an earlier one, so ties go to the lower
// expert id when experts are offered in id order.
DSTAR_HD void topk_offer(int32_t *sel, float *score, uint32_t k, int32_t e, float v) {
    for (uint32_t j = 0; j < k; j++) {
        if (sel[j] < 0 || v > score[j]) {
            for (uint32_t m = k - 1; m > j; m--) {
                sel[m] = sel[m - 1];
                score[m] = score[m - 1];
            }
            sel[j] = e;
            score[j] = v;
            return;
        }
    }
}

// w[j] <- w[j] / max(sum of w, min_sum) * scale: the chosen experts' unbiased scores
// normalised over the choice.
DSTAR_HD void normalise_router_weights(float *w, uint32_t k, float min_sum, float scale) {
    float sum = 0.0f;
    for (uint32_t j = 0; j < k; j++) sum += w[j];
    if (sum < min_sum) sum = min_sum;
    for (uint32_t j = 0; j < k; j++) w[j] = w[j] / sum * scale;
}

}  // namespace dstar::backend::shared
