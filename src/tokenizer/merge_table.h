// Flat open-addressing hash table from an adjacent symbol pair (left id, right id) to its
// merge rank and the id of the merged symbol.  This is the innermost lookup of BPE, so
// it avoids std::unordered_map's node allocations and string hashing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace dstar::tok {

class MergeTable {
public:
    static constexpr uint32_t kNoRank = UINT32_MAX;

    struct Entry {
        uint64_t key = kEmpty;  // (left << 32) | right
        uint32_t rank = kNoRank;
        uint32_t result = 0;
    };

    explicit MergeTable(size_t expected = 0) { rehash(expected); }

    // Adds or overwrites the pair's merge: a later duplicate wins, as in ds4's table.
    void put(uint32_t left, uint32_t right, uint32_t rank, uint32_t result) {
        if ((size_ + 1) * 2 > slots_.size()) rehash(slots_.size());
        Entry &e = slot(key_of(left, right));
        if (e.key == kEmpty) size_++;
        e = Entry{key_of(left, right), rank, result};
    }

    // The pair's entry, or nullptr when the pair has no merge.
    const Entry *find(uint32_t left, uint32_t right) const {
        const uint64_t key = key_of(left, right);
        for (uint64_t i = index_of(key);; i = (i + 1) & mask_) {
            const Entry &e = slots_[i];
            if (e.key == key) return &e;
            if (e.key == kEmpty) return nullptr;
        }
    }

    size_t size() const { return size_; }

private:
    static constexpr uint64_t kEmpty = UINT64_MAX;  // no symbol id is 0xFFFFFFFF

    static uint64_t key_of(uint32_t l, uint32_t r) { return (static_cast<uint64_t>(l) << 32) | r; }
    uint64_t index_of(uint64_t key) const { return (key * 0x9E3779B97F4A7C15ull) >> shift_; }

    Entry &slot(uint64_t key) {
        uint64_t i = index_of(key);
        while (slots_[i].key != kEmpty && slots_[i].key != key) i = (i + 1) & mask_;
        return slots_[i];
    }

    void rehash(size_t expected) {
        size_t cap = 16;
        int bits = 4;
        while (cap < expected * 2 + 16) {
            cap <<= 1;
            bits++;
        }
        std::vector<Entry> old;
        old.swap(slots_);
        slots_.assign(cap, Entry{});
        mask_ = cap - 1;
        shift_ = 64 - bits;
        size_ = 0;
        for (const Entry &e : old) {
            if (e.key == kEmpty) continue;
            slot(e.key) = e;
            size_++;
        }
    }

    std::vector<Entry> slots_;
    uint64_t mask_ = 0;
    int shift_ = 64;
    size_t size_ = 0;
};

}  // namespace dstar::tok
