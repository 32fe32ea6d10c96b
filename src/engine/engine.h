// A loaded model: the GGUF mapping, bound weights, tokenizer, backend and forward pass.
// Sessions (engine/session.h) evaluate tokens on it; many sessions share one Engine.
#pragma once

#include <memory>
#include <string>

#include "backend/backend.h"
#include "gguf/reader.h"
#include "model/forward.h"
#include "model/weights.h"
#include "tokenizer/tokenizer.h"

namespace dstar::engine {

struct EngineOptions {
    std::string model_path = "ds4flash.gguf";
    std::string backend = "cpu";  // "cpu" (the reference) or "cuda" (CUDA builds); see default_backend()
    int threads = 0;              // CPU threads; <= 0: all cores
    bool qat = true;              // the model's FP8/FP4 simulations (see backend::Numerics)
    backend::Numerics::IndexerTies indexer_ties = backend::Numerics::IndexerTies::Lowest;
};

class Engine {
public:
    // Opens and validates the model.  Throws Error with a message naming the problem.
    explicit Engine(const EngineOptions &opt);
    ~Engine();
    Engine(const Engine &) = delete;
    Engine &operator=(const Engine &) = delete;

    const EngineOptions &options() const { return opt_; }
    const gguf::Reader &reader() const { return *reader_; }
    const model::ModelWeights &weights() const { return weights_; }
    const model::ModelConfig &config() const { return weights_.config; }
    const tok::Tokenizer &tokenizer() const { return *tokenizer_; }
    backend::Backend &backend() { return *backend_; }
    model::Forward &forward() { return *forward_; }

    // One line describing the model and backend (for logs).
    std::string describe() const;

private:
    EngineOptions opt_;
    std::unique_ptr<gguf::Reader> reader_;
    model::ModelWeights weights_;
    std::unique_ptr<tok::Tokenizer> tokenizer_;
    std::unique_ptr<backend::Backend> backend_;
    std::unique_ptr<model::Forward> forward_;
};

// The backend command-line tools use unless told otherwise: "cuda" in CUDA builds when a
// GPU is present, else "cpu".
std::string default_backend();

// Reads tokenizer.ggml.tokens / tokenizer.ggml.merges from a GGUF.  Throws Error.
std::unique_ptr<tok::Tokenizer> load_tokenizer(const gguf::Reader &reader, uint32_t n_vocab);

}  // namespace dstar::engine
