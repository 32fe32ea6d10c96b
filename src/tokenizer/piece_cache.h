// Memo of piece -> token ids for the duration of one encode call.  Real text repeats
// its pieces (" the", ";\n", indentation) constantly, and BPE of a piece is a pure
// function (tokenizer.md §6), so a hit skips the merge loop entirely.  It lives only
// for one call so the Tokenizer stays immutable and safe to share between threads;
// keys are views into the caller's text, which outlives the call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace dstar::tok {

class PieceCache {
public:
    explicit PieceCache(size_t expected_pieces) {
        size_t cap = 256;
        while (cap < expected_pieces) cap <<= 1;
        slots_.assign(cap, Slot{});
    }

    static uint64_t hash(std::string_view s) {
        uint64_t h = 0x9E3779B97F4A7C15ull ^ s.size();
        const char *p = s.data();
        size_t n = s.size();
        for (; n >= 8; p += 8, n -= 8) {
            uint64_t w;
            std::memcpy(&w, p, 8);
            h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
            h ^= h >> 31;
        }
        if (n) {
            uint64_t w = 0;
            std::memcpy(&w, p, n);
            h = (h ^ w) * 0x94D049BB133111EBull;
            h ^= h >> 29;
        }
        return h;
    }

    // Appends the cached ids of `piece` to `out` and returns true, or returns false.
    bool append(std::string_view piece, uint64_t h, std::vector<int32_t> &out) const {
        const size_t mask = slots_.size() - 1;
        for (size_t i = h & mask;; i = (i + 1) & mask) {
            const Slot &s = slots_[i];
            if (!s.data) return false;
            if (s.hash == h && s.len == piece.size() && std::memcmp(s.data, piece.data(), s.len) == 0) {
                out.insert(out.end(), ids_.begin() + s.ids_begin, ids_.begin() + s.ids_begin + s.ids_len);
                return true;
            }
        }
    }

    // Remembers that `piece` encodes to ids[0..n).
    void insert(std::string_view piece, uint64_t h, const int32_t *ids, size_t n) {
        if (ids_.size() + n > UINT32_MAX) return;  // offsets are 32-bit; stop caching
        if ((count_ + 1) * 2 > slots_.size()) grow();
        place(Slot{piece.data(), h, static_cast<uint32_t>(piece.size()), static_cast<uint32_t>(ids_.size()),
                   static_cast<uint32_t>(n)});
        ids_.insert(ids_.end(), ids, ids + n);
        count_++;
    }

private:
    struct Slot {
        const char *data = nullptr;
        uint64_t hash = 0;
        uint32_t len = 0;
        uint32_t ids_begin = 0;
        uint32_t ids_len = 0;
    };

    void place(const Slot &slot) {
        const size_t mask = slots_.size() - 1;
        size_t i = slot.hash & mask;
        while (slots_[i].data) i = (i + 1) & mask;
        slots_[i] = slot;
    }

    void grow() {
        std::vector<Slot> old(slots_.size() * 2);
        old.swap(slots_);
        for (const Slot &s : old) {
            if (s.data) place(s);
        }
    }

    std::vector<Slot> slots_;
    std::vector<int32_t> ids_;
    size_t count_ = 0;
};

}  // namespace dstar::tok
