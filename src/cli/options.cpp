#include "cli/options.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/error.h"
#include "common/mapped_file.h"
#include "engine/engine.h"

namespace dstar::cli {

void print_usage(std::FILE *f) {
    std::fputs(
        "usage: dstar [options]\n"
        "       dstar dsml-parse [--thinking] FILE\n"
        "Runs DeepSeek V4 Flash from a ds4-layout GGUF: one prompt (-p / --prompt-file) or,\n"
        "without a prompt, an interactive multi-turn chat.\n"
        "\n"
        "subcommands (no model needed):\n"
        "  dsml-parse [--thinking] FILE  parse a saved completion's reasoning, content and DSML\n"
        "                          tool calls as the server does; print them as JSON (FILE - =\n"
        "                          stdin; dstar dsml-parse --help for details)\n"
        "\n"
        "model and hardware:\n"
        "  -m, --model FILE        GGUF model (default ./ds4flash.gguf)\n"
        "  --backend NAME          compute backend: cuda (the default in CUDA builds when a GPU\n"
        "                          is present) or cpu (the reference)\n"
        "  --cpu, --cuda           same as --backend cpu / --backend cuda\n"
        "  -t, --threads N         CPU threads (default: all cores)\n"
        "  -c, --ctx N             context size in tokens (default 32768)\n"
        "  --prefill-chunk N       tokens per prefill batch (default 256)\n"
        "prompt:\n"
        "  -p, --prompt TEXT       user prompt (a text starting with <｜begin▁of▁sentence｜> is\n"
        "                          taken as an already rendered chat prompt)\n"
        "  --prompt-file FILE      read the prompt from FILE\n"
        "  -sys, --system TEXT     system prompt (default \"You are a helpful assistant\"; \"\" for none)\n"
        "  --think                 thinking mode (default)\n"
        "  --think-max             Think Max (needs --ctx >= 393216, else plain thinking)\n"
        "  --nothink               non-thinking mode\n"
        "generation:\n"
        "  -n, --tokens N          tokens to generate at most (default 50000)\n"
        "  --temp T                temperature (default 1; 0 = greedy)\n"
        "  --top-k K               keep the K most likely tokens (default 0 = off)\n"
        "  --top-p P               nucleus sampling mass (default 1 = off)\n"
        "  --min-p P               drop tokens below P x p(top) (default 0.05)\n"
        "  --seed S                sampler seed (default: from the clock)\n"
        "diagnostics:\n"
        "  --dump-tokens           print the prompt's token ids and pieces, then exit\n"
        "  --dump-logprobs FILE    greedy continuation with top log-probabilities as JSON\n"
        "                          (ds4's format; nothing is printed)\n"
        "  --logprobs-top-k K      alternatives per step in --dump-logprobs (default 20)\n"
        "  --prompt-ids 1,2,3      evaluate these token ids (no tokenizer, no template) ...\n"
        "  --dump-logits FILE      ... and write the logits after every position as\n"
        "                          little-endian float32 [positions][vocab]\n"
        "  --no-qat                skip the model's FP8/FP4 simulations (exact-float checks)\n"
        "  --indexer-ties lowest|torch  how the indexer's top-k breaks exact ties: lowest index\n"
        "                          (default, causal) or as PyTorch's CPU topk on a whole batch\n"
        "                          (only for exact comparisons with transformers)\n"
        "  --inspect               print the model summary and exit\n"
        "  -h, --help              this help\n"
        "\n"
        "interactive commands: /think /nothink /think-max /ctx N /read FILE /help /quit\n"
        "Ctrl-C stops a generation; at the prompt it exits.\n",
        f);
}

namespace {

[[noreturn]] void bad(const char *fmt, const char *a, const char *b = "") {
    std::fprintf(stderr, "dstar: ");
    std::fprintf(stderr, fmt, a, b);
    std::fprintf(stderr, "\n");
    std::exit(2);
}

long long parse_int(const char *s, const char *opt, long long lo, long long hi) {
    errno = 0;
    char *end = nullptr;
    const long long v = std::strtoll(s, &end, 10);
    if (errno || !end || *end || end == s || v < lo || v > hi) bad("invalid value '%s' for %s", s, opt);
    return v;
}

float parse_float(const char *s, const char *opt) {
    errno = 0;
    char *end = nullptr;
    const float v = std::strtof(s, &end);
    if (errno || !end || *end || end == s) bad("invalid value '%s' for %s", s, opt);
    return v;
}

std::vector<int32_t> parse_ids(const char *s) {
    std::vector<int32_t> ids;
    const char *p = s;
    while (*p) {
        char *end = nullptr;
        errno = 0;
        const long v = std::strtol(p, &end, 10);
        if (errno || end == p || v < 0 || v > INT32_MAX) bad("invalid token id list '%s' for %s", s, "--prompt-ids");
        ids.push_back(static_cast<int32_t>(v));
        p = end;
        while (*p == ',' || *p == ' ') p++;
    }
    if (ids.empty()) bad("empty token id list for %s", "--prompt-ids");
    return ids;
}

}  // namespace

Options parse_options(int argc, char **argv) {
    Options o;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        auto need = [&]() -> const char * {
            if (i + 1 >= argc) bad("missing value for %s", a);
            return argv[++i];
        };
        auto is = [&](const char *x, const char *y = nullptr) { return !std::strcmp(a, x) || (y && !std::strcmp(a, y)); };
        if (is("-h", "--help")) {
            print_usage(stdout);
            std::exit(0);
        } else if (is("-m", "--model")) o.model = need();
        else if (is("--backend")) o.backend = need();
        else if (is("--cpu")) o.backend = "cpu";
        else if (is("--cuda")) o.backend = "cuda";
        else if (is("-t", "--threads")) o.threads = static_cast<int>(parse_int(need(), a, 1, 4096));
        else if (is("-c", "--ctx")) o.ctx = static_cast<uint32_t>(parse_int(need(), a, 1, 1ll << 24));
        else if (is("--prefill-chunk")) o.prefill_chunk = static_cast<uint32_t>(parse_int(need(), a, 1, 1 << 16));
        else if (is("-p", "--prompt")) {
            if (o.have_prompt) bad("specify only one prompt source (%s)", a);
            o.prompt = need();
            o.have_prompt = true;
        } else if (is("--prompt-file")) {
            if (o.have_prompt) bad("specify only one prompt source (%s)", a);
            const char *path = need();
            try {
                o.prompt = read_file(path);
            } catch (const Error &e) {
                bad("%s", e.what());
            }
            o.have_prompt = true;
        } else if (is("-sys", "--system")) o.system = need();
        else if (is("--think")) o.think = chat::ThinkMode::High;
        else if (is("--think-max")) o.think = chat::ThinkMode::Max;
        else if (is("--nothink")) o.think = chat::ThinkMode::None;
        else if (is("-n", "--tokens")) {
            o.n_predict = static_cast<int>(parse_int(need(), a, 0, INT32_MAX));
            o.n_given = true;
        }
        else if (is("--temp")) o.sampling.temperature = parse_float(need(), a);
        else if (is("--top-k")) o.sampling.top_k = static_cast<int>(parse_int(need(), a, 0, INT32_MAX));
        else if (is("--top-p")) o.sampling.top_p = parse_float(need(), a);
        else if (is("--min-p")) o.sampling.min_p = parse_float(need(), a);
        else if (is("--seed")) o.sampling.seed = static_cast<uint64_t>(parse_int(need(), a, 0, INT64_MAX));
        else if (is("--dump-tokens")) o.dump_tokens = true;
        else if (is("--dump-logprobs")) o.dump_logprobs = need();
        else if (is("--logprobs-top-k")) o.logprobs_top_k = static_cast<int>(parse_int(need(), a, 1, 1 << 20));
        else if (is("--prompt-ids")) {
            o.prompt_ids = parse_ids(need());
            o.have_prompt_ids = true;
        } else if (is("--dump-logits")) o.dump_logits = need();
        else if (is("--no-qat")) o.no_qat = true;
        else if (is("--indexer-ties")) {
            const std::string v = need();
            if (v != "lowest" && v != "torch") bad("--indexer-ties must be lowest or torch, not '%s'", v.c_str());
            o.torch_ties = v == "torch";
        }
        else if (is("--inspect")) o.inspect = true;
        else {
            std::fprintf(stderr, "dstar: unknown option: %s\n", a);
            print_usage(stderr);
            std::exit(2);
        }
    }
    if (o.backend.empty()) o.backend = engine::default_backend();
    if (!o.dump_logits.empty() && !o.have_prompt_ids) bad("%s requires --prompt-ids", "--dump-logits");
    if (o.have_prompt_ids && o.have_prompt) bad("%s and -p/--prompt-file are exclusive", "--prompt-ids");
    if (o.dump_tokens && !o.have_prompt) bad("%s requires -p or --prompt-file", "--dump-tokens");
    if (!o.dump_logprobs.empty() && !o.have_prompt) bad("%s requires -p or --prompt-file", "--dump-logprobs");
    return o;
}

}  // namespace dstar::cli
