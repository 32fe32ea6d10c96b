#include "engine/session.h"

#include <algorithm>
#include <cstring>

#include "common/error.h"

namespace dstar::engine {

namespace {
constexpr char kMagic[4] = {'D', 'S', 'S', 'N'};
constexpr uint32_t kFormat = 1;
}  // namespace

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

std::vector<uint8_t> Session::save() const {
    const std::vector<uint8_t> kv = state_.save();
    std::vector<uint8_t> out;
    auto put = [&](const void *p, size_t n) {
        const size_t at = out.size();
        out.resize(at + n);
        if (n) std::memcpy(out.data() + at, p, n);
    };
    auto put_u32 = [&](uint32_t v) { put(&v, 4); };
    put(kMagic, 4);
    put_u32(kFormat);
    put_u32(static_cast<uint32_t>(tokens_.size()));
    put(tokens_.data(), tokens_.size() * sizeof(int32_t));
    put_u32(static_cast<uint32_t>(logits_.size()));
    put(logits_.data(), logits_.size() * sizeof(float));
    put_u32(static_cast<uint32_t>(kv.size()));
    put(kv.data(), kv.size());
    return out;
}

void Session::load(const std::vector<uint8_t> &bytes) {
    size_t pos = 0;
    auto get = [&](void *p, size_t n, const char *what) {
        if (n > bytes.size() - pos) fail("session snapshot is truncated (reading %s)", what);
        if (n) std::memcpy(p, bytes.data() + pos, n);
        pos += n;
    };
    auto get_u32 = [&](const char *what) {
        uint32_t v;
        get(&v, 4, what);
        return v;
    };
    char magic[4];
    get(magic, 4, "magic");
    if (std::memcmp(magic, kMagic, 4) != 0) fail("not a dstar session snapshot (bad magic)");
    if (get_u32("format") != kFormat) fail("unsupported session snapshot format");
    const uint32_t n_tok = get_u32("token count");
    if (n_tok > ctx()) fail("snapshot holds %u tokens but the context is %u", n_tok, ctx());
    std::vector<int32_t> toks(n_tok);
    get(toks.data(), toks.size() * sizeof(int32_t), "tokens");
    const uint32_t n_logits = get_u32("logit count");
    if (n_logits != 0 && n_logits != engine_.config().n_vocab) fail("snapshot logits do not match the vocabulary");
    std::vector<float> lg(n_logits);
    get(lg.data(), lg.size() * sizeof(float), "logits");
    const uint32_t kv_bytes = get_u32("state size");
    if (kv_bytes != bytes.size() - pos) fail("session snapshot size mismatch");
    state_.load(bytes.data() + pos, kv_bytes);  // validates before changing anything
    if (state_.n_past() != n_tok) {
        reset();
        fail("session snapshot is inconsistent (%u tokens, state at position %u)", n_tok, state_.n_past());
    }
    tokens_ = std::move(toks);
    logits_ = std::move(lg);
}

}  // namespace dstar::engine
