// Save policy (kvcache.md §5.1, §5.2): where cold checkpoints land and when continued ones
// are due.  Declared in disk_cache.h.
#include "kvcache/disk_cache.h"

namespace dstar::kvcache {

namespace {

// ds4's chat anchor: the last User marker before the first Assistant marker, i.e. the start
// of the message that asks this particular task; everything before it (system prompt, tool
// schemas, leading user-role scaffolding) is what other sessions share.  0 when absent.
uint32_t chat_anchor(std::span<const int32_t> prompt, int32_t user_id, int32_t assistant_id) {
    if (user_id < 0 || assistant_id < 0) return 0;
    uint32_t last_user = 0;
    for (size_t i = 0; i < prompt.size(); i++) {
        if (prompt[i] == assistant_id) break;
        if (prompt[i] == user_id) last_user = static_cast<uint32_t>(i);
    }
    return last_user;
}

}  // namespace

uint32_t cold_store_len(std::span<const int32_t> prompt, int32_t user_id, int32_t assistant_id,
                        const Options &opt) {
    const uint64_t n = prompt.size();
    if (opt.cold_max_tokens == 0 || n == 0 || n < opt.min_tokens || n > opt.cold_max_tokens) return 0;
    const uint32_t anchor = chat_anchor(prompt, user_id, assistant_id);
    if (anchor > 0 && anchor >= opt.min_tokens) return anchor;
    // Trim a small tail (BPE may merge across the boundary the next prompt continues from)
    // and align down to the prefill schedule; keep the whole prompt if that falls below min.
    const uint64_t trim = opt.boundary_trim, align = opt.boundary_align;
    if (n > opt.min_tokens + trim) {
        uint64_t stable = n - trim;
        if (align > 0) stable -= stable % align;
        if (stable >= opt.min_tokens && stable > 0) return static_cast<uint32_t>(stable);
    }
    return static_cast<uint32_t>(n);
}

uint32_t continued_step(const Options &opt) {
    if (opt.continued_interval == 0) return 0;
    const uint64_t align = opt.boundary_align;
    if (align == 0) return opt.continued_interval;
    const uint64_t step = (opt.continued_interval + align - 1) / align * align;
    return step > UINT32_MAX ? 0 : static_cast<uint32_t>(step);
}

bool at_continued_frontier(uint32_t n, uint32_t last_frontier, const Options &opt) {
    const uint32_t step = continued_step(opt);
    return step > 0 && n > 0 && n >= opt.min_tokens && n % step == 0 && n > last_frontier;
}

}  // namespace dstar::kvcache
