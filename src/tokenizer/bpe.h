// Byte-level BPE of one pre-tokenized piece (tokenizer.md §6): the piece's bytes become
// symbols, then the adjacent pair with the lowest merge rank (leftmost on ties) is merged
// until no pair has a rank, and the final symbols are looked up as tokens.
//
// Symbols are integers, not strings: every string that can occur as a symbol (each
// token, each byte's spelling, each side and result of a merge) gets one id — the token
// id for token strings (the later id when a string occurs twice, as in ds4's table),
// ids >= n_vocab for the rest — so a merge is one hash lookup on a pair of integers.
#pragma once

#include "tokenizer/merge_table.h"

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace dstar::tok {

class BpeModel {
public:
    // `token_to_id` maps each of the n_vocab token strings to its id (built by the caller,
    // who owns the strings); `merges` are "A B" strings, index = rank.  A merge string
    // without exactly one separating space can never apply (symbols are spelled in the
    // byte-level alphabet, which has no U+0020) and is ignored.
    BpeModel(size_t n_vocab, const std::unordered_map<std::string_view, int32_t> &token_to_id,
             const std::vector<std::string> &merges);

    // Buffers reused from piece to piece so that encoding allocates nothing per piece.
    struct Scratch {
        struct HeapItem {
            uint32_t rank, pos, left, right, result;
        };
        std::vector<uint32_t> sym;
        std::vector<int32_t> prev, next;
        std::vector<HeapItem> heap;
    };

    // Appends the ids of `piece` (raw bytes, non-empty) to `out`.
    void encode_piece(std::string_view piece, std::vector<int32_t> &out, Scratch &scratch) const {
        if (piece.size() == 1) {
            emit(byte_sym_[static_cast<uint8_t>(piece[0])], out);
        } else if (piece.size() <= kSmallPiece) {
            encode_small(piece, out);
        } else {
            encode_large(piece, out, scratch);
        }
    }

    // The two algorithms behind encode_piece, public so tests can check that they agree
    // on any input: quadratic in place for short pieces, heap + linked list for long ones.
    void encode_small(std::string_view piece, std::vector<int32_t> &out) const;
    void encode_large(std::string_view piece, std::vector<int32_t> &out, Scratch &scratch) const;

    static constexpr size_t kSmallPiece = 64;

    size_t n_merges() const { return merges_.size(); }

private:
    void emit(uint32_t sym, std::vector<int32_t> &out) const {
        if (sym < n_vocab_) {
            out.push_back(static_cast<int32_t>(sym));
        } else {
            emit_fallback(sym, out);
        }
    }
    void emit_fallback(uint32_t sym, std::vector<int32_t> &out) const;

    uint32_t n_vocab_ = 0;
    MergeTable merges_;
    uint32_t byte_sym_[256] = {};
    int32_t single_byte_token_[256] = {};  // token id of each 1-byte string, -1 if none
    std::deque<std::string> extra_;        // strings of symbols n_vocab, n_vocab+1, ...
};

}  // namespace dstar::tok
