#include "engine/session.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

#include "common/error.h"
#include "engine/session_payload.h"

namespace dstar::engine {

static_assert(std::endian::native == std::endian::little,
              "snapshots copy little-endian values as they are held in memory");

Session::Session(Engine &engine, uint32_t ctx, uint32_t prefill_chunk)
    : engine_(engine), state_(engine.backend(), engine.config(), ctx), chunk_(prefill_chunk ? prefill_chunk : 1) {}

void Session::reset() {
    state_.reset();
    tokens_.clear();
    logits_.clear();
}

void Session::check_room(const int32_t *tokens, uint32_t n) const {
    if (static_cast<uint64_t>(pos()) + n > ctx())
        fail("context is full: %u tokens + %u new > context size %u", pos(), n, ctx());
    const uint32_t vocab = engine_.config().n_vocab;
    for (uint32_t i = 0; i < n; i++)
        if (tokens[i] < 0 || static_cast<uint32_t>(tokens[i]) >= vocab)
            fail("token id %d is outside the vocabulary (size %u)", tokens[i], vocab);
}

void Session::append(const int32_t *tokens, uint32_t n) {
    if (n == 0) return;
    check_room(tokens, n);  // bad input leaves the session as it was
    try {
        for (uint32_t done = 0; done < n;) {
            const uint32_t m = std::min(chunk_, n - done);
            const bool last = done + m == n;
            engine_.forward().eval(state_, tokens + done, m, last ? model::Logits::Last : model::Logits::None,
                                   &logits_);
            tokens_.insert(tokens_.end(), tokens + done, tokens + done + m);
            done += m;
        }
    } catch (...) {
        // A failed chunk may have touched the state: never keep a half-updated session.
        reset();
        throw;
    }
}

std::vector<float> Session::append_all_logits(const int32_t *tokens, uint32_t n) {
    std::vector<float> all;
    if (n == 0) return all;
    check_room(tokens, n);
    const uint32_t vocab = engine_.config().n_vocab;
    try {
        for (uint32_t done = 0; done < n;) {
            const uint32_t m = std::min(chunk_, n - done);
            std::vector<float> rows;
            engine_.forward().eval(state_, tokens + done, m, model::Logits::All, &rows);
            all.insert(all.end(), rows.begin(), rows.end());
            tokens_.insert(tokens_.end(), tokens + done, tokens + done + m);
            done += m;
        }
    } catch (...) {
        reset();
        throw;
    }
    logits_.assign(all.end() - vocab, all.end());
    return all;
}

void Session::sync(const std::vector<int32_t> &prompt, const Progress &progress) {
    const bool extends = tokens_.size() <= prompt.size() && std::equal(tokens_.begin(), tokens_.end(), prompt.begin());
    if (!extends || (tokens_.size() == prompt.size() && logits_.empty())) reset();
    if (prompt.size() > ctx()) fail("prompt has %zu tokens but the context is %u", prompt.size(), ctx());
    check_room(prompt.data() + tokens_.size(), static_cast<uint32_t>(prompt.size() - tokens_.size()));
    const uint32_t total = static_cast<uint32_t>(prompt.size());
    for (uint32_t done = static_cast<uint32_t>(tokens_.size()); done < total;) {
        const uint32_t m = std::min(chunk_, total - done);
        append(prompt.data() + done, m);
        done += m;
        if (progress) progress(done, total);
    }
}

void Session::copy_from(const Session &other) {
    if (&other == this) return;
    if (other.pos() > ctx()) fail("cannot copy a session of %u tokens into a context of %u", other.pos(), ctx());
    state_.copy_from(other.state_);
    tokens_ = other.tokens_;
    logits_ = other.logits_;
}

uint64_t Session::payload_bytes() const {
    const model::ModelConfig &c = engine_.config();
    return kPayloadHeaderBytes + 4ull * tokens_.size() + 4ull * c.n_vocab + 8ull * c.n_layer +
           state_.rows_bytes(state_.n_past());
}

void Session::save(const model::ByteSink &sink) const {
    const model::ModelConfig &c = engine_.config();
    if (tokens_.empty() || logits_.size() != c.n_vocab) fail("the session is empty: there is no checkpoint to save");
    const uint32_t n = static_cast<uint32_t>(tokens_.size());
    PayloadHeader h;
    h.ctx = ctx();
    h.prefill_chunk = payload_prefill_chunk(ctx());
    h.raw_cap = state_.raw_capacity();
    h.raw_window = state_.raw_capacity();
    h.comp_cap = state_.comp_capacity();
    h.tokens = n;
    h.n_layer = c.n_layer;
    h.head_dim = c.head_dim;
    h.idx_head_dim = c.idx_head_dim;
    h.n_vocab = c.n_vocab;
    h.raw_live = std::min(n, h.raw_window);
    const auto header = encode_payload_header(h);
    sink(header.data(), header.size());
    // Token ids are never negative, so the int32 values are their u32 encoding.
    sink(tokens_.data(), tokens_.size() * sizeof(int32_t));
    sink(logits_.data(), logits_.size() * sizeof(float));
    std::vector<uint32_t> comp(c.n_layer), index(c.n_layer);
    for (uint32_t l = 0; l < c.n_layer; l++) {
        comp[l] = state_.comp_rows(l, n);
        index[l] = state_.index_rows(l, n);
    }
    sink(comp.data(), comp.size() * sizeof(uint32_t));
    sink(index.data(), index.size() * sizeof(uint32_t));
    state_.write_rows(sink);
}

std::vector<uint8_t> Session::save() const {
    std::vector<uint8_t> out;
    out.reserve(payload_bytes());
    save([&](const void *p, size_t n) {
        const auto *b = static_cast<const uint8_t *>(p);
        out.insert(out.end(), b, b + n);
    });
    return out;
}

void Session::load(const model::ByteSource &source, uint64_t size) {
    const model::ModelConfig &c = engine_.config();
    using ull = unsigned long long;
    if (size < kPayloadHeaderBytes)
        fail("truncated session payload: %llu bytes, its header alone has %u", static_cast<ull>(size),
             kPayloadHeaderBytes);
    std::array<uint8_t, kPayloadHeaderBytes> header;
    source(header.data(), header.size());
    const PayloadHeader h = decode_payload_header(header.data());

    // The checks ds4 makes (kvcache.md §8.4), in its order, against this model and context.
    if (h.ctx > ctx() || h.tokens >= ctx())
        fail("KV checkpoint does not fit current context (saved with context %u, %u tokens; this context is %u)",
             h.ctx, h.tokens, ctx());
    if (h.n_layer != c.n_layer || h.head_dim != c.head_dim || h.idx_head_dim != c.idx_head_dim ||
        h.n_vocab != c.n_vocab)
        fail("KV checkpoint was written for a different DS4 layout (%u layers, rows %u/%u, vocabulary %u; this "
             "model has %u layers, rows %u/%u, vocabulary %u)",
             h.n_layer, h.head_dim, h.idx_head_dim, h.n_vocab, c.n_layer, c.head_dim, c.idx_head_dim, c.n_vocab);
    if (h.tokens == 0) fail("KV checkpoint holds no tokens");
    const uint32_t window = state_.raw_capacity();
    if (h.raw_window != window)
        fail("KV checkpoint raw window of %u rows does not match this runtime's %u", h.raw_window, window);
    if (h.raw_cap == 0 || h.raw_live != std::min(h.tokens, h.raw_window) || h.raw_live > h.raw_cap)
        fail("KV checkpoint raw ring layout does not match current context (capacity %u, window %u, %u live rows "
             "for %u tokens)",
             h.raw_cap, h.raw_window, h.raw_live, h.tokens);
    if (h.comp_cap > state_.comp_capacity())
        fail("KV checkpoint compressed cache is larger than current context (%u rows; this context holds %u)",
             h.comp_cap, state_.comp_capacity());
    const uint64_t expected = kPayloadHeaderBytes + 4ull * h.tokens + 4ull * c.n_vocab + 8ull * c.n_layer +
                              state_.rows_bytes(h.tokens);
    if (size < expected)
        fail("truncated session payload: %llu bytes, %u tokens need %llu", static_cast<ull>(size), h.tokens,
             static_cast<ull>(expected));
    if (size > expected)
        fail("KV checkpoint has trailing payload bytes (%llu bytes, %u tokens need %llu)", static_cast<ull>(size),
             h.tokens, static_cast<ull>(expected));

    std::vector<int32_t> toks(h.tokens);
    source(toks.data(), toks.size() * sizeof(int32_t));
    for (uint32_t i = 0; i < h.tokens; i++)
        if (static_cast<uint32_t>(toks[i]) >= c.n_vocab)
            fail("KV checkpoint token %u has id %u, outside the vocabulary (size %u)", i,
                 static_cast<uint32_t>(toks[i]), c.n_vocab);
    std::vector<float> lg(c.n_vocab);
    source(lg.data(), lg.size() * sizeof(float));
    std::vector<uint32_t> comp(c.n_layer), index(c.n_layer);
    source(comp.data(), comp.size() * sizeof(uint32_t));
    source(index.data(), index.size() * sizeof(uint32_t));
    for (uint32_t l = 0; l < c.n_layer; l++) {
        if (comp[l] > h.comp_cap || comp[l] > state_.comp_row_capacity(l))
            fail("KV checkpoint has invalid compressed row count %u in layer %u", comp[l], l);
        if (index[l] > h.comp_cap || index[l] > state_.comp_row_capacity(l))
            fail("KV checkpoint has invalid indexer row count %u in layer %u", index[l], l);
        // This state derives its row counts from the token count (rows are only emitted at
        // window ends), so any other count cannot be represented.
        if (comp[l] != state_.comp_rows(l, h.tokens) || index[l] != state_.index_rows(l, h.tokens))
            fail("KV checkpoint row counts of layer %u (%u compressed, %u indexer) do not match %u tokens "
                 "(expected %u and %u)",
                 l, comp[l], index[l], h.tokens, state_.comp_rows(l, h.tokens), state_.index_rows(l, h.tokens));
    }
    try {
        state_.read_rows(h.tokens, source);  // resets the state itself on failure
    } catch (...) {
        tokens_.clear();
        logits_.clear();
        throw;
    }
    tokens_ = std::move(toks);
    logits_ = std::move(lg);
}

void Session::load(const std::vector<uint8_t> &bytes) {
    size_t at = 0;
    load(
        [&](void *p, size_t n) {
            if (n > bytes.size() - at) fail("truncated session payload (%zu bytes)", bytes.size());
            std::memcpy(p, bytes.data() + at, n);
            at += n;
        },
        bytes.size());
}

}  // namespace dstar::engine
