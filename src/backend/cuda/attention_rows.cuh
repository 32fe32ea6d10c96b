// Each token's visible rows (model.md §3.3 step 11), shared by the attention kernels: the raw
// window (positions before the batch from the ring, the batch's own rows straight from its
// KV input) and the compressed rows (all rows emitted so far, or the indexer's list).
#pragma once

#include <cstdint>

#include "backend/cuda/kernels.h"

namespace dstar::backend::cuda {

struct RowSet {
    uint32_t n_raw, raw_first, n_comp;
    const int32_t *list;  // indexer rows, or null: rows 0 .. n_comp-1
};

__device__ __forceinline__ RowSet visible_rows(const AttentionArgs &a, uint32_t pos0, uint32_t t) {
    const uint32_t pos = pos0 + t;
    RowSet s;
    s.n_raw = min(pos + 1, a.window);
    s.raw_first = pos + 1 - s.n_raw;
    s.n_comp = a.ratio ? (pos + 1) / a.ratio : 0;
    s.list = nullptr;
    if (a.sel && t >= a.sel_t0) {
        s.list = a.sel + uint64_t{t - a.sel_t0} * a.sel_stride;
        s.n_comp = a.sel_count ? static_cast<uint32_t>(a.sel_count[t - a.sel_t0]) : a.sel_stride;
    }
    return s;
}

// Row r (< n_raw + n_comp) of a token's visible set.  `batch` tells whether it is one of the
// batch's own raw rows, which the ring will hold f16-rounded (when qat) but a.kv does not.
__device__ __forceinline__ const float *visible_row(const AttentionArgs &a, const RowSet &rs, uint32_t pos0,
                                                    uint32_t r, bool &batch) {
    batch = false;
    if (r < rs.n_raw) {
        const uint32_t p = rs.raw_first + r;
        if (p >= pos0) {
            batch = true;
            return a.kv + uint64_t{p - pos0} * a.head_dim;
        }
        return a.raw + uint64_t{p % a.raw_cap} * a.head_dim;
    }
    const uint32_t c = rs.list ? static_cast<uint32_t>(rs.list[r - rs.n_raw]) : r - rs.n_raw;
    return a.comp + uint64_t{c} * a.head_dim;
}

}  // namespace dstar::backend::cuda
