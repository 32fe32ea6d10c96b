#include "server/api/options.h"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <thread>
#include <unistd.h>

#include "engine/engine.h"

namespace dstar::server::api {
namespace {

// A bad flag: the message goes to stderr and the process exits with status 2 (as ds4).
struct FlagError {
    std::string message;
    bool with_usage = false;
};

long parse_long(const std::string &s, const std::string &flag, long min_value, long max_value) {
    errno = 0;
    char *end = nullptr;
    const long v = std::strtol(s.c_str(), &end, 10);
    if (s.empty() || *end != '\0' || errno == ERANGE || v < min_value || v > max_value) {
        throw FlagError{"dstar-server: invalid value for " + flag + ": " + s};
    }
    return v;
}

// Integers must be > 0 unless the flag accepts 0 (server.md §1).
uint32_t positive(const std::string &s, const std::string &flag) {
    return static_cast<uint32_t>(parse_long(s, flag, 1, INT_MAX));
}
uint32_t non_negative(const std::string &s, const std::string &flag) {
    return static_cast<uint32_t>(parse_long(s, flag, 0, INT_MAX));
}

float parse_float(const std::string &s, const std::string &flag, float min_value, float max_value) {
    errno = 0;
    char *end = nullptr;
    const float v = std::strtof(s.c_str(), &end);
    // The negated comparisons also reject NaN.
    if (s.empty() || *end != '\0' || !(v >= min_value) || !(v <= max_value)) {
        throw FlagError{"dstar-server: invalid value for " + flag + ": " + s};
    }
    return v;
}

std::string parse_host(const std::string &s) {
    const std::string host = s == "localhost" ? "127.0.0.1" : s;
    in_addr addr{};
    if (inet_pton(AF_INET, host.c_str(), &addr) != 1) {
        throw FlagError{"dstar-server: invalid value for --host: " + s +
                        " (an IPv4 address such as 127.0.0.1 or 0.0.0.0, or localhost)"};
    }
    return host;
}

std::string parse_backend(const std::string &s) {
    if (s == "metal" || s == "cuda" || s == "cpu") return s;
    throw FlagError{"dstar-server: invalid --backend value: " + s +
                    "\ndstar-server: valid server backends are: metal, cuda, cpu"};
}

// Returns true when -h/--help was reached: ds4 parses left to right and exits there, so flags
// before it must be valid and flags after it are never looked at.
bool parse_into(const std::vector<std::string> &args, ServerOptions &o) {
    bool steering_scale_set = false;
    for (size_t i = 0; i < args.size(); i++) {
        const std::string &a = args[i];
        if (a == "-h" || a == "--help") return true;
        auto need = [&]() -> const std::string & {
            if (i + 1 >= args.size()) throw FlagError{"dstar-server: missing value for " + a};
            return args[++i];
        };
        auto is = [&](const char *s, const char *l = nullptr) { return a == s || (l && a == l); };

        if (is("-m", "--model")) o.model = need();
        else if (is("--mtp")) o.mtp = need(), o.mtp_flags_given = true;
        else if (is("--mtp-draft")) o.mtp_draft = static_cast<int>(positive(need(), a)), o.mtp_flags_given = true;
        else if (is("--mtp-margin")) o.mtp_margin = parse_float(need(), a, 0.0f, 1000.0f), o.mtp_flags_given = true;
        else if (is("-c", "--ctx")) o.ctx = positive(need(), a);
        else if (is("-n", "--tokens")) o.tokens = positive(need(), a);
        else if (is("-t", "--threads")) o.threads = static_cast<int>(positive(need(), a));
        else if (is("--chdir")) o.chdir = need();
        else if (is("--quality")) o.quality = true;
        else if (is("--dir-steering-file")) o.steering_file = need();
        else if (is("--dir-steering-ffn")) o.steering_ffn = parse_float(need(), a, -100.0f, 100.0f), steering_scale_set = true;
        else if (is("--dir-steering-attn")) o.steering_attn = parse_float(need(), a, -100.0f, 100.0f), steering_scale_set = true;
        else if (is("--warm-weights")) o.warm_weights = true;
        else if (is("--metal")) o.backend = "metal";
        else if (is("--cuda")) o.backend = "cuda";
        else if (is("--cpu")) o.backend = "cpu";
        else if (is("--backend")) o.backend = parse_backend(need());
        else if (is("--host")) o.host = parse_host(need());
        else if (is("--port")) o.port = static_cast<int>(parse_long(need(), a, 1, 65535));
        else if (is("--cors")) o.cors = true;
        else if (is("--trace")) o.trace = need();
        else if (is("--kv-disk-dir")) o.kv.dir = need();
        else if (is("--kv-disk-space-mb")) o.kv.space_mb = positive(need(), a);
        else if (is("--kv-cache-min-tokens")) o.kv.min_tokens = positive(need(), a);
        else if (is("--kv-cache-cold-max-tokens")) o.kv.cold_max_tokens = non_negative(need(), a);
        else if (is("--kv-cache-continued-interval-tokens")) o.kv.continued_interval = non_negative(need(), a);
        else if (is("--kv-cache-boundary-trim-tokens")) o.kv.boundary_trim = non_negative(need(), a);
        else if (is("--kv-cache-boundary-align-tokens")) o.kv.boundary_align = non_negative(need(), a);
        else if (is("--kv-cache-reject-different-quant")) o.kv.reject_different_quant = true;
        else if (is("--disable-exact-dsml-tool-replay")) o.kv.exact_replay = false;
        else if (is("--tool-memory-max-ids")) o.tool_memory_max_ids = positive(need(), a);
        else if (is("--sessions")) o.sessions = static_cast<uint32_t>(parse_long(need(), a, 1, 256));
        else if (is("--http-threads")) o.http_threads = static_cast<uint32_t>(parse_long(need(), a, 1, 4096));
        else if (is("--prefill-chunk")) o.prefill_chunk = positive(need(), a);
        else if (is("--model-alias")) {
            const std::string &name = need();
            if (name.empty()) throw FlagError{"dstar-server: invalid value for --model-alias: empty name"};
            o.model_aliases.push_back(name);
        } else {
            throw FlagError{"dstar-server: unknown option: " + a, true};
        }
    }
    if (o.kv.cold_max_tokens > 0 && o.kv.cold_max_tokens < o.kv.min_tokens) {
        throw FlagError{"dstar-server: --kv-cache-cold-max-tokens must be 0 or >= --kv-cache-min-tokens"};
    }
    if (!o.steering_file.empty() && !steering_scale_set) o.steering_ffn = 1.0f;
    return false;
}

}  // namespace

ParsedOptions parse_server_options(const std::vector<std::string> &args) {
    ParsedOptions r;
    try {
        if (parse_into(args, r.options)) {
            r.out = server_usage();
            r.exit_code = 0;
        }
    } catch (const FlagError &e) {
        r.err = e.message + "\n";
        if (e.with_usage) r.err += server_usage();
        r.exit_code = 2;
    }
    return r;
}

std::string default_backend() { return engine::default_backend(); }

std::string backend_unavailable_reason(const std::string &backend) {
    if (backend.empty() || backend == "cpu" || backend == "cuda") return "";
    if (backend == "metal") return "dstar has no Metal backend (backends: cpu, and cuda in CUDA builds)";
    return "unknown backend '" + backend + "' (backends: cpu, and cuda in CUDA builds)";
}

int default_thread_count() {
    if (const char *env = std::getenv("DSTAR_THREADS"); env && *env) {
        char *end = nullptr;
        const long v = std::strtol(env, &end, 10);
        if (*end == '\0' && v > 0 && v <= 4096) return static_cast<int>(v);
    }
    const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return static_cast<int>(cpus > 0 ? std::min<long>(cpus, 12) : 1);
}

std::string server_usage() {
    return
        "Usage: dstar-server [options]\n"
        "\n"
        "An HTTP server for DeepSeek V4 Flash with ds4-server's APIs: OpenAI chat completions,\n"
        "completions and Responses, Anthropic messages.\n"
        "\n"
        "Model and runtime:\n"
        "  -m, --model FILE\n"
        "      GGUF model path. Default: ds4flash.gguf\n"
        "  --mtp FILE, --mtp-draft N, --mtp-margin F\n"
        "      Accepted for ds4 compatibility and validated; MTP speculative decoding is not\n"
        "      implemented in dstar yet, so they are ignored (output is the same without them).\n"
        "  -c, --ctx N\n"
        "      Context size of every session slot. Default: 32768\n"
        "  -n, --tokens N\n"
        "      Default max output tokens when the client omits a limit. Default: 393216 (384K)\n"
        "  -t, --threads N\n"
        "      CPU threads. Default: min(CPUs, 12), or env DSTAR_THREADS. Results are identical\n"
        "      for any count.\n"
        "  --chdir DIR\n"
        "      Change working directory before loading the model.\n"
        "  --quality\n"
        "      Accepted for ds4 compatibility: dstar's kernels are always exact.\n"
        "  --dir-steering-file FILE, --dir-steering-ffn F, --dir-steering-attn F\n"
        "      Directional steering: validated, but not supported by dstar yet (startup fails\n"
        "      if a file or a non-zero scale is given).\n"
        "  --warm-weights\n"
        "      Touch every mapped model page before serving. Slower startup, fewer stalls later.\n"
        "  --cpu | --cuda | --metal | --backend NAME\n"
        "      Compute backend: cpu, or cuda in CUDA builds (the default when a GPU is present).\n"
        "      There is no Metal backend.\n"
        "\n"
        "HTTP API:\n"
        "  --host HOST\n"
        "      Bind address (IPv4; localhost = 127.0.0.1). Default: 127.0.0.1\n"
        "  --port N\n"
        "      Bind port. Default: 8000\n"
        "  --cors\n"
        "      Add Access-Control-Allow-* headers for browser JS clients. Does not change --host.\n"
        "  --trace FILE\n"
        "      Write a human-readable trace: prompts, cache decisions, output, tool calls.\n"
        "\n"
        "Thinking and sampling:\n"
        "  Chat requests default to thinking mode with high effort; reasoning_effort=max or\n"
        "  output_config.effort=max requests Think Max, applied only when --ctx >= 393216.\n"
        "  thinking={type:disabled}, think=false, reasoning_effort=none or model=deepseek-chat\n"
        "  select non-thinking mode. API defaults: temperature=1, top_p=1, min_p=0.05, no top-k.\n"
        "  In thinking mode client sampling knobs are ignored, like the official API.\n"
        "\n"
        "Disk KV cache:\n"
        "  --kv-disk-dir DIR\n"
        "      Enable disk KV checkpoints in DIR (created if needed).\n"
        "  --kv-disk-space-mb N\n"
        "      Disk budget for checkpoint files. Default: 4096\n"
        "  --kv-cache-min-tokens N\n"
        "      Do not save or load checkpoints shorter than N tokens. Default: 512\n"
        "  --kv-cache-cold-max-tokens N\n"
        "      Cold first prompts in [min,N] are saved automatically. 0 disables. Default: 30000\n"
        "  --kv-cache-continued-interval-tokens N\n"
        "      Save at aligned frontiers about N tokens apart. 0 disables. Default: 10000\n"
        "  --kv-cache-boundary-trim-tokens N\n"
        "      Tail tokens trimmed before cold boundary saves. Default: 32\n"
        "  --kv-cache-boundary-align-tokens N\n"
        "      Align cold boundary saves down to this multiple. 0 disables. Default: 2048\n"
        "  --kv-cache-reject-different-quant\n"
        "      Refuse checkpoints written with a different routed-expert quantization.\n"
        "  --disable-exact-dsml-tool-replay\n"
        "      Disable the tool-id -> exact sampled DSML map (history uses canonical rendering).\n"
        "  --tool-memory-max-ids N\n"
        "      Maximum tool-call ids kept in RAM for exact replay. Default: 100000\n"
        "\n"
        "dstar extensions:\n"
        "  --sessions N\n"
        "      Live session slots kept in memory (interleaved agents keep their caches). Default: 4\n"
        "  --http-threads N\n"
        "      HTTP worker threads, i.e. connections served at once (streams included). Default: 128\n"
        "  --prefill-chunk N\n"
        "      Tokens per prefill batch. Default: 2048\n"
        "  --model-alias NAME\n"
        "      Also accept NAME as a model id (repeatable), e.g. the model names a client sends.\n"
        "      Always accepted: deepseek-v4-flash, deepseek-chat (no thinking),\n"
        "      deepseek-reasoner (thinking).\n"
        "\n"
        "Endpoints: /v1/chat/completions, /v1/completions, /v1/responses, /v1/messages,\n"
        "/v1/messages/count_tokens, /v1/models, /health, /metrics.\n"
        "Single instance: a lock file (env DSTAR_LOCK_FILE, default $TMPDIR/dstar.lock).\n"
        "\n"
        "  -h, --help\n"
        "      Show this help.\n";
}

}  // namespace dstar::server::api
