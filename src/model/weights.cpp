#include "model/weights.h"

#include <algorithm>
#include <cstring>

#include "common/error.h"
#include "common/fp16.h"
#include "gguf/reader.h"
#include "quant/dequant.h"

namespace dstar::model {

namespace {

using gguf::TensorType;

std::string dims_string(const std::vector<uint64_t> &d) {
    std::string s = "[";
    for (size_t i = 0; i < d.size(); i++) s += (i ? ", " : "") + std::to_string(d[i]);
    return s + "]";
}

std::string types_string(const std::vector<TensorType> &ts) {
    std::string s;
    for (size_t i = 0; i < ts.size(); i++) s += (i ? (i + 1 == ts.size() ? " or " : ", ") : "") + gguf::type_name(ts[i]);
    return s;
}

// Can dstar compute with type `t` for a tensor of this kind?
bool kind_accepts(TensorKind kind, TensorType t) {
    switch (kind) {
    case TensorKind::Matrix:
    case TensorKind::Experts:
    case TensorKind::Embedding: return quant::is_supported_weight_type(t);
    case TensorKind::Vector: return t == TensorType::F32 || t == TensorType::F16 || t == TensorType::BF16;
    case TensorKind::IdTable: return t == TensorType::I32;
    }
    return false;
}

// Binds one tensor: checks type and shape.  Returns false if it is absent.
bool bind_one(const gguf::Reader &r, const std::string &name, TensorKind kind,
              const std::vector<TensorType> &ds4, const std::vector<uint64_t> &dims, WeightTensor *out,
              bool *all_ds4) {
    const gguf::TensorInfo *info = r.find_tensor(name);
    if (!info) return false;
    const bool is_ds4 = std::find(ds4.begin(), ds4.end(), info->type) != ds4.end();
    if (!is_ds4 && !kind_accepts(kind, info->type))
        fail("%s: tensor '%s': expected type %s, found %s", r.path().c_str(), name.c_str(),
             types_string(ds4).c_str(), gguf::type_name(info->type).c_str());
    if (info->dims != dims)
        fail("%s: tensor '%s': expected shape %s, found %s", r.path().c_str(), name.c_str(),
             dims_string(dims).c_str(), dims_string(info->dims).c_str());
    uint64_t row = 0;
    if (!gguf::row_bytes(info->type, dims[0], &row))
        fail("%s: tensor '%s': row of %llu elements is not a whole number of %s blocks", r.path().c_str(),
             name.c_str(), static_cast<unsigned long long>(dims[0]), gguf::type_name(info->type).c_str());
    if (!is_ds4) *all_ds4 = false;
    out->name = name;
    out->type = info->type;
    out->dims = info->dims;
    out->data = r.tensor_data(*info);
    out->n_bytes = info->n_bytes;
    out->row_bytes = row;
    return true;
}

std::string layer_kind(const ModelConfig &c, uint32_t l) {
    const uint32_t ratio = c.ratio(l);
    std::string s = ratio == 0 ? "raw-window layer" : ratio == 4 ? "ratio-4 compressed layer with indexer"
                                                                : "ratio-" + std::to_string(ratio) + " compressed layer";
    return s + (c.is_hash_layer(l) ? ", hash-routed" : ", learned router");
}

void bind_block(const gguf::Reader &r, const ModelConfig &c, uint32_t layer, bool mtp, LayerWeights *lw,
                bool *all_ds4) {
    for (int i = 0; i < static_cast<int>(LayerTensor::Count); i++) {
        const auto id = static_cast<LayerTensor>(i);
        const TensorSpec &s = spec(id);
        const std::string name = mtp ? mtp_block_tensor_name(id) : tensor_name(id, layer);
        const bool required = is_required(id, c, layer, mtp);
        const bool allowed = is_allowed(id, c, layer, mtp);
        if (!allowed) {
            if (r.find_tensor(name))
                fail("%s: tensor '%s' is present but layer %u is a %s (check deepseek4.attention.compress_ratios "
                     "and hash_layer_count)", r.path().c_str(), name.c_str(), layer, layer_kind(c, layer).c_str());
            continue;
        }
        // A router bias in a hash-routed layer is never used (ds4 ignores it too).
        if (id == LayerTensor::ExpProbsB && !mtp && c.is_hash_layer(layer)) continue;
        const bool found = bind_one(r, name, s.kind, ds4_types(id, mtp), expected_dims(id, c, layer, mtp),
                                    &(*lw)[id], all_ds4);
        if (!found && required)
            fail("%s: missing tensor '%s' (required in %s)", r.path().c_str(), name.c_str(),
                 mtp ? "the MTP block" : ("layer " + std::to_string(layer) + ", a " + layer_kind(c, layer)).c_str());
    }
    const WeightTensor &gate = (*lw)[LayerTensor::FfnGateExps];
    const WeightTensor &up = (*lw)[LayerTensor::FfnUpExps];
    if (gate.type != up.type)
        fail("%s: tensor '%s' is %s but '%s' is %s: gate and up experts must share a type", r.path().c_str(),
             gate.name.c_str(), gguf::type_name(gate.type).c_str(), up.name.c_str(), gguf::type_name(up.type).c_str());
    // Hash routing table: every entry must name a valid expert.
    const WeightTensor &tid = (*lw)[LayerTensor::FfnGateTid2eid];
    if (tid.present()) {
        const uint64_t n = tid.ne(0) * tid.ne(1);
        for (uint64_t i = 0; i < n; i++) {
            int32_t e;
            std::memcpy(&e, tid.data + 4 * i, 4);
            if (e < 0 || static_cast<uint32_t>(e) >= c.n_expert)
                fail("%s: tensor '%s': token %llu routes to expert %d, outside 0..%u", r.path().c_str(),
                     tid.name.c_str(), static_cast<unsigned long long>(i / tid.ne(0)), e, c.n_expert - 1);
        }
    }
}

ExpertLayout classify_experts(const std::vector<LayerWeights> &layers) {
    bool all_q2 = true, all_q4 = true, each_known = true;
    for (const auto &lw : layers) {
        const TensorType g = lw[LayerTensor::FfnGateExps].type, d = lw[LayerTensor::FfnDownExps].type;
        const bool q2 = g == TensorType::IQ2_XXS && d == TensorType::Q2_K;
        const bool q4 = g == TensorType::Q4_K && d == TensorType::Q4_K;
        all_q2 &= q2;
        all_q4 &= q4;
        each_known &= q2 || q4;
    }
    if (all_q2) return ExpertLayout::Q2;
    if (all_q4) return ExpertLayout::Q4;
    return each_known ? ExpertLayout::Mixed : ExpertLayout::Other;
}

}  // namespace

std::string LayoutReport::describe() const {
    std::string s;
    switch (experts) {
    case ExpertLayout::Q2: s = "ds4 q2 layout (routed gate/up IQ2_XXS, down Q2_K)"; break;
    case ExpertLayout::Q4: s = "ds4 q4 layout (routed gate/up/down Q4_K)"; break;
    case ExpertLayout::Mixed: s = "ds4 mixed layout (per-layer IQ2_XXS/Q2_K and Q4_K experts)"; break;
    case ExpertLayout::Other: s = "generic layout (routed experts in non-ds4 types)"; break;
    }
    if (!ds4_types) s += ", some tensors in non-ds4 types";
    s += flash_shape ? ", full DeepSeek V4 Flash shape" : ", reduced shape";
    return s;
}

uint8_t routed_quant_bits(TensorType expert_type) {
    const gguf::TypeInfo *t = gguf::type_info(expert_type);
    // Bits per weight = 8 * block bytes / block elements; below 4 is the 2-bit class.
    return t && 8ull * t->block_bytes < 4ull * t->block_elems ? 2 : 4;
}

uint8_t routed_quant_bits(const ModelWeights &w) {
    if (w.layers.empty()) fail("routed_quant_bits: the model has no layers");
    return routed_quant_bits(w.layers[0][LayerTensor::FfnGateExps].type);
}

ModelWeights bind_model(const gguf::Reader &r) {
    ModelWeights w;
    w.config = ModelConfig::from_gguf(r);
    const ModelConfig &c = w.config;
    bool ds4 = true;
    for (int i = 0; i < static_cast<int>(GlobalTensor::Count); i++) {
        const auto id = static_cast<GlobalTensor>(i);
        const TensorSpec &s = spec(id);
        if (!bind_one(r, s.name, s.kind, s.ds4_types, expected_dims(id, c), &w.global[i], &ds4))
            fail("%s: missing tensor '%s'", r.path().c_str(), s.name);
    }
    w.layers.resize(c.n_layer);
    for (uint32_t l = 0; l < c.n_layer; l++) bind_block(r, c, l, false, &w.layers[l], &ds4);
    w.layout.experts = classify_experts(w.layers);
    w.layout.ds4_types = ds4;
    w.layout.flash_shape = c.is_flash_shape();
    return w;
}

MtpWeights bind_mtp(const gguf::Reader &r, const ModelConfig &c) {
    MtpWeights w;
    bool ds4 = true;
    for (int i = 0; i < static_cast<int>(MtpTensor::Count); i++) {
        const auto id = static_cast<MtpTensor>(i);
        const TensorSpec &s = spec(id);
        if (!bind_one(r, tensor_name(id), s.kind, s.ds4_types, expected_dims(id, c), &w.t[i], &ds4))
            fail("%s: missing tensor '%s' (MTP file)", r.path().c_str(), tensor_name(id).c_str());
    }
    bind_block(r, c, 0, true, &w.block, &ds4);
    w.ds4_types = ds4;
    return w;
}

float vector_value(const WeightTensor &t, uint64_t i) {
    switch (t.type) {
    case TensorType::F32: {
        float v;
        std::memcpy(&v, t.data + 4 * i, 4);
        return v;
    }
    case TensorType::F16:
    case TensorType::BF16: {
        uint16_t h;
        std::memcpy(&h, t.data + 2 * i, 2);
        return t.type == TensorType::F16 ? f16_to_f32(h) : bf16_to_f32(h);
    }
    default: fail("tensor '%s': %s is not a vector type", t.name.c_str(), gguf::type_name(t.type).c_str());
    }
}

std::vector<float> vector_values(const WeightTensor &t) {
    uint64_t n = 1;
    for (uint64_t d : t.dims) n *= d;
    std::vector<float> out(n);
    for (uint64_t i = 0; i < n; i++) out[i] = vector_value(t, i);
    return out;
}

}  // namespace dstar::model
