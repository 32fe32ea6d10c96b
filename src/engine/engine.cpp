#include "engine/engine.h"

#include "common/error.h"

// Set by CMake when the CUDA backend is linked (src/engine/CMakeLists.txt).
#ifndef DSTAR_WITH_CUDA
#define DSTAR_WITH_CUDA 0
#endif

namespace dstar::engine {

std::unique_ptr<tok::Tokenizer> load_tokenizer(const gguf::Reader &r, uint32_t n_vocab) {
    auto strings = [&](const char *key, bool required) {
        std::vector<std::string> out;
        const gguf::Value *v = r.find(key);
        if (!v) {
            if (required) fail("%s: missing metadata key '%s'", r.path().c_str(), key);
            return out;
        }
        if (v->type != gguf::ValueType::ARRAY || v->elem_type != gguf::ValueType::STRING)
            fail("%s: metadata '%s' must be an array of strings", r.path().c_str(), key);
        out.reserve(v->items.size());
        for (const auto &it : v->items) out.push_back(it.str);
        return out;
    };
    std::vector<std::string> tokens = strings("tokenizer.ggml.tokens", true);
    const std::vector<std::string> merges = strings("tokenizer.ggml.merges", true);
    if (tokens.size() != n_vocab)
        fail("%s: tokenizer.ggml.tokens has %zu entries but the vocabulary (embedding rows) is %u", r.path().c_str(),
             tokens.size(), n_vocab);
    try {
        return std::make_unique<tok::Tokenizer>(std::move(tokens), merges);
    } catch (const Error &e) {
        fail("%s: %s", r.path().c_str(), e.what());
    }
}

Engine::Engine(const EngineOptions &opt) : opt_(opt) {
    reader_ = std::make_unique<gguf::Reader>(opt.model_path);
    weights_ = model::bind_model(*reader_);
    tokenizer_ = load_tokenizer(*reader_, weights_.config.n_vocab);
    if (opt.backend == "cpu") {
        backend_ = backend::make_cpu_backend(opt.threads);
    } else if (opt.backend == "cuda") {
#if DSTAR_WITH_CUDA
        backend_ = backend::make_cuda_backend(0);
#else
        fail("this build has no CUDA backend (configure with -DDSTAR_CUDA=ON)");
#endif
    } else {
        fail("unknown backend '%s' (this build has: %s)", opt.backend.c_str(), DSTAR_WITH_CUDA ? "cpu, cuda" : "cpu");
    }
    backend::Numerics num;
    num.qat = opt.qat;
    num.indexer_ties = opt.indexer_ties;
    forward_ = std::make_unique<model::Forward>(weights_, *backend_, num);
}

Engine::~Engine() = default;

std::string default_backend() {
#if DSTAR_WITH_CUDA
    if (backend::cuda_device_count() > 0) return "cuda";
#endif
    return "cpu";
}

std::string Engine::describe() const {
    return strformat("%s: %s; %s; backend %s", opt_.model_path.c_str(), weights_.layout.describe().c_str(),
                     weights_.config.summary().c_str(), backend_->name().c_str());
}

}  // namespace dstar::engine
