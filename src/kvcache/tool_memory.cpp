#include "kvcache/tool_memory.h"

#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "chat/dsml_syntax.h"

namespace dstar::kvcache {

// One assistant turn's raw DSML, shared by the ids of all its calls (counted once).
struct Block {
    std::string text;
    std::vector<std::string> ids;  // in the order they were remembered
};

struct Entry {
    std::string id;
    Block *block;
    ToolMemory::Origin origin;
};

struct ToolMemory::Impl {
    size_t max_ids, max_bytes;
    mutable std::mutex mu;
    std::list<Entry> lru;  // most recently used first
    std::unordered_map<std::string, std::list<Entry>::iterator> by_id;
    std::unordered_map<std::string_view, std::unique_ptr<Block>> by_block;  // keys view Block::text
    size_t bytes = 0;

    Block *block_for(std::string_view text) {
        auto it = by_block.find(text);
        if (it != by_block.end()) return it->second.get();
        auto b = std::make_unique<Block>();
        b->text.assign(text);
        Block *raw = b.get();
        by_block.emplace(std::string_view(raw->text), std::move(b));
        bytes += raw->text.size();
        return raw;
    }

    void remove(std::list<Entry>::iterator e) {
        Block *b = e->block;
        std::erase(b->ids, e->id);
        bytes -= e->id.size();
        by_id.erase(e->id);
        lru.erase(e);
        if (b->ids.empty()) {
            bytes -= b->text.size();
            by_block.erase(std::string_view(b->text));  // frees b
        }
    }

    void prune() {
        while (!lru.empty() && (lru.size() > max_ids || bytes > max_bytes)) remove(std::prev(lru.end()));
    }

    void put(const std::string &id, std::string_view block, Origin origin) {
        auto found = by_id.find(id);
        if (found != by_id.end()) {
            auto e = found->second;
            if (e->block->text == block) {
                // Same call seen again: refresh it; an entry generated here outranks a restored one.
                if (origin == Origin::Ram) e->origin = Origin::Ram;
                lru.splice(lru.begin(), lru, e);
                prune();
                return;
            }
            remove(e);
        }
        Block *b = block_for(block);
        b->ids.push_back(id);
        lru.push_front(Entry{id, b, origin});
        by_id.emplace(id, lru.begin());
        bytes += id.size();
        prune();
    }
};

ToolMemory::ToolMemory(size_t max_ids, size_t max_bytes) : impl_(new Impl) {
    impl_->max_ids = max_ids;
    impl_->max_bytes = max_bytes;
}

ToolMemory::~ToolMemory() { delete impl_; }

void ToolMemory::remember(const std::vector<std::string> &ids, std::string_view block, Origin origin) {
    if (block.empty()) return;
    std::lock_guard<std::mutex> lock(impl_->mu);
    for (const std::string &id : ids)
        if (!id.empty()) impl_->put(id, block, origin);
}

std::optional<ToolMemory::Found> ToolMemory::lookup(const std::string &id) {
    std::lock_guard<std::mutex> lock(impl_->mu);
    auto found = impl_->by_id.find(id);
    if (found == impl_->by_id.end()) return std::nullopt;
    auto e = found->second;
    impl_->lru.splice(impl_->lru.begin(), impl_->lru, e);
    return Found{e->block->text, e->origin};
}

bool ToolMemory::contains(const std::string &id) const {
    std::lock_guard<std::mutex> lock(impl_->mu);
    return impl_->by_id.count(id) != 0;
}

std::vector<std::pair<std::string, std::string>> ToolMemory::entries_in_text(std::string_view text) const {
    std::vector<std::pair<std::string, std::string>> out;
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->by_block.empty()) return out;
    std::unordered_set<const Block *> seen;
    auto take = [&](std::string_view candidate) {
        auto it = impl_->by_block.find(candidate);
        if (it == impl_->by_block.end() || !seen.insert(it->second.get()).second) return;
        for (const std::string &id : it->second->ids) out.emplace_back(id, it->second->text);
    };
    // Walk the blocks of the text like ds4: the earliest start marker of any tag family that
    // has a closing marker after it, through that closing marker.  A remembered block is the
    // sampled bytes from the "\n\n" separator when the model wrote one, so both spellings of
    // the span are looked up.
    constexpr std::string_view kSeparator = "\n\n";
    size_t from = 0;
    for (;;) {
        size_t start = std::string_view::npos, end = std::string_view::npos;
        for (const chat::DsmlSyntax *syn : chat::kDsmlSyntaxes) {
            const size_t s = text.find(syn->tool_calls_start, from);
            if (s == std::string_view::npos || s >= start) continue;
            const size_t e = text.find(syn->tool_calls_end, s + syn->tool_calls_start.size());
            if (e == std::string_view::npos) continue;
            start = s;
            end = e + syn->tool_calls_end.size();
        }
        if (start == std::string_view::npos) break;
        if (start >= from + kSeparator.size() && text.substr(start - kSeparator.size(), kSeparator.size()) == kSeparator)
            take(text.substr(start - kSeparator.size(), end - start + kSeparator.size()));
        take(text.substr(start, end - start));
        from = end;
    }
    return out;
}

size_t ToolMemory::size() const {
    std::lock_guard<std::mutex> lock(impl_->mu);
    return impl_->lru.size();
}

size_t ToolMemory::bytes() const {
    std::lock_guard<std::mutex> lock(impl_->mu);
    return impl_->bytes;
}

size_t ToolMemory::max_ids() const { return impl_->max_ids; }
size_t ToolMemory::max_bytes() const { return impl_->max_bytes; }

}  // namespace dstar::kvcache
