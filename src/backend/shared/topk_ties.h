// The indexer's top-k as PyTorch's CPU torch.topk picks it among equal scores (the
// Numerics::IndexerTies::Torch comparison mode; docs/NUMERICS.md), shared by the CPU
// reference and the CUDA backend, which runs it on the host for that mode.
#pragma once

#include <cstdint>
#include <vector>

namespace dstar::backend::shared {

// The rows PyTorch's CPU top-k (aten TopKImpl.h) selects from `scores` of the n_comp rows a
// token sees, in ascending order.  The batch holds n_total >= n_comp rows; rows past n_comp
// are this token's future and take part at -inf (as transformers calls topk on the whole
// batch).  (value, index) pairs compared by value only; std::partial_sort when k * 64 <= n,
// else std::nth_element at k - 1: the same libstdc++ algorithms give the same ties.
std::vector<int32_t> torch_topk_rows(const float *scores, uint32_t n_comp, uint32_t n_total, uint32_t top_k);

}  // namespace dstar::backend::shared
