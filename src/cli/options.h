// Command-line options of `dstar` (names follow ds4's CLI where ds4 has them).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "chat/think_mode.h"
#include "engine/sampler.h"

namespace dstar::cli {

struct Options {
    std::string model = "ds4flash.gguf";
    std::string backend;              // empty: engine::default_backend()
    int threads = 0;
    std::string prompt;               // -p / --prompt-file
    bool have_prompt = false;
    std::string system = "You are a helpful assistant";
    chat::ThinkMode think = chat::ThinkMode::High;
    int n_predict = 50000;
    bool n_given = false;             // -n was passed
    uint32_t ctx = 32768;
    uint32_t prefill_chunk = 256;
    engine::SamplerParams sampling;
    bool dump_tokens = false;
    std::string dump_logprobs;        // FILE
    int logprobs_top_k = 20;
    std::vector<int32_t> prompt_ids;  // --prompt-ids
    bool have_prompt_ids = false;
    std::string dump_logits;          // FILE
    bool inspect = false;
    bool no_qat = false;
    bool torch_ties = false;          // --indexer-ties torch
};

// Parses argv; prints usage and exits on -h, exits with status 2 on a bad option.
Options parse_options(int argc, char **argv);
void print_usage(std::FILE *f);

}  // namespace dstar::cli
