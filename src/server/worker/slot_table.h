// The part of every session slot that client threads may read: the slot's state counter
// ("epoch"), its live token count and its binding (kvcache.md §3).  The worker owns the
// sessions and publishes every change here; client threads install bindings (Scheduler::bind)
// and validate tool-output ids (Scheduler::live_call_id) without touching the engine.
//
// A binding belongs to one epoch: any change of the slot's state (a prefill chunk, a decoded
// token, a reset, a disk load, a fork) starts a new epoch and so retires the binding, which is
// what "the session is still exactly there" means in kvcache.md §3.  Thread-safe.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "server/job.h"

namespace dstar::server::worker {

class SlotTable {
public:
    explicit SlotTable(size_t slots);

    size_t size() const { return entries_.size(); }

    // Worker: the slot's state changed and now holds `pos` tokens.  Returns the new epoch;
    // epochs are unique across all slots and never reused.
    uint64_t changed(int slot, uint32_t pos);
    // Worker: where the slot is now (for a finished job's LiveRef).
    LiveRef where(int slot) const;
    // Worker: the binding if it is still valid (installed in the current epoch).
    std::optional<Binding> binding(int slot) const;
    void clear_binding(int slot);

    // Client: installs `b` if the slot is still at where.epoch / where.pos (replacing any
    // other binding of that slot).  False if the slot moved on or `where` names no slot.
    bool bind(const LiveRef &where, Binding b);
    // Client: some slot's valid binding holds this call id.
    bool has_call_id(const std::string &id) const;

private:
    struct Entry {
        uint64_t epoch = 0;
        uint32_t pos = 0;
        std::optional<Binding> binding;  // valid while binding_epoch == epoch
        uint64_t binding_epoch = 0;
    };
    bool valid(const Entry &e) const { return e.binding && e.binding_epoch == e.epoch; }

    mutable std::mutex mu_;
    std::vector<Entry> entries_;
    uint64_t next_epoch_ = 1;
};

}  // namespace dstar::server::worker
