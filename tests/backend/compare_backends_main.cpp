// dstar-compare-backends: whole-model checks of one backend against another (the CUDA
// backend against the CPU reference), run by bench/device/cuda_check.sh.
//
//   dstar-compare-backends teacher -m FILE [--ref cpu] [--test cuda] [--prompt-len N | --prompt-file F]
//                          [--gen N] [--chunk N] [--seed S] [-t N] [--no-qat] [--indexer-ties torch]
//       teacher-forced logits over the prompt and the reference's greedy continuation;
//       prints max/mean figures, exit 0 when the oracle's tier-2 bars hold.
//   dstar-compare-backends repro -m FILE [--backend cuda] [--prompt-len N] [--gen N] [--chunk N]
//       greedy decoding twice: exit 0 when tokens and logits are bit-identical.
//   dstar-compare-backends oracle --oracle DIR --out DIR [--backend cuda] [--variants q2,q4]
//       writes the candidate files of DIR/check_oracle.py (ds4 oracle, tier 1/2).
//   dstar-compare-backends hfref --dir DIR --gguf FILE [--backend cuda] [--max-diff D]
//       logits of transformers' reference prompts (DIR/reference.json) against FILE (DIR
//       converted with --quant f32), no QAT, PyTorch tie order: exit 0 when every logit is
//       within D (default 2e-3) and every argmax equal.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <sys/stat.h>

#include "backend/compare_backends.h"
#include "common/error.h"
#include "common/mapped_file.h"
#include "engine/sampler.h"
#include "engine/session.h"

using namespace dstar;
using backend::compare::Report;

namespace {

[[noreturn]] void usage(int rc) {
    std::fprintf(rc ? stderr : stdout,
                 "usage: dstar-compare-backends teacher -m FILE [--ref cpu] [--test cuda] [--prompt-len N | --prompt-file F]\n"
                 "                                      [--gen N] [--chunk N] [--seed S] [-t N] [--no-qat] [--indexer-ties torch]\n"
                 "       dstar-compare-backends repro -m FILE [--backend cuda] [--prompt-len N] [--gen N] [--chunk N]\n"
                 "       dstar-compare-backends oracle --oracle DIR --out DIR [--backend cuda] [--variants q2,q4]\n"
                 "       dstar-compare-backends hfref --dir DIR --gguf FILE [--backend cuda] [--max-diff D]\n");
    std::exit(rc);
}

struct Args {
    std::string mode, model, ref = "cpu", test = "cuda", prompt_file, oracle, out, variants = "q2,q4", dir, gguf;
    uint32_t prompt_len = 128, gen = 64, chunk = 256, seed = 1;
    int threads = 0;
    bool qat = true, torch_ties = false;
    double max_diff = 2e-3;
};

Args parse(int argc, char **argv) {
    if (argc < 2) usage(2);
    Args a;
    a.mode = argv[1];
    if (a.mode == "-h" || a.mode == "--help") usage(0);
    for (int i = 2; i < argc; i++) {
        const std::string s = argv[i];
        auto need = [&]() -> std::string {
            if (i + 1 >= argc) usage(2);
            return argv[++i];
        };
        auto num = [&]() { return static_cast<uint32_t>(std::strtoul(need().c_str(), nullptr, 10)); };
        if (s == "-m" || s == "--model") a.model = need();
        else if (s == "--ref") a.ref = need();
        else if (s == "--test" || s == "--backend") a.test = need();
        else if (s == "--prompt-len") a.prompt_len = num();
        else if (s == "--prompt-file") a.prompt_file = need();
        else if (s == "--gen") a.gen = num();
        else if (s == "--chunk") a.chunk = num();
        else if (s == "--seed") a.seed = num();
        else if (s == "-t" || s == "--threads") a.threads = static_cast<int>(num());
        else if (s == "--no-qat") a.qat = false;
        else if (s == "--indexer-ties") {
            const std::string v = need();
            if (v != "torch" && v != "lowest") usage(2);
            a.torch_ties = v == "torch";
        } else if (s == "--oracle") a.oracle = need();
        else if (s == "--out") a.out = need();
        else if (s == "--variants") a.variants = need();
        else if (s == "--dir") a.dir = need();
        else if (s == "--gguf") a.gguf = need();
        else if (s == "--max-diff") a.max_diff = std::strtod(need().c_str(), nullptr);
        else usage(2);
    }
    return a;
}

engine::EngineOptions options(const Args &a, const std::string &model, const std::string &backend) {
    engine::EngineOptions o;
    o.model_path = model;
    o.backend = backend;
    o.threads = a.threads;
    o.qat = a.qat;
    if (a.torch_ties) o.indexer_ties = backend::Numerics::IndexerTies::Torch;
    return o;
}

int run_teacher(const Args &a) {
    if (a.model.empty()) usage(2);
    engine::Engine ref(options(a, a.model, a.ref));
    engine::Engine test(options(a, a.model, a.test));
    std::printf("reference: %s\ntest:      %s\n", ref.describe().c_str(), test.describe().c_str());
    const std::vector<int32_t> prompt = a.prompt_file.empty()
                                            ? backend::compare::random_prompt(ref, a.prompt_len, a.seed)
                                            : ref.tokenizer().encode_rendered(read_file(a.prompt_file));
    const Report r = backend::compare::teacher_forced(ref, test, prompt, a.gen, a.chunk,
                                                      a.test + " vs " + a.ref + " (" + a.model + ")");
    std::printf("%s\n%s", r.summary().c_str(), r.details().c_str());
    return r.passes() ? 0 : 1;
}

int run_repro(const Args &a) {
    if (a.model.empty()) usage(2);
    engine::Engine e(options(a, a.model, a.test));
    const std::vector<int32_t> prompt = backend::compare::random_prompt(e, a.prompt_len, a.seed);
    const backend::compare::Repro r = backend::compare::greedy_twice(e, prompt, a.gen, a.chunk);
    std::printf("greedy reproducibility (%s, %zu prompt + %u tokens): %s", e.backend().name().c_str(), prompt.size(),
                a.gen, r.identical ? "identical tokens and logits, bit for bit\n" : "");
    if (!r.identical) std::printf("first difference at step %zu\n", r.first_difference);
    std::printf("tokens:");
    for (int32_t t : r.tokens) std::printf(" %d", t);
    std::printf("\n");
    return r.identical ? 0 : 1;
}

void write_floats(const std::string &path, const std::vector<float> &v) {
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char *>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(float)));
    if (!f) fail("cannot write %s", path.c_str());
}

// Candidate files for check_oracle.py (format in its docstring), as the CPU oracle test
// writes them: teacher-forced logits at every prompt position, then after each oracle token.
int run_oracle(const Args &a) {
    if (a.oracle.empty() || a.out.empty()) usage(2);
    const nlohmann::json manifest = nlohmann::json::parse(read_file(a.oracle + "/manifest.json"));
    ::mkdir(a.out.c_str(), 0755);
    size_t start = 0;
    while (start <= a.variants.size()) {
        const size_t comma = a.variants.find(',', start);
        const std::string variant = a.variants.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        start = comma == std::string::npos ? a.variants.size() + 1 : comma + 1;
        if (variant.empty()) continue;
        engine::Engine e(options(a, a.oracle + "/tiny-" + variant + ".gguf", a.test));
        std::printf("%s: %s\n", variant.c_str(), e.describe().c_str());
        const uint32_t vocab = e.config().n_vocab;
        const std::string dir = a.out + "/" + variant;
        ::mkdir(dir.c_str(), 0755);
        for (const auto &p : manifest["variants"][variant]["prompts"]) {
            const std::string name = p["name"];
            const std::vector<int32_t> ids = e.tokenizer().encode_rendered(read_file(a.oracle + "/prompts/" + name + ".txt"));
            {
                std::ofstream f(dir + "/" + name + ".prompt_ids.txt");
                for (int32_t id : ids) f << id << "\n";
            }
            engine::Session s(e, 2048, a.chunk);
            write_floats(dir + "/" + name + ".positions.f32", s.append_all_logits(ids.data(), static_cast<uint32_t>(ids.size())));
            const nlohmann::json lp = nlohmann::json::parse(read_file(a.oracle + "/" + variant + "/" + name + ".logprobs.json"));
            std::vector<float> steps(s.logits());
            const auto &st = lp["steps"];
            for (size_t k = 0; k + 1 < st.size(); k++) {
                s.append(st[k]["selected"]["id"].get<int32_t>());
                steps.insert(steps.end(), s.logits().begin(), s.logits().end());
            }
            if (steps.size() != st.size() * vocab) fail("%s: unexpected number of oracle steps", name.c_str());
            write_floats(dir + "/" + name + ".steps.f32", steps);
        }
    }
    std::printf("candidate files written to %s (check with %s/check_oracle.py %s)\n", a.out.c_str(), a.oracle.c_str(),
                a.out.c_str());
    return 0;
}

std::vector<float> read_f32(const std::string &path) {
    const std::string b = read_file(path);
    std::vector<float> v(b.size() / 4);
    std::memcpy(v.data(), b.data(), v.size() * 4);
    return v;
}

// transformers' logits (shared/testdata/hf-ref): the whole prompt as one batch, as it ran.
int run_hfref(Args a) {
    if (a.dir.empty() || a.gguf.empty()) usage(2);
    a.qat = false;
    a.torch_ties = true;
    engine::Engine e(options(a, a.gguf, a.test));
    const uint32_t vocab = e.config().n_vocab;
    const nlohmann::json ref = nlohmann::json::parse(read_file(a.dir + "/reference.json"));
    bool ok = true;
    for (const auto &[pn, p] : ref["prompts"].items()) {
        const std::vector<int32_t> ids = p["ids"].get<std::vector<int32_t>>();
        const std::vector<float> want = read_f32(a.dir + "/" + p["logits_file"].get<std::string>());
        if (want.size() != ids.size() * vocab) fail("%s: logits file does not match the prompt", pn.c_str());
        engine::Session s(e, static_cast<uint32_t>(ids.size() + 16), 512);
        const std::vector<float> got = s.append_all_logits(ids.data(), static_cast<uint32_t>(ids.size()));
        double max_abs = 0;
        size_t argmax_diff = 0;
        for (size_t i = 0; i < want.size(); i++) {
            const double d = std::fabs(static_cast<double>(got[i]) - want[i]);
            max_abs = std::isnan(d) ? INFINITY : std::max(max_abs, d);
        }
        for (size_t t = 0; t < ids.size(); t++)
            argmax_diff += engine::argmax(&got[t * vocab], vocab) != engine::argmax(&want[t * vocab], vocab);
        const bool pass = max_abs <= a.max_diff && argmax_diff == 0;
        ok = ok && pass;
        std::printf("hf-ref %s %s: %zu positions, max |dlogit| %.3g, argmax differs at %zu -> %s\n", a.dir.c_str(),
                    pn.c_str(), ids.size(), max_abs, argmax_diff, pass ? "PASS" : "FAIL");
    }
    return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char **argv) {
    const Args a = parse(argc, argv);
    try {
        if (a.mode == "teacher") return run_teacher(a);
        if (a.mode == "repro") return run_repro(a);
        if (a.mode == "oracle") return run_oracle(a);
        if (a.mode == "hfref") return run_hfref(a);
        usage(2);
    } catch (const Error &e) {
        std::fprintf(stderr, "dstar-compare-backends: %s\n", e.what());
        return 1;
    }
}
