#include "server/worker/cache_trace.h"

#include <algorithm>

#include "server/worker/live_reuse.h"
#include "server/worker/worker_log.h"

namespace dstar::server::worker {

namespace {
constexpr uint32_t kBefore = 8, kAfter = 8;

std::string token_text(int32_t id, const tok::Tokenizer &tok) {
    if (id < 0) return "- <none>";
    return std::to_string(id) + " \"" + trace_escape(tok.token_bytes_view(id)) + "\"";
}
}  // namespace

CacheDiag capture_cache_diag(std::span<const int32_t> live, std::span<const int32_t> prompt) {
    CacheDiag d;
    d.old_pos = static_cast<uint32_t>(live.size());
    d.prompt_len = static_cast<uint32_t>(prompt.size());
    d.common = common_prefix(live, prompt);
    const uint32_t longest = std::max(d.old_pos, d.prompt_len);
    d.window_start = d.common > kBefore ? d.common - kBefore : 0;
    const uint32_t end = std::max(d.window_start, std::min(longest, d.common + kAfter + 1));
    for (uint32_t pos = d.window_start; pos < end; pos++) {
        d.live_window.push_back(pos < live.size() ? live[pos] : -1);
        d.prompt_window.push_back(pos < prompt.size() ? prompt[pos] : -1);
    }
    return d;
}

const char *cache_miss_reason(const CacheDiag &d) {
    if (d.old_pos == 0) return "no-live-checkpoint";
    if (d.common != d.old_pos) return "token-mismatch";
    if (d.prompt_len < d.old_pos) return "incoming-prompt-shorter-than-live-checkpoint";
    return "live-prefix-match";
}

bool memory_token_reusable(const CacheDiag &d) {
    return d.old_pos > 0 && d.common == d.old_pos && d.prompt_len >= d.old_pos;
}

void trace_cache_decision(TraceRecord &rec, const CacheDiag &d, const CacheOutcome &o, const tok::Tokenizer &tok) {
    std::string s = "\n--- cache decision ---\n";
    s += strfmt("live_tokens_before: %u\n", d.old_pos);
    s += strfmt("prompt_tokens: %u\n", d.prompt_len);
    s += strfmt("live_prompt_common: %u\n", d.common);
    s += strfmt("memory_token_reusable: %d\n", memory_token_reusable(d) ? 1 : 0);
    s += strfmt("memory_miss_reason: %s\n", cache_miss_reason(d));
    s += strfmt("cache_source: %s\n", o.source.c_str());
    s += strfmt("cached_tokens: %u\n", o.cached);
    s += strfmt("disk_cached_tokens: %u\n", o.disk_cached);
    if (!o.disk_file.empty()) s += "disk_cache_file: " + o.disk_file + "\n";
    // dstar additions: with several live sessions, which one served the request, and the
    // effective prompt length (ds4 prints it in the request header, which the API layer writes
    // before the worker has decided).
    s += strfmt("slot: %d\n", o.slot);
    s += strfmt("effective_prompt_tokens: %u\n", o.effective_tokens);

    if (d.old_pos > 0 && !memory_token_reusable(d)) {
        s += strfmt("\nfirst_mismatch_token: %u\n", d.common);
        s += strfmt("token_window: [%u..%u)\n", d.window_start,
                    d.window_start + static_cast<uint32_t>(d.live_window.size()));
        for (size_t i = 0; i < d.live_window.size(); i++) {
            const int32_t live = d.live_window[i], prompt = d.prompt_window[i];
            const char *mark = live < 0 ? "prompt-only" : prompt < 0 ? "live-only" : live == prompt ? "==" : "!=";
            s += strfmt("%7u %-11s live ", d.window_start + static_cast<uint32_t>(i), mark);
            s += token_text(live, tok) + " | prompt " + token_text(prompt, tok) + "\n";
        }
    }
    rec.text(s);
}

}  // namespace dstar::server::worker
