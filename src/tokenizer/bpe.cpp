#include "tokenizer/bpe.h"

#include "common/error.h"
#include "tokenizer/byte_level.h"

#include <algorithm>
#include <cstring>

namespace dstar::tok {

BpeModel::BpeModel(size_t n_vocab, const std::unordered_map<std::string_view, int32_t> &token_to_id,
                   const std::vector<std::string> &merges)
    : n_vocab_(static_cast<uint32_t>(n_vocab)), merges_(merges.size()) {
    if (n_vocab >= 0x7FFFFFFF) fail("tokenizer: %zu tokens is too many", n_vocab);

    // Symbol ids of strings that are not tokens.  Keys view into extra_ (a deque, so
    // the strings never move).
    std::unordered_map<std::string_view, uint32_t> extra_ids;
    auto intern = [&](std::string_view s) -> uint32_t {
        if (auto it = token_to_id.find(s); it != token_to_id.end()) return static_cast<uint32_t>(it->second);
        if (auto it = extra_ids.find(s); it != extra_ids.end()) return it->second;
        if (n_vocab_ + extra_.size() >= 0xFFFFFFF0u) fail("tokenizer: too many BPE symbols");
        const uint32_t id = n_vocab_ + static_cast<uint32_t>(extra_.size());
        extra_.emplace_back(s);
        extra_ids.emplace(extra_.back(), id);
        return id;
    };

    for (int b = 0; b < 256; b++) {
        byte_sym_[b] = intern(byte_symbol(static_cast<uint8_t>(b)));
        const char c = static_cast<char>(b);
        auto it = token_to_id.find(std::string_view(&c, 1));
        single_byte_token_[b] = it == token_to_id.end() ? -1 : it->second;
    }

    std::string joined;
    for (size_t rank = 0; rank < merges.size(); rank++) {
        const std::string_view m = merges[rank];
        const size_t sp = m.find(' ');
        if (sp == std::string_view::npos || sp == 0 || sp + 1 == m.size() ||
            m.find(' ', sp + 1) != std::string_view::npos) {
            continue;
        }
        const std::string_view a = m.substr(0, sp), b = m.substr(sp + 1);
        joined.assign(a);
        joined += b;
        const uint32_t ia = intern(a), ib = intern(b), ir = intern(joined);
        merges_.put(ia, ib, static_cast<uint32_t>(rank), ir);
    }
}

void BpeModel::emit_fallback(uint32_t sym, std::vector<int32_t> &out) const {
    // ds4's fallback for a final symbol that is not a token (never reached with the V4
    // vocabulary): each byte of the symbol's spelling as a one-byte token string,
    // silently skipping bytes that are not tokens.
    for (char c : extra_[sym - n_vocab_]) {
        const int32_t id = single_byte_token_[static_cast<uint8_t>(c)];
        if (id >= 0) out.push_back(id);
    }
}

void BpeModel::encode_small(std::string_view piece, std::vector<int32_t> &out) const {
    // Exactly the procedure of tokenizer.md §6 on a small array: ranks of all adjacent
    // pairs are kept, the lowest (first on ties) is merged, and only the two pairs that
    // touch the merged symbol are looked up again.
    uint32_t sym[kSmallPiece], rank[kSmallPiece], res[kSmallPiece];
    size_t n = piece.size();
    for (size_t i = 0; i < n; i++) sym[i] = byte_sym_[static_cast<uint8_t>(piece[i])];
    auto look = [&](size_t i) {
        const MergeTable::Entry *e = merges_.find(sym[i], sym[i + 1]);
        rank[i] = e ? e->rank : MergeTable::kNoRank;
        res[i] = e ? e->result : 0;
    };
    for (size_t i = 0; i + 1 < n; i++) look(i);

    while (n > 1) {
        uint32_t best = MergeTable::kNoRank;
        size_t bi = 0;
        for (size_t i = 0; i + 1 < n; i++) {
            if (rank[i] < best) {
                best = rank[i];
                bi = i;
            }
        }
        if (best == MergeTable::kNoRank) break;
        sym[bi] = res[bi];
        const size_t tail = n - bi - 2;  // pairs after the merged one
        std::memmove(sym + bi + 1, sym + bi + 2, tail * sizeof(sym[0]));
        std::memmove(rank + bi, rank + bi + 1, tail * sizeof(rank[0]));
        std::memmove(res + bi, res + bi + 1, tail * sizeof(res[0]));
        n--;
        if (bi > 0) look(bi - 1);
        if (bi + 1 < n) look(bi);
    }
    for (size_t i = 0; i < n; i++) emit(sym[i], out);
}

void BpeModel::encode_large(std::string_view piece, std::vector<int32_t> &out, Scratch &s) const {
    // Same result as encode_small in O(n log n): a min-heap of candidate merges ordered
    // by (rank, position of the left symbol) over a doubly linked list of symbols.
    // Entries go stale when a neighbour merges; an entry is still valid exactly when its
    // left node still holds `left` and is followed by a node holding `right` (a node's
    // symbol only ever grows, so it cannot return to an old value).
    constexpr uint32_t kDead = UINT32_MAX;
    const size_t n = piece.size();
    s.sym.resize(n);
    s.prev.resize(n);
    s.next.resize(n);
    s.heap.clear();
    auto later = [](const Scratch::HeapItem &a, const Scratch::HeapItem &b) {
        return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
    };
    auto push = [&](int32_t l, int32_t r) {
        const MergeTable::Entry *e = merges_.find(s.sym[l], s.sym[r]);
        if (!e) return;
        s.heap.push_back({e->rank, static_cast<uint32_t>(l), s.sym[l], s.sym[r], e->result});
        std::push_heap(s.heap.begin(), s.heap.end(), later);
    };

    for (size_t i = 0; i < n; i++) {
        s.sym[i] = byte_sym_[static_cast<uint8_t>(piece[i])];
        s.prev[i] = static_cast<int32_t>(i) - 1;
        s.next[i] = i + 1 < n ? static_cast<int32_t>(i + 1) : -1;
    }
    for (size_t i = 0; i + 1 < n; i++) push(static_cast<int32_t>(i), static_cast<int32_t>(i + 1));

    while (!s.heap.empty()) {
        std::pop_heap(s.heap.begin(), s.heap.end(), later);
        const Scratch::HeapItem it = s.heap.back();
        s.heap.pop_back();
        const int32_t l = static_cast<int32_t>(it.pos);
        const int32_t r = s.next[l];
        if (s.sym[l] != it.left || r < 0 || s.sym[r] != it.right) continue;  // stale
        s.sym[l] = it.result;
        s.sym[r] = kDead;
        s.next[l] = s.next[r];
        if (s.next[r] >= 0) s.prev[s.next[r]] = l;
        if (s.prev[l] >= 0) push(s.prev[l], l);
        if (s.next[l] >= 0) push(l, s.next[l]);
    }
    for (int32_t i = 0; i >= 0; i = s.next[i]) emit(s.sym[i], out);  // node 0 never dies
}

}  // namespace dstar::tok
