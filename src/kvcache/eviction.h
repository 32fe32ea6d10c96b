// The disk budget (kvcache.md §6): which checkpoint files to delete, and in which order,
// when the directory holds more bytes than --kv-disk-space-mb allows.  Pure functions.
//
//   score = (effective_hits + 1) * tokens / file_bytes,
//   effective_hits = hits * 2^(-age / 6 h), age since last use (or creation), < 0.01 -> 0.
//
// Recently and often hit checkpoints survive; among never-hit ones, those with more tokens
// per byte (long prefixes amortise the fixed per-file state) survive.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "kvcache/directory.h"

namespace dstar::kvcache {

inline constexpr double kHitHalfLifeSeconds = 6.0 * 60 * 60;

double effective_hits(const FileHeader &h, uint64_t now);
double eviction_score(const CacheFile &f, uint64_t now);

// Indices into `files`, in deletion order, that bring their total size within budget_bytes.
// Lowest score first; on equal scores the older last-used time goes first, then the earlier
// name.  The file named protected_sha (the one just written) is never chosen unless it alone
// exceeds the budget.
std::vector<size_t> plan_eviction(const std::vector<CacheFile> &files, uint64_t budget_bytes,
                                  std::string_view protected_sha, uint64_t now);

// Bytes of budget a file of `file_bytes` needs: its size plus 1% (rounded up) of headroom
// (kvcache.md §5.5), so a file that fits is not immediately evicted by accounting surprises.
uint64_t with_budget_slack(uint64_t file_bytes);

}  // namespace dstar::kvcache
