#include "tokenizer/tokenizer.h"

#include "common/error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/piece_cache.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/special_tokens.h"

#include <algorithm>
#include <memory>

namespace dstar::tok {
namespace {

std::unordered_map<std::string_view, int32_t> index_tokens(const std::vector<std::string> &tokens) {
    if (tokens.size() >= 0x7FFFFFFF) fail("tokenizer: %zu tokens is too many", tokens.size());
    std::unordered_map<std::string_view, int32_t> index;
    index.reserve(tokens.size());
    // A string listed twice resolves to its later id, as in ds4's table (table_put overwrites).
    for (size_t i = 0; i < tokens.size(); i++) index[tokens[i]] = static_cast<int32_t>(i);
    return index;
}

// ds4 recognises special tokens in output by U+FF5C anywhere in the string (§8).
bool is_literal_special(std::string_view s) { return s.find("\xEF\xBD\x9C") != std::string_view::npos; }

// Below this many bytes the per-call piece cache costs more than it saves.
constexpr size_t kCacheMinText = 2048;
// Longer pieces are rarely repeated; not caching them bounds the cache's memory.
constexpr size_t kCacheMaxPiece = 1024;

// Room for about one token per 3 bytes, growing geometrically so that many small
// appends to the same vector stay linear.
void reserve_for(std::vector<int32_t> &out, size_t text_len) {
    const size_t need = out.size() + text_len / 3;
    if (need > out.capacity()) out.reserve(std::max(need, out.capacity() * 2));
}

}  // namespace

struct Tokenizer::EncodeState {
    BpeModel::Scratch scratch;
    std::unique_ptr<PieceCache> cache;

    explicit EncodeState(size_t text_len) {
        if (text_len >= kCacheMinText) cache = std::make_unique<PieceCache>(text_len / 16);
    }
};

Tokenizer::Tokenizer(std::vector<std::string> tokens, const std::vector<std::string> &merges)
    : tokens_(std::move(tokens)), token_to_id_(index_tokens(tokens_)), bpe_(tokens_.size(), token_to_id_, merges) {
    for (size_t i = 0; i < kSpecialStrings.size(); i++) {
        auto it = token_to_id_.find(kSpecialStrings[i]);
        if (it == token_to_id_.end()) {
            fail("tokenizer: required special token '%.*s' is missing from the vocabulary (%zu tokens)",
                 static_cast<int>(kSpecialStrings[i].size()), kSpecialStrings[i].data(), tokens_.size());
        }
        special_ids_[i] = it->second;
    }

    decoded_offset_.reserve(tokens_.size() + 1);
    for (const std::string &t : tokens_) {
        decoded_offset_.push_back(static_cast<uint32_t>(decoded_.size()));
        if (is_literal_special(t)) {
            decoded_ += t;
        } else {
            decoded_ += symbols_to_bytes(t);
        }
        if (decoded_.size() >= UINT32_MAX) fail("tokenizer: token strings too large (%zu bytes)", decoded_.size());
    }
    decoded_offset_.push_back(static_cast<uint32_t>(decoded_.size()));
}

void Tokenizer::encode_span(std::string_view span, std::vector<int32_t> &out, EncodeState &st) const {
    for (size_t pos = 0; pos < span.size();) {
        const size_t end = next_piece_end(span, pos);
        const std::string_view piece = span.substr(pos, end - pos);
        pos = end;
        if (!st.cache || piece.size() == 1 || piece.size() > kCacheMaxPiece) {
            bpe_.encode_piece(piece, out, st.scratch);
            continue;
        }
        const uint64_t h = PieceCache::hash(piece);
        if (st.cache->append(piece, h, out)) continue;
        const size_t before = out.size();
        bpe_.encode_piece(piece, out, st.scratch);
        st.cache->insert(piece, h, out.data() + before, out.size() - before);
    }
}

void Tokenizer::encode_text(std::string_view text, std::vector<int32_t> &out) const {
    EncodeState st(text.size());
    reserve_for(out, text.size());
    encode_span(text, out, st);
}

std::vector<int32_t> Tokenizer::encode_text(std::string_view text) const {
    std::vector<int32_t> out;
    encode_text(text, out);
    return out;
}

void Tokenizer::encode_rendered(std::string_view text, std::vector<int32_t> &out) const {
    EncodeState st(text.size());
    reserve_for(out, text.size());
    size_t span_start = 0;
    size_t p = 0;
    while (p < text.size()) {
        // Every special string starts with '<' or with U+FF5C's lead byte 0xEF, so other
        // bytes are skipped without comparing (ds4 compares at every byte; same result).
        const char c = text[p];
        size_t matched = 0;
        int32_t id = -1;
        if (c == '<' || c == '\xEF') {
            const std::string_view rest = text.substr(p);
            for (size_t i = 0; i < kSpecialStrings.size(); i++) {
                if (rest.starts_with(kSpecialStrings[i])) {
                    matched = kSpecialStrings[i].size();
                    id = special_ids_[i];
                    break;
                }
            }
        }
        if (!matched) {
            p++;
            continue;
        }
        encode_span(text.substr(span_start, p - span_start), out, st);
        out.push_back(id);
        p += matched;
        span_start = p;
    }
    encode_span(text.substr(span_start), out, st);
}

std::vector<int32_t> Tokenizer::encode_rendered(std::string_view text) const {
    std::vector<int32_t> out;
    encode_rendered(text, out);
    return out;
}

std::string_view Tokenizer::token_bytes_view(int32_t id) const {
    if (id < 0 || id >= n_vocab()) return {};
    const uint32_t b = decoded_offset_[static_cast<size_t>(id)], e = decoded_offset_[static_cast<size_t>(id) + 1];
    return std::string_view(decoded_).substr(b, e - b);
}

std::string Tokenizer::decode(std::span<const int32_t> ids) const {
    std::string out;
    for (int32_t id : ids) out += token_bytes_view(id);
    return out;
}

const std::string &Tokenizer::token_string(int32_t id) const {
    if (id < 0 || id >= n_vocab()) fail("tokenizer: token id %d out of range [0, %d)", id, n_vocab());
    return tokens_[static_cast<size_t>(id)];
}

std::optional<int32_t> Tokenizer::find_token(std::string_view raw_token_string) const {
    auto it = token_to_id_.find(raw_token_string);
    if (it == token_to_id_.end()) return std::nullopt;
    return it->second;
}

}  // namespace dstar::tok
