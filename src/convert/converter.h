// Hugging Face DeepSeek V4 checkpoint -> GGUF in the ds4 layout (dstar-gguf convert).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace dstar::convert {

// Target encodings:
//   f32, f16  every float tensor at that precision (exact comparisons, reference runs)
//   q8        the published layout with routed experts in Q8_0
//   q4        ds4's q4 recipe: routed experts Q4_K
//   q2        ds4's q2 recipe: routed gate/up IQ2_XXS, down Q2_K
// For q8/q4/q2 every other tensor has the type of the published files (attention, shared
// expert and LM head Q8_0; embedding, HC, compressor, indexer and router F16; norms F32).
// A row whose length is not a whole number of the target's blocks falls back to Q8_0, then
// F16, and the fallback is reported.
struct ConvertOptions {
    std::string checkpoint_dir;  // config.json + *.safetensors (+ tokenizer.json)
    std::string out;
    std::string quant = "q2";
    std::string tokenizer_json;  // default: <checkpoint_dir>/tokenizer.json
    std::string imatrix;         // optional importance matrix for the quantizers
    std::string name;            // general.name (default: from the config)
    int threads = 0;
};

struct ConvertResult {
    uint64_t n_tensors = 0;
    uint64_t tensor_bytes = 0;
    std::vector<std::string> notes;  // fallbacks and other decisions worth telling the user
};

using ConvertProgress = std::function<void(const std::string &tensor, uint64_t done, uint64_t total)>;

// Streams the conversion tensor by tensor (memory: about one tensor as f32).  Throws Error
// naming the tensor for a missing or mis-shaped source.
ConvertResult convert_checkpoint(const ConvertOptions &opt, const ConvertProgress &progress = {});

}  // namespace dstar::convert
