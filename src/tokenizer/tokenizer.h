// DeepSeek V4 Flash tokenizer exactly as ds4 implements it (docs: shared spec
// tokenizer.md): byte-level BPE over ds4's hand-written pre-tokenizer, a plain-text
// encoder, a rendered-chat encoder that recognises the 7 control tokens, and byte-exact
// decoding.  Immutable after construction; all methods are const and thread-safe.
#pragma once

#include "tokenizer/bpe.h"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace dstar::tok {

class Tokenizer {
public:
    // From the GGUF arrays `tokenizer.ggml.tokens` (id = index) and
    // `tokenizer.ggml.merges` ("A B", rank = index).  Throws dstar::Error if one of the
    // 7 control tokens (tokenizer.md §5) is not in `tokens`, naming it.
    Tokenizer(std::vector<std::string> tokens, const std::vector<std::string> &merges);

    Tokenizer(const Tokenizer &) = delete;  // big tables; share by reference
    Tokenizer &operator=(const Tokenizer &) = delete;
    Tokenizer(Tokenizer &&) = default;
    Tokenizer &operator=(Tokenizer &&) = default;

    // Plain encoder (ds4's bpe_tokenize_text): no special tokens, "<think>" is three
    // tokens.  No BOS.  Unlike ds4, which stops at a NUL byte (C string), an embedded
    // 0x00 is encoded like any other byte.
    std::vector<int32_t> encode_text(std::string_view text) const;
    void encode_text(std::string_view text, std::vector<int32_t> &out) const;  // appends

    // Rendered-chat encoder (ds4's tokenize_rendered_chat, tokenizer.md §3): the 7
    // control strings become their ids wherever they occur, and the spans between them
    // are encoded independently with the plain encoder.
    std::vector<int32_t> encode_rendered(std::string_view text) const;
    void encode_rendered(std::string_view text, std::vector<int32_t> &out) const;  // appends

    // Raw bytes of one token (tokenizer.md §8, ds4_token_text): strings containing
    // U+FF5C verbatim, others through the inverse byte-level map; empty for an id out of
    // range.  May be partial UTF-8.
    std::string token_bytes(int32_t id) const { return std::string(token_bytes_view(id)); }
    std::string_view token_bytes_view(int32_t id) const;

    // Concatenated token_bytes of `ids` (ids out of range contribute nothing).
    std::string decode(std::span<const int32_t> ids) const;

    // The token's string as stored in the vocabulary (byte-level spelling, e.g. "Ġworld").
    // Throws dstar::Error for an id out of range.
    const std::string &token_string(int32_t id) const;

    // Id of a raw vocabulary string (byte-level spelling, or a special's literal text).
    std::optional<int32_t> find_token(std::string_view raw_token_string) const;

    int32_t n_vocab() const { return static_cast<int32_t>(tokens_.size()); }

    int32_t bos() const { return special_ids_[0]; }
    int32_t eos() const { return special_ids_[1]; }
    int32_t user() const { return special_ids_[2]; }
    int32_t assistant() const { return special_ids_[3]; }
    int32_t think_open() const { return special_ids_[4]; }
    int32_t think_close() const { return special_ids_[5]; }
    int32_t dsml() const { return special_ids_[6]; }

private:
    struct EncodeState;
    void encode_span(std::string_view span, std::vector<int32_t> &out, EncodeState &st) const;

    std::vector<std::string> tokens_;
    std::unordered_map<std::string_view, int32_t> token_to_id_;  // views into tokens_
    BpeModel bpe_;
    int32_t special_ids_[7] = {};
    std::string decoded_;                   // token_bytes of every id, back to back
    std::vector<uint32_t> decoded_offset_;  // id -> start in decoded_; n_vocab + 1 entries
};

}  // namespace dstar::tok
