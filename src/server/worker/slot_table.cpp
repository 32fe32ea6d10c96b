#include "server/worker/slot_table.h"

#include <algorithm>

namespace dstar::server::worker {

SlotTable::SlotTable(size_t slots) : entries_(slots) {
    for (Entry &e : entries_) e.epoch = next_epoch_++;
}

uint64_t SlotTable::changed(int slot, uint32_t pos) {
    std::lock_guard<std::mutex> lk(mu_);
    Entry &e = entries_.at(static_cast<size_t>(slot));
    e.epoch = next_epoch_++;
    e.pos = pos;
    e.binding.reset();  // retired with its epoch
    return e.epoch;
}

LiveRef SlotTable::where(int slot) const {
    std::lock_guard<std::mutex> lk(mu_);
    const Entry &e = entries_.at(static_cast<size_t>(slot));
    return LiveRef{slot, e.epoch, e.pos};
}

std::optional<Binding> SlotTable::binding(int slot) const {
    std::lock_guard<std::mutex> lk(mu_);
    const Entry &e = entries_.at(static_cast<size_t>(slot));
    if (!valid(e)) return std::nullopt;
    return e.binding;
}

void SlotTable::clear_binding(int slot) {
    std::lock_guard<std::mutex> lk(mu_);
    entries_.at(static_cast<size_t>(slot)).binding.reset();
}

bool SlotTable::bind(const LiveRef &where, Binding b) {
    std::lock_guard<std::mutex> lk(mu_);
    if (where.slot < 0 || static_cast<size_t>(where.slot) >= entries_.size()) return false;
    Entry &e = entries_[static_cast<size_t>(where.slot)];
    if (e.epoch != where.epoch || e.pos != where.pos) return false;
    std::sort(b.call_ids.begin(), b.call_ids.end());
    b.call_ids.erase(std::unique(b.call_ids.begin(), b.call_ids.end()), b.call_ids.end());
    e.binding = std::move(b);
    e.binding_epoch = e.epoch;
    return true;
}

bool SlotTable::has_call_id(const std::string &id) const {
    std::lock_guard<std::mutex> lk(mu_);
    for (const Entry &e : entries_)
        if (valid(e) && std::binary_search(e.binding->call_ids.begin(), e.binding->call_ids.end(), id)) return true;
    return false;
}

}  // namespace dstar::server::worker
