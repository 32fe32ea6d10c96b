#include "server/worker/checkpoints.h"

namespace dstar::server::worker {

uint32_t Checkpoints::cold_len(std::span<const int32_t> prompt) const {
    if (!enabled()) return 0;
    return kvcache::cold_store_len(prompt, tok_.user(), tok_.assistant(), disk_->options());
}

std::optional<uint32_t> Checkpoints::suppress_continued(uint32_t cold_len, uint32_t &frontier) const {
    if (!enabled() || cold_len == 0 || !kvcache::at_continued_frontier(cold_len, frontier, disk_->options()))
        return std::nullopt;
    const uint32_t old = frontier;
    frontier = cold_len;
    return old;
}

void Checkpoints::save_cold(const engine::Session &s, uint32_t prompt_len, uint32_t &frontier,
                            std::optional<uint32_t> suppressed) {
    if (!enabled()) return;
    const uint32_t n = s.pos();
    const kvcache::StoreResult r = disk_->store(s, kvcache::SaveReason::Cold, kvcache::KeyKind::TokenText, {},
                                                prompt_len > n ? prompt_len - n : 0, memory_);
    if (r.ok) {
        if (n > frontier) frontier = n;
    } else if (suppressed && frontier == n) {
        frontier = *suppressed;  // let a later continued save try this frontier
    }
}

void Checkpoints::maybe_continued(const engine::Session &s, uint32_t &frontier) {
    if (!enabled() || !kvcache::at_continued_frontier(s.pos(), frontier, disk_->options())) return;
    if (disk_->store(s, kvcache::SaveReason::Continued, kvcache::KeyKind::TokenText, {}, 0, memory_).ok)
        frontier = s.pos();
}

void Checkpoints::save_live(const engine::Session &s, kvcache::SaveReason reason,
                            const std::optional<Binding> &binding) {
    if (!enabled() || s.pos() == 0 || s.pos() < min_tokens()) return;
    if (binding && !binding->visible_text.empty() &&
        (binding->kind == Binding::Kind::Responses || binding->kind == Binding::Kind::Thinking)) {
        const kvcache::KeyKind kind = binding->kind == Binding::Kind::Responses ? kvcache::KeyKind::ResponsesVisible
                                                                                : kvcache::KeyKind::ThinkingVisible;
        disk_->store(s, reason, kind, binding->visible_text, 0, memory_);
        return;
    }
    disk_->store(s, reason, kvcache::KeyKind::TokenText, {}, 0, memory_);
}

std::optional<kvcache::LoadHit> Checkpoints::load(std::string_view prompt_text, engine::Session &s) {
    if (!enabled()) return std::nullopt;
    return disk_->load_longest_prefix(prompt_text, s, memory_);
}

}  // namespace dstar::server::worker
