#include "server/worker/stop_scan.h"

#include <algorithm>

namespace dstar::server::worker {

StopScanner::StopScanner(const std::vector<std::string> &stops) {
    for (const std::string &s : stops) {
        if (s.empty()) continue;
        stops_.push_back(s);
        max_len_ = std::max(max_len_, s.size());
    }
}

std::optional<size_t> StopScanner::scan(std::string_view text) {
    if (stops_.empty()) return std::nullopt;
    std::optional<size_t> best;
    for (const std::string &s : stops_) {
        const size_t at = text.find(s, std::min(scan_from_, text.size()));
        if (at != std::string_view::npos && (!best || at < *best)) best = at;
    }
    // A match that completes later must end in new bytes, so it starts within the last
    // (max_len - 1) bytes of the current text at the earliest.
    if (!best) scan_from_ = text.size() > max_len_ - 1 ? text.size() - (max_len_ - 1) : 0;
    return best;
}

size_t StopScanner::safe_len(size_t text_len) const {
    if (max_len_ <= 1) return text_len;
    const size_t hold = max_len_ - 1;
    return text_len > hold ? text_len - hold : 0;
}

}  // namespace dstar::server::worker
