// dstar-bench's command line.  Two modes:
//   simple (default): --prompt N random tokens prefilled, --gen N decoded;
//   sweep (ds4-bench's method, features.md §8): chosen by --prompt-file, --chat-prompt-file
//   or --random-prompt SEED, with ds4-bench's flags and defaults.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cli/bench_sweep.h"
#include "engine/engine.h"

namespace dstar::cli::bench {

struct BenchOptions {
    bool help = false;
    engine::EngineOptions engine;  // -m, --backend/--cuda/--cpu, -t
    uint32_t prefill_chunk = 0;    // --chunk / --prefill-chunk; 0: the mode's default

    // Simple mode.
    uint32_t prompt_tokens = 512;  // --prompt
    uint32_t gen = 32;             // --gen
    uint32_t ctx = 0;              // --ctx; 0: prompt + gen + 1

    // Sweep mode: exactly one source.
    std::string prompt_file;        // plain BPE of the file's text
    std::string chat_prompt_file;   // one non-thinking chat user message with `system`
    std::optional<uint64_t> random_seed;  // random_prompt(seed, ...)
    std::string system = "You are a helpful assistant.";  // ds4-bench's default
    SweepPlan plan;
    uint32_t ctx_alloc = 0;         // 0: ctx_max + gen_tokens + 1
    std::string csv_path;           // empty: stdout

    double bandwidth_gbps = 0;      // --bandwidth: report speeds as a fraction of the floor

    bool sweep() const { return !prompt_file.empty() || !chat_prompt_file.empty() || random_seed.has_value(); }
    uint32_t chunk() const { return prefill_chunk ? prefill_chunk : (sweep() ? 2048 : 256); }
};

// Parses argv[1..]; throws Error naming the flag and the problem (unknown flag, missing or
// malformed value, a flag of the other mode, an inconsistent sweep).
BenchOptions parse_bench_options(const std::vector<std::string> &args);

std::string bench_usage();

}  // namespace dstar::cli::bench
