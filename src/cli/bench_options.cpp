#include "cli/bench_options.h"

#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdlib>

#include "common/error.h"

namespace dstar::cli::bench {

namespace {

// A whole decimal number in [lo, hi]; anything else names the flag.
uint64_t parse_uint(const std::string &flag, const std::string &s, uint64_t lo, uint64_t hi) {
    char *end = nullptr;
    errno = 0;
    const unsigned long long v = std::strtoull(s.c_str(), &end, 10);
    if (s.empty() || s[0] == '-' || s[0] == '+' || *end != '\0' || errno != 0 || v < lo || v > hi)
        fail("invalid value for %s: '%s' (expected a whole number in %llu..%llu)", flag.c_str(), s.c_str(),
             static_cast<unsigned long long>(lo), static_cast<unsigned long long>(hi));
    return v;
}

double parse_double(const std::string &flag, const std::string &s) {
    char *end = nullptr;
    errno = 0;
    const double v = std::strtod(s.c_str(), &end);
    if (s.empty() || *end != '\0' || errno != 0 || !std::isfinite(v))
        fail("invalid value for %s: '%s' (expected a number)", flag.c_str(), s.c_str());
    return v;
}

// Token counts: positive and small enough that ctx + gen + 1 still fits the engine's u32.
constexpr uint64_t kMaxTokens = INT_MAX / 2;

}  // namespace

BenchOptions parse_bench_options(const std::vector<std::string> &args) {
    BenchOptions o;
    o.engine.backend = engine::default_backend();
    std::string simple_flag, sweep_flag, system_flag;  // one of each kind seen, for messages
    bool ctx_alloc_set = false;
    for (size_t i = 0; i < args.size(); i++) {
        const std::string &a = args[i];
        auto need = [&]() -> const std::string & {
            if (i + 1 >= args.size()) fail("%s requires a value", a.c_str());
            return args[++i];
        };
        auto tokens = [&]() { return static_cast<uint32_t>(parse_uint(a, need(), 1, kMaxTokens)); };
        if (a == "-h" || a == "--help") o.help = true;
        else if (a == "-m" || a == "--model") o.engine.model_path = need();
        else if (a == "--backend") o.engine.backend = need();
        else if (a == "--cuda") o.engine.backend = "cuda";
        else if (a == "--cpu") o.engine.backend = "cpu";
        else if (a == "-t" || a == "--threads") o.engine.threads = static_cast<int>(parse_uint(a, need(), 0, 4096));
        else if (a == "--chunk" || a == "--prefill-chunk") o.prefill_chunk = tokens();
        else if (a == "--bandwidth") {
            o.bandwidth_gbps = parse_double(a, need());
            if (o.bandwidth_gbps <= 0) fail("--bandwidth must be a positive number of GB/s");
        }
        // Simple mode.
        else if (a == "--prompt") { o.prompt_tokens = tokens(); simple_flag = a; }
        else if (a == "--gen") { o.gen = tokens(); simple_flag = a; }
        else if (a == "--ctx") { o.ctx = tokens(); simple_flag = a; }
        // Sweep mode.
        else if (a == "--prompt-file") o.prompt_file = need();
        else if (a == "--chat-prompt-file") o.chat_prompt_file = need();
        else if (a == "--random-prompt") o.random_seed = parse_uint(a, need(), 0, UINT64_MAX);
        else if (a == "-sys" || a == "--system") { o.system = need(); system_flag = a; }
        else if (a == "--ctx-start") { o.plan.ctx_start = tokens(); sweep_flag = a; }
        else if (a == "--ctx-max") { o.plan.ctx_max = tokens(); sweep_flag = a; }
        else if (a == "--ctx-alloc") { o.ctx_alloc = tokens(); sweep_flag = a; ctx_alloc_set = true; }
        else if (a == "--step-incr") { o.plan.step_incr = tokens(); sweep_flag = a; }
        else if (a == "--step-mul") { o.plan.step_mul = parse_double(a, need()); sweep_flag = a; }
        else if (a == "--gen-tokens" || a == "--tokens" || a == "-n") { o.plan.gen_tokens = tokens(); sweep_flag = a; }
        else if (a == "--csv") { o.csv_path = need(); sweep_flag = a; }
        else fail("unknown option '%s'", a.c_str());
    }
    if (o.help) return o;
    if (o.engine.model_path.empty()) fail("-m FILE: the model path is empty");
    const int sources = !o.prompt_file.empty() + !o.chat_prompt_file.empty() + o.random_seed.has_value();
    if (sources > 1) fail("give only one of --prompt-file, --chat-prompt-file and --random-prompt");
    if (!o.sweep()) {
        if (!sweep_flag.empty())
            fail("%s is a sweep option: add --prompt-file FILE, --chat-prompt-file FILE or --random-prompt SEED",
                 sweep_flag.c_str());
        if (!system_flag.empty()) fail("%s only applies to --chat-prompt-file", system_flag.c_str());
        if (o.ctx && o.ctx < static_cast<uint64_t>(o.prompt_tokens) + o.gen)
            fail("--ctx %u is smaller than --prompt + --gen (%u + %u)", o.ctx, o.prompt_tokens, o.gen);
        return o;
    }
    if (!simple_flag.empty())
        fail("%s belongs to the simple mode; the sweep takes --ctx-start, --ctx-max and --gen-tokens",
             simple_flag.c_str());
    if (!system_flag.empty() && o.chat_prompt_file.empty())
        fail("%s only applies to --chat-prompt-file", system_flag.c_str());
    validate(o.plan);
    const uint64_t needed = static_cast<uint64_t>(o.plan.ctx_max) + o.plan.gen_tokens;
    if (!ctx_alloc_set) o.ctx_alloc = static_cast<uint32_t>(needed + 1);
    else if (o.ctx_alloc <= needed)
        fail("--ctx-alloc (%u) must be greater than ctx-max + gen-tokens (%u + %u)", o.ctx_alloc, o.plan.ctx_max,
             o.plan.gen_tokens);
    return o;
}

std::string bench_usage() {
    return "usage: dstar-bench -m FILE [--backend cuda|cpu | --cuda | --cpu] [-t N] [--chunk N] [--bandwidth GBPS]\n"
           "                   [simple mode | sweep mode]\n"
           "\n"
           "Simple mode (default): random token ids prefilled, then greedy decoding.\n"
           "  --prompt N           prompt tokens to prefill (default 512)\n"
           "  --gen N              tokens to decode (default 32)\n"
           "  --ctx N              context size (default prompt + gen + 1)\n"
           "\n"
           "Sweep mode (ds4-bench's method and CSV): one fixed token sequence walked to context\n"
           "frontiers; at each, the newest prefill interval is timed, the session is snapshotted\n"
           "(untimed), exactly --gen-tokens greedy tokens are generated (EOS never chosen) and timed,\n"
           "and the snapshot is restored.  One source of tokens:\n"
           "  --prompt-file FILE   the file's text, plain BPE\n"
           "  --chat-prompt-file FILE  the text as one non-thinking chat user message\n"
           "  -sys, --system TEXT  system prompt for --chat-prompt-file (default \"You are a helpful assistant.\")\n"
           "  --random-prompt SEED BOS then random ids (synthetic models have no meaningful text)\n"
           "  --ctx-start N        first frontier (default 2048)\n"
           "  --ctx-max N          last frontier, always a row (default 32768)\n"
           "  --step-incr N        next frontier = current + N when --step-mul is 1 (default 2048)\n"
           "  --step-mul F         next frontier = ceil(current * F), at least current + 1 (default 1)\n"
           "  --gen-tokens N       greedy tokens per frontier (default 128; also -n, --tokens)\n"
           "  --ctx-alloc N        session context (default ctx-max + gen-tokens + 1)\n"
           "  --csv FILE           write the CSV there instead of stdout\n"
           "CSV columns: ctx_tokens,prefill_tokens,prefill_tps,gen_tokens,gen_tps,kvcache_bytes\n"
           "\n"
           "Both modes:\n"
           "  --backend B          cuda (the default in CUDA builds when a GPU is present) or cpu\n"
           "  -t, --threads N      CPU threads (default: all cores)\n"
           "  --chunk N            prefill batch, also --prefill-chunk (default 256 simple, 2048 sweep)\n"
           "  --bandwidth GBPS     measured memory bandwidth (GB/s): report decode speed as a\n"
           "                       fraction of the floor (model.md §6 bytes per token / bandwidth)\n"
           "On stderr: load time split into open+validate, weight upload/binding and first token, the\n"
           "floor bytes per decoded token and, per result, 'summary' lines of key=value pairs.\n";
}

}  // namespace dstar::cli::bench
