// Shared pieces of the worker tests: a tiny synthetic model (written once per test process),
// rendered prompts, the plain Session + Sampler reference loop, and collecting a job's events.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <gtest/gtest.h>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/sampler.h"
#include "engine/session.h"
#include "model/synth.h"
#include "model/synth_vocab.h"
#include "server/job.h"
#include "tokenizer/hf_vocab.h"
#include "tokenizer/tokenizer.h"

namespace dstar::server::test {

// The tiny model's 4096-token vocabulary alone (tests that need no forward pass).
class TinyTokenizerTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        const tok::HfVocab v = model::synth_vocab(tok::default_npm_tokenizer_json(), 4096);
        owned_tok_ = std::make_unique<tok::Tokenizer>(v.tokens, v.merges);
        tok_ = owned_tok_.get();
    }
    static void TearDownTestSuite() {
        tok_ = nullptr;
        owned_tok_.reset();
    }

public:
    static const tok::Tokenizer &tok() { return *tok_; }

protected:
    // Literal text of the control tokens.
    static std::string bos() { return tok().token_bytes(tok().bos()); }
    static std::string eos() { return tok().token_bytes(tok().eos()); }
    static std::string user() { return tok().token_bytes(tok().user()); }
    static std::string assistant() { return tok().token_bytes(tok().assistant()); }
    static std::string think_open() { return tok().token_bytes(tok().think_open()); }
    static std::string think_close() { return tok().token_bytes(tok().think_close()); }

    // A rendered single-turn chat prompt: BOS system USER text ASSISTANT </think> (or <think>).
    static std::string chat_text(const std::string &user_text, bool thinking = false) {
        return bos() + "You are a helpful assistant." + user() + user_text + assistant() +
               (thinking ? think_open() : think_close());
    }
    // Roughly n tokens of plain words.
    static std::string words(size_t n, int seed = 0) {
        std::string s;
        for (size_t i = 0; i < n; i++) {
            s += 'w';
            s += std::to_string((i * 7 + static_cast<size_t>(seed) * 13) % 97);
            s += ' ';
        }
        return s;
    }

    static JobRequest job(const std::string &text, uint32_t max_tokens, uint64_t seed, Api api = Api::Chat) {
        JobRequest r;
        r.api = api;
        r.prompt_text = text;
        r.prompt_tokens = tok().encode_rendered(text);
        r.max_tokens = max_tokens;
        r.sampling.temperature = 1.0f;
        r.sampling.top_k = 0;
        r.sampling.top_p = 1.0f;
        r.sampling.min_p = 0.05f;
        r.sampling.seed = seed;
        return r;
    }

    static inline const tok::Tokenizer *tok_ = nullptr;

private:
    static inline std::unique_ptr<tok::Tokenizer> owned_tok_;
};

// The tiny synthetic model itself (6 layers, width 256), written once per test process.
class TinyModelTest : public TinyTokenizerTest {
protected:
    static void SetUpTestSuite() {
        path_ = std::string(::testing::TempDir()) + "/dstar_worker_tiny_" + std::to_string(::getpid()) + ".gguf";
        model::SynthOptions o;
        o.preset = model::SynthPreset::Tiny;
        o.tokenizer_json = tok::default_npm_tokenizer_json();
        model::write_synthetic(path_, o);
        engine::EngineOptions eo;
        eo.model_path = path_;
        eo.threads = 1;
        engine_ = new engine::Engine(eo);
        tok_ = &engine_->tokenizer();
    }
    static void TearDownTestSuite() {
        tok_ = nullptr;
        delete engine_;
        engine_ = nullptr;
        std::remove(path_.c_str());
    }

    static engine::Engine &engine() { return *engine_; }

    struct Reference {
        std::vector<int32_t> tokens;  // generated, without EOS
        std::string text;
        bool eos = false;
    };
    // The plain loop the worker must reproduce: sync the prompt, sample, stop at EOS.
    static Reference reference(const std::vector<int32_t> &prompt, const engine::SamplerParams &sp, uint32_t max_tokens,
                               uint32_t ctx = 2048) {
        engine::Session s(engine(), ctx, 64);
        s.sync(prompt);
        engine::Sampler sampler(sp);
        Reference r;
        while (r.tokens.size() < max_tokens && s.pos() < s.ctx()) {
            const int32_t t = sampler.sample(s.logits().data(), static_cast<uint32_t>(s.logits().size()));
            if (t == tok().eos()) {
                r.eos = true;
                break;
            }
            s.append(t);
            r.tokens.push_back(t);
            r.text += tok().token_bytes(t);
        }
        return r;
    }

private:
    static inline std::string path_;
    static inline engine::Engine *engine_ = nullptr;
};

// Everything a job sent, read until Done.
struct Collected {
    std::vector<JobEvent::Kind> kinds;
    std::vector<std::string> texts;  // Text events, in order
    std::vector<JobEvent> progress;
    std::optional<JobResult> started;
    JobResult done;
    bool got_done = false;
    std::string streamed() const {
        std::string s;
        for (const std::string &t : texts) s += t;
        return s;
    }
};

inline Collected collect(JobHandle &h, std::chrono::seconds limit = std::chrono::seconds(120)) {
    Collected c;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        std::optional<JobEvent> ev = h.next(std::chrono::milliseconds(100));
        if (!ev) continue;
        c.kinds.push_back(ev->kind);
        switch (ev->kind) {
        case JobEvent::Kind::Progress: c.progress.push_back(*ev); break;
        case JobEvent::Kind::Started: c.started = ev->result; break;
        case JobEvent::Kind::Text: c.texts.push_back(ev->text); break;
        case JobEvent::Kind::Done:
            c.done = ev->result;
            c.got_done = true;
            return c;
        }
    }
    ADD_FAILURE() << "no Done event within the time limit";
    return c;
}

// Waits for the next event of a given kind (skipping others); nullopt after the limit.
inline std::optional<JobEvent> wait_for(JobHandle &h, JobEvent::Kind kind,
                                        std::chrono::seconds limit = std::chrono::seconds(60)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        std::optional<JobEvent> ev = h.next(std::chrono::milliseconds(100));
        if (ev && ev->kind == kind) return ev;
    }
    return std::nullopt;
}

}  // namespace dstar::server::test
