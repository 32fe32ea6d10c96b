// Every GGUF tensor of the ds4 layout, in one table: name, where it appears, which types
// the published files use, its shape (from the config), and the official Hugging Face
// checkpoint name it comes from (model.md §2.3-2.7).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gguf/types.h"
#include "model/config.h"

namespace dstar::model {

// Tensors of the model outside the layers.
enum class GlobalTensor : int {
    TokenEmbd, OutputHcBase, OutputHcFn, OutputHcScale, OutputNorm, Output, Count
};

// Tensors of one transformer block ("blk.N." in the main file, "mtp.0." in the MTP file).
enum class LayerTensor : int {
    HcAttnFn, HcAttnScale, HcAttnBase, AttnNorm, AttnQA, AttnQANorm, AttnQB, AttnKv, AttnKvANorm,
    AttnSinks, AttnOutputA, AttnOutputB,
    AttnCompressorApe, AttnCompressorKv, AttnCompressorGate, AttnCompressorNorm,
    IndexerAttnQB, IndexerProj,
    IndexerCompressorApe, IndexerCompressorKv, IndexerCompressorGate, IndexerCompressorNorm,
    HcFfnFn, HcFfnScale, HcFfnBase, FfnNorm, FfnGateInp, ExpProbsB,
    FfnGateExps, FfnUpExps, FfnDownExps, FfnGateShexp, FfnUpShexp, FfnDownShexp, FfnGateTid2eid,
    Count
};

// Tensors only the MTP file has, besides its "mtp.0." block.
enum class MtpTensor : int { EProj, HProj, ENorm, HNorm, Norm, HcHeadBase, HcHeadFn, HcHeadScale, Count };

// How a tensor is used, which decides the types dstar can compute with.
enum class TensorKind {
    Matrix,     // y = W x (any supported weight type; rows must be whole blocks)
    Experts,    // 3-D stack of expert matrices
    Embedding,  // row gather
    Vector,     // norms, biases, sinks, HC scale/base, APE: read elementwise (F32/F16/BF16)
    IdTable,    // I32 hash routing table
};

// When a layer tensor is present.
enum class Presence {
    Always,        // every block
    Compressed,    // ratio != 0
    Indexer,       // ratio == 4
    HashLayers,    // l < hash_layer_count, required there
    RouterBias,    // optional in the main file (learned-router layers use it), required in MTP
};

struct TensorSpec {
    const char *name;                          // suffix after "blk.N." / "mtp.0.", or full name
    TensorKind kind;
    Presence presence;
    std::vector<gguf::TensorType> ds4_types;   // types of the published files
    const char *hf_name;                       // official checkpoint name (after "layers.N." / "mtp.0.")
};

const TensorSpec &spec(GlobalTensor t);
const TensorSpec &spec(LayerTensor t);
const TensorSpec &spec(MtpTensor t);

// Expected GGUF dims (ne0 first).  `mtp` selects the MTP block's view of a layer
// (ratio 0, learned routing, its own types).
std::vector<uint64_t> expected_dims(GlobalTensor t, const ModelConfig &c);
std::vector<uint64_t> expected_dims(LayerTensor t, const ModelConfig &c, uint32_t layer, bool mtp);
std::vector<uint64_t> expected_dims(MtpTensor t, const ModelConfig &c);

// Whether a block tensor must / may exist in layer `layer` (mtp: the MTP block).
bool is_required(LayerTensor t, const ModelConfig &c, uint32_t layer, bool mtp);
bool is_allowed(LayerTensor t, const ModelConfig &c, uint32_t layer, bool mtp);

// Full GGUF names.
std::string tensor_name(GlobalTensor t);
std::string tensor_name(LayerTensor t, uint32_t layer);   // "blk.<layer>.<suffix>"
std::string mtp_block_tensor_name(LayerTensor t);         // "mtp.0.<suffix>"
std::string tensor_name(MtpTensor t);                     // "mtp.0.<suffix>"

// Hugging Face checkpoint names a tensor may have, in the order to try: the official DeepSeek
// name ("embed.weight", "layers.3.attn.kv_norm.weight", "layers.3.ffn.experts.7.w1.weight"),
// then the names transformers 5 saves ("model.embed_tokens.weight",
// "model.layers.3.attn.norm.weight", ...).  `expert` selects the routed expert.
std::vector<std::string> hf_names(GlobalTensor t);
std::vector<std::string> hf_names(LayerTensor t, uint32_t layer, uint32_t expert = 0);

// Types the published ds4 files use for this tensor in this context (MTP plain matrices
// may be F16 or F32).
std::vector<gguf::TensorType> ds4_types(LayerTensor t, bool mtp);

}  // namespace dstar::model
