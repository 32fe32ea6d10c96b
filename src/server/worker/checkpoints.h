// When the worker writes disk KV checkpoints (kvcache.md §5) and how it keys them: cold saves
// at the anchor/trim boundary of a prompt that reused nothing, continued saves at absolute
// frontiers, evict saves before a slot's state is replaced, shutdown saves on exit.  Each slot
// keeps its own "last continued frontier"; this class updates it.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "engine/session.h"
#include "kvcache/disk_cache.h"
#include "kvcache/tool_memory.h"
#include "server/job.h"

namespace dstar::server::worker {

class Checkpoints {
public:
    // disk may be null (no disk cache); memory null = exact DSML replay disabled (no trailers).
    Checkpoints(kvcache::DiskCache *disk, kvcache::ToolMemory *memory, const tok::Tokenizer &tok)
        : disk_(disk), memory_(memory), tok_(tok) {}

    bool enabled() const { return disk_ && disk_->enabled(); }
    uint32_t min_tokens() const { return enabled() ? disk_->options().min_tokens : 0; }

    // Cold-save boundary for a prompt that reused nothing; 0 = no cold save.
    uint32_t cold_len(std::span<const int32_t> prompt) const;

    // A cold boundary that is also a continued frontier is written once, as "cold": mark the
    // frontier handled before prefill reaches it.  Returns the frontier to restore if the
    // cold save then fails (nullopt: nothing was suppressed).
    std::optional<uint32_t> suppress_continued(uint32_t cold_len, uint32_t &frontier) const;

    // Saves the session (which holds exactly the cold boundary) as "cold"; `prompt_len` is the
    // full prompt length (for the trimmed count).  On failure restores `suppressed`.
    void save_cold(const engine::Session &s, uint32_t prompt_len, uint32_t &frontier,
                   std::optional<uint32_t> suppressed);

    // Saves as "continued" if the session sits on a frontier above `frontier` (then raised).
    void maybe_continued(const engine::Session &s, uint32_t &frontier);

    // Evict / shutdown saves of a whole live session holding >= min_tokens: keyed by the
    // binding's visible text when a Responses or thinking binding sits at the live position,
    // else by the token text.
    void save_live(const engine::Session &s, kvcache::SaveReason reason, const std::optional<Binding> &binding);

    // Loads the longest cached prefix of prompt_text into s (kvcache.md §7).
    std::optional<kvcache::LoadHit> load(std::string_view prompt_text, engine::Session &s);

private:
    kvcache::DiskCache *disk_;
    kvcache::ToolMemory *memory_;
    const tok::Tokenizer &tok_;
};

}  // namespace dstar::server::worker
