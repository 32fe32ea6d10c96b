// Binding of GGUF tensors to the model's weights, with full layout validation.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "gguf/types.h"
#include "model/config.h"
#include "model/tensor_table.h"

namespace dstar::gguf { class Reader; struct TensorInfo; }

namespace dstar::model {

// A weight as stored in the file: zero-copy view into the mapping.
struct WeightTensor {
    std::string name;
    gguf::TensorType type = gguf::TensorType::F32;
    std::vector<uint64_t> dims;  // ne0 first
    const uint8_t *data = nullptr;
    uint64_t n_bytes = 0;
    uint64_t row_bytes = 0;      // bytes of one ne0 row

    bool present() const { return data != nullptr; }
    uint64_t ne(size_t i) const { return i < dims.size() ? dims[i] : 1; }
    uint64_t rows() const { return n_bytes / (row_bytes ? row_bytes : 1); }  // ne1*ne2
};

struct LayerWeights {
    std::array<WeightTensor, static_cast<size_t>(LayerTensor::Count)> t;
    const WeightTensor &operator[](LayerTensor id) const { return t[static_cast<size_t>(id)]; }
    WeightTensor &operator[](LayerTensor id) { return t[static_cast<size_t>(id)]; }
};

// Which routed-expert encoding a file uses (model.md §2.5).
enum class ExpertLayout {
    Q2,     // gate/up IQ2_XXS, down Q2_K in every layer (published q2 files)
    Q4,     // gate/up/down Q4_K in every layer (published q4 files)
    Mixed,  // per-layer mix of the two (spliced files)
    Other,  // any other supported types (e.g. f16/f32 conversions)
};

// Routed-expert precision in the terms of the disk KV cache header (kvcache.md §8.1 byte 4,
// --kv-cache-reject-different-quant): 2 for encodings under 4 bits per weight (IQ2_XXS,
// Q2_K, ...), 4 for Q4_K and anything wider (Q8_0, F16 and F32 conversions too: their
// states are far closer to the 4-bit model's than to the 2-bit one's).
uint8_t routed_quant_bits(gguf::TensorType expert_type);

struct LayoutReport {
    ExpertLayout experts = ExpertLayout::Other;
    bool ds4_types = true;     // every tensor has the type the published files use
    bool flash_shape = false;  // dimensions of the published model
    std::string describe() const;  // e.g. "ds4 q2 layout (IQ2_XXS gate/up, Q2_K down), full DeepSeek V4 Flash shape"
};

struct ModelWeights {
    ModelConfig config;
    std::array<WeightTensor, static_cast<size_t>(GlobalTensor::Count)> global;
    std::vector<LayerWeights> layers;
    LayoutReport layout;

    const WeightTensor &operator[](GlobalTensor id) const { return global[static_cast<size_t>(id)]; }
};

struct MtpWeights {
    std::array<WeightTensor, static_cast<size_t>(MtpTensor::Count)> t;
    LayerWeights block;
    bool ds4_types = true;

    const WeightTensor &operator[](MtpTensor id) const { return t[static_cast<size_t>(id)]; }
};

// routed_quant_bits() of the model, taken like ds4 from layer 0's gate experts.
uint8_t routed_quant_bits(const ModelWeights &w);

// Reads the config and binds every tensor of the main model file, checking name, type and
// shape of each; throws Error naming the tensor with the expected and the found value.
// Types: the published ds4 types always load; other types load where dstar has kernels
// for them (matrices: F32/F16/BF16/Q8_0/Q2_K/Q4_K/IQ2_XXS, vectors: F32/F16/BF16).
ModelWeights bind_model(const gguf::Reader &reader);

// Binds the optional MTP file (tensors only; shapes from the main model's config).
MtpWeights bind_mtp(const gguf::Reader &reader, const ModelConfig &config);

// Element i of a small vector tensor (F32/F16/BF16) as float.
float vector_value(const WeightTensor &t, uint64_t i);
// All elements of a small vector tensor as floats.
std::vector<float> vector_values(const WeightTensor &t);

}  // namespace dstar::model
