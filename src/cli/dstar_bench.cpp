// dstar-bench: prefill and decode speed of a model file on a backend.
//
//   dstar-bench -m FILE [--backend cuda|cpu | --cuda | --cpu] [-t N] [--prompt N] [--gen N] [--ctx N] [--chunk N]
//
// Random token ids (fixed seed) are prefilled, then --gen tokens are decoded greedily one at
// a time.  Prints tokens/s and the weight bytes one decode step reads, so the roofline ratio
// (bytes per token / bandwidth) can be computed.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>

#include "common/error.h"
#include "engine/engine.h"
#include "engine/sampler.h"
#include "engine/session.h"
#include "model/decode_bytes.h"

using namespace dstar;

namespace {

double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

[[noreturn]] void usage(int rc) {
    std::fprintf(rc ? stderr : stdout,
                 "usage: dstar-bench -m FILE [--backend cuda|cpu | --cuda | --cpu] [-t N] [--prompt N] [--gen N] [--ctx N]\n"
                 "                   [--chunk N]\n"
                 "  --backend B  cuda (the default in CUDA builds when a GPU is present) or cpu\n"
                 "  --prompt N   prompt tokens to prefill (default 512)\n"
                 "  --gen N      tokens to decode (default 32)\n"
                 "  --ctx N      context size (default prompt + gen)\n"
                 "  --chunk N    prefill batch (default 256)\n");
    std::exit(rc);
}

}  // namespace

int main(int argc, char **argv) {
    engine::EngineOptions eo;
    eo.model_path = "";
    eo.backend = engine::default_backend();
    uint32_t n_prompt = 512, n_gen = 32, ctx = 0, chunk = 256;
    for (int i = 1; i < argc; i++) {
        const std::string a = argv[i];
        auto need = [&]() -> const char * {
            if (i + 1 >= argc) usage(2);
            return argv[++i];
        };
        if (a == "-h" || a == "--help") usage(0);
        else if (a == "-m" || a == "--model") eo.model_path = need();
        else if (a == "--backend") eo.backend = need();
        else if (a == "--cuda") eo.backend = "cuda";
        else if (a == "--cpu") eo.backend = "cpu";
        else if (a == "-t" || a == "--threads") eo.threads = std::atoi(need());
        else if (a == "--prompt") n_prompt = static_cast<uint32_t>(std::strtoul(need(), nullptr, 10));
        else if (a == "--gen") n_gen = static_cast<uint32_t>(std::strtoul(need(), nullptr, 10));
        else if (a == "--ctx") ctx = static_cast<uint32_t>(std::strtoul(need(), nullptr, 10));
        else if (a == "--chunk") chunk = static_cast<uint32_t>(std::strtoul(need(), nullptr, 10));
        else usage(2);
    }
    if (eo.model_path.empty() || n_prompt == 0) usage(2);
    try {
        engine::Engine e(eo);
        const model::ModelConfig &c = e.config();
        if (!ctx) ctx = n_prompt + n_gen + 1;
        std::mt19937 rng(1);
        std::vector<int32_t> prompt{e.tokenizer().bos()};
        while (prompt.size() < n_prompt) prompt.push_back(static_cast<int32_t>(rng() % c.n_vocab));
        engine::Session s(e, ctx, chunk);
        const double t0 = now_s();
        s.sync(prompt);
        const double t1 = now_s();
        const double t2 = now_s();
        for (uint32_t i = 0; i < n_gen; i++) s.append(engine::argmax(s.logits().data(), c.n_vocab));
        const double t3 = now_s();
        const double prefill = n_prompt / (t1 - t0);
        const double decode = n_gen ? n_gen / (t3 - t2) : 0.0;
        const uint64_t bytes = model::decode_weight_bytes(e.weights(), s.pos());
        std::printf("model:    %s\n", e.describe().c_str());
        std::printf("prefill:  %u tokens in %.3f s = %.2f tokens/s (chunk %u)\n", n_prompt, t1 - t0, prefill, chunk);
        std::printf("decode:   %u tokens in %.3f s = %.2f tokens/s (%.2f ms/token)\n", n_gen, t3 - t2, decode,
                    n_gen ? 1000.0 * (t3 - t2) / n_gen : 0.0);
        std::printf("weights read per decoded token: %.2f MB -> %.2f GB/s effective\n", bytes / 1e6,
                    decode * static_cast<double>(bytes) / 1e9);
    } catch (const Error &err) {
        std::fprintf(stderr, "dstar-bench: %s\n", err.what());
        return 1;
    }
    return 0;
}
