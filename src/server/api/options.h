// Command-line options of dstar-server: every ds4-server flag (spec server.md §2) with the same
// names, defaults, ranges and exit codes, plus a few dstar extensions (--sessions,
// --http-threads, --prefill-chunk, --model-alias).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kvcache/disk_cache.h"

namespace dstar::server::api {

struct ServerOptions {
    // Model and runtime.
    std::string model = "ds4flash.gguf";
    std::string mtp;                 // --mtp FILE (accepted; MTP is not implemented yet)
    int mtp_draft = 1;
    float mtp_margin = 3.0f;
    bool mtp_flags_given = false;    // any --mtp* flag was passed (one warning at startup)
    uint32_t ctx = 32768;
    uint32_t tokens = 393216;        // -n: default max output tokens
    int threads = 0;                 // -t; 0: default_thread_count()
    std::string chdir;
    bool quality = false;            // accepted: dstar's kernels are exact
    std::string steering_file;
    float steering_ffn = 0.0f;       // 1 when a file is given and neither scale flag was passed
    float steering_attn = 0.0f;
    bool warm_weights = false;
    std::string backend;             // "cpu", "cuda" or "metal"; "" = default_backend()

    // HTTP.
    std::string host = "127.0.0.1";  // IPv4 dotted quad ("localhost" is mapped here)
    int port = 8000;
    bool cors = false;
    std::string trace;

    // Disk KV cache and tool memory (kvcache.md §11).
    kvcache::Options kv;
    uint32_t tool_memory_max_ids = 100000;

    // dstar extensions.
    uint32_t sessions = 4;           // live session slots
    uint32_t http_threads = 128;     // HTTP worker threads (concurrent connections served)
    uint32_t prefill_chunk = 2048;   // tokens per prefill turn
    std::vector<std::string> model_aliases;  // extra accepted model ids
};

// The outcome of parsing argv.  exit_code < 0: run the server with `options`; otherwise print
// `out` to stdout and `err` to stderr and exit with exit_code (0 for --help, 2 for bad flags).
struct ParsedOptions {
    ServerOptions options;
    int exit_code = -1;
    std::string out, err;
};

// args: argv[1..] (the program name excluded).  Later occurrences of a flag win.
ParsedOptions parse_server_options(const std::vector<std::string> &args);

// The --help text.
std::string server_usage();

// Backend used when no backend flag is given: engine::default_backend() (cuda in CUDA builds
// with a GPU, else cpu).
std::string default_backend();
// A sentence saying why `backend` can never run in this build (startup exit 1), or "".  Whether
// CUDA works is only known when the engine opens it (then the model load fails, also exit 1).
std::string backend_unavailable_reason(const std::string &backend);

// -t default (features.md §6): min(online CPUs, 12), overridden by env DSTAR_THREADS.
int default_thread_count();

}  // namespace dstar::server::api
