#include "kvcache/eviction.h"

#include <cmath>
#include <limits>

namespace dstar::kvcache {

namespace {
constexpr double kMinEffectiveHits = 0.01;
}  // namespace

double effective_hits(const FileHeader &h, uint64_t now) {
    const uint64_t used_at = h.last_used ? h.last_used : h.created;
    if (used_at == 0) return 0.0;
    double hits = h.hits;
    if (now > used_at) hits *= std::exp2(-static_cast<double>(now - used_at) / kHitHalfLifeSeconds);
    return hits < kMinEffectiveHits ? 0.0 : hits;
}

double eviction_score(const CacheFile &f, uint64_t now) {
    if (f.file_size == 0) return 0.0;
    return (effective_hits(f.header, now) + 1.0) * static_cast<double>(f.header.tokens) /
           static_cast<double>(f.file_size);
}

std::vector<size_t> plan_eviction(const std::vector<CacheFile> &files, uint64_t budget_bytes,
                                  std::string_view protected_sha, uint64_t now) {
    uint64_t total = 0;
    for (const CacheFile &f : files) total += f.file_size;
    std::vector<double> score(files.size());
    for (size_t i = 0; i < files.size(); i++) {
        const bool shielded = !protected_sha.empty() && files[i].sha == protected_sha &&
                              files[i].file_size <= budget_bytes;
        score[i] = shielded ? std::numeric_limits<double>::infinity() : eviction_score(files[i], now);
    }
    std::vector<size_t> order;
    std::vector<bool> gone(files.size(), false);
    while (total > budget_bytes && order.size() < files.size()) {
        size_t victim = files.size();
        for (size_t i = 0; i < files.size(); i++) {
            if (gone[i]) continue;
            if (victim == files.size() || score[i] < score[victim] ||
                (score[i] == score[victim] && files[i].header.last_used < files[victim].header.last_used))
                victim = i;
        }
        gone[victim] = true;
        order.push_back(victim);
        total -= files[victim].file_size;
    }
    return order;
}

uint64_t with_budget_slack(uint64_t file_bytes) {
    const uint64_t slack = file_bytes / 100 + (file_bytes % 100 ? 1 : 0);
    if (file_bytes > std::numeric_limits<uint64_t>::max() - slack) return std::numeric_limits<uint64_t>::max();
    return file_bytes + slack;
}

}  // namespace dstar::kvcache
