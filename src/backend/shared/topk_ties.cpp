#include "backend/shared/topk_ties.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace dstar::backend::shared {

std::vector<int32_t> torch_topk_rows(const float *scores, uint32_t n_comp, uint32_t n_total, uint32_t top_k) {
    const uint32_t n = std::max(n_total, n_comp);
    const uint32_t k = std::min(top_k, n);
    std::vector<std::pair<float, int64_t>> queue(n);
    for (uint32_t c = 0; c < n; c++) queue[c] = {c < n_comp ? scores[c] : -INFINITY, c};
    auto greater = [](const std::pair<float, int64_t> &x, const std::pair<float, int64_t> &y) {
        return (std::isnan(x.first) && !std::isnan(y.first)) || x.first > y.first;
    };
    if (static_cast<uint64_t>(k) * 64 <= n) std::partial_sort(queue.begin(), queue.begin() + k, queue.end(), greater);
    else std::nth_element(queue.begin(), queue.begin() + (k - 1), queue.end(), greater);
    std::vector<int32_t> rows;
    for (uint32_t i = 0; i < k; i++)
        if (queue[i].second < n_comp) rows.push_back(static_cast<int32_t>(queue[i].second));
    std::sort(rows.begin(), rows.end());
    return rows;
}

}  // namespace dstar::backend::shared
