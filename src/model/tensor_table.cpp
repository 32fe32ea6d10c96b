#include "model/tensor_table.h"

#include "common/error.h"

namespace dstar::model {

namespace {

using gguf::TensorType;
constexpr TensorType F32 = TensorType::F32, F16 = TensorType::F16, Q8_0 = TensorType::Q8_0,
                     I32 = TensorType::I32;
const std::vector<TensorType> kRouted = {TensorType::IQ2_XXS, TensorType::Q2_K, TensorType::Q4_K};

// The one table of tensor names.  Order = enum order.
const TensorSpec kGlobal[] = {
    {"token_embd.weight", TensorKind::Embedding, Presence::Always, {F16}, "embed.weight"},
    {"output_hc_base.weight", TensorKind::Vector, Presence::Always, {F32}, "hc_head_base"},
    {"output_hc_fn.weight", TensorKind::Matrix, Presence::Always, {F16}, "hc_head_fn"},
    {"output_hc_scale.weight", TensorKind::Vector, Presence::Always, {F32}, "hc_head_scale"},
    {"output_norm.weight", TensorKind::Vector, Presence::Always, {F32}, "norm.weight"},
    {"output.weight", TensorKind::Matrix, Presence::Always, {Q8_0}, "head.weight"},
};

const TensorSpec kLayer[] = {
    {"hc_attn_fn.weight", TensorKind::Matrix, Presence::Always, {F16}, "hc_attn_fn"},
    {"hc_attn_scale.weight", TensorKind::Vector, Presence::Always, {F32}, "hc_attn_scale"},
    {"hc_attn_base.weight", TensorKind::Vector, Presence::Always, {F32}, "hc_attn_base"},
    {"attn_norm.weight", TensorKind::Vector, Presence::Always, {F32}, "attn_norm.weight"},
    {"attn_q_a.weight", TensorKind::Matrix, Presence::Always, {Q8_0}, "attn.wq_a.weight"},
    {"attn_q_a_norm.weight", TensorKind::Vector, Presence::Always, {F32}, "attn.q_norm.weight"},
    {"attn_q_b.weight", TensorKind::Matrix, Presence::Always, {Q8_0}, "attn.wq_b.weight"},
    {"attn_kv.weight", TensorKind::Matrix, Presence::Always, {Q8_0}, "attn.wkv.weight"},
    {"attn_kv_a_norm.weight", TensorKind::Vector, Presence::Always, {F32}, "attn.kv_norm.weight"},
    {"attn_sinks.weight", TensorKind::Vector, Presence::Always, {F32}, "attn.attn_sink"},
    {"attn_output_a.weight", TensorKind::Matrix, Presence::Always, {Q8_0}, "attn.wo_a.weight"},
    {"attn_output_b.weight", TensorKind::Matrix, Presence::Always, {Q8_0}, "attn.wo_b.weight"},
    {"attn_compressor_ape.weight", TensorKind::Vector, Presence::Compressed, {F16}, "attn.compressor.ape"},
    {"attn_compressor_kv.weight", TensorKind::Matrix, Presence::Compressed, {F16}, "attn.compressor.wkv.weight"},
    {"attn_compressor_gate.weight", TensorKind::Matrix, Presence::Compressed, {F16},
     "attn.compressor.wgate.weight"},
    {"attn_compressor_norm.weight", TensorKind::Vector, Presence::Compressed, {F32},
     "attn.compressor.norm.weight"},
    {"indexer.attn_q_b.weight", TensorKind::Matrix, Presence::Indexer, {F16}, "attn.indexer.wq_b.weight"},
    {"indexer.proj.weight", TensorKind::Matrix, Presence::Indexer, {F16}, "attn.indexer.weights_proj.weight"},
    {"indexer_compressor_ape.weight", TensorKind::Vector, Presence::Indexer, {F16},
     "attn.indexer.compressor.ape"},
    {"indexer_compressor_kv.weight", TensorKind::Matrix, Presence::Indexer, {F16},
     "attn.indexer.compressor.wkv.weight"},
    {"indexer_compressor_gate.weight", TensorKind::Matrix, Presence::Indexer, {F16},
     "attn.indexer.compressor.wgate.weight"},
    {"indexer_compressor_norm.weight", TensorKind::Vector, Presence::Indexer, {F32},
     "attn.indexer.compressor.norm.weight"},
    {"hc_ffn_fn.weight", TensorKind::Matrix, Presence::Always, {F16}, "hc_ffn_fn"},
    {"hc_ffn_scale.weight", TensorKind::Vector, Presence::Always, {F32}, "hc_ffn_scale"},
    {"hc_ffn_base.weight", TensorKind::Vector, Presence::Always, {F32}, "hc_ffn_base"},
    {"ffn_norm.weight", TensorKind::Vector, Presence::Always, {F32}, "ffn_norm.weight"},
    {"ffn_gate_inp.weight", TensorKind::Matrix, Presence::Always, {F16}, "ffn.gate.weight"},
    {"exp_probs_b.bias", TensorKind::Vector, Presence::RouterBias, {F32}, "ffn.gate.bias"},
    {"ffn_gate_exps.weight", TensorKind::Experts, Presence::Always, kRouted, "ffn.experts.{E}.w1.weight"},
    {"ffn_up_exps.weight", TensorKind::Experts, Presence::Always, kRouted, "ffn.experts.{E}.w3.weight"},
    {"ffn_down_exps.weight", TensorKind::Experts, Presence::Always, kRouted, "ffn.experts.{E}.w2.weight"},
    {"ffn_gate_shexp.weight", TensorKind::Matrix, Presence::Always, {Q8_0}, "ffn.shared_experts.w1.weight"},
    {"ffn_up_shexp.weight", TensorKind::Matrix, Presence::Always, {Q8_0}, "ffn.shared_experts.w3.weight"},
    {"ffn_down_shexp.weight", TensorKind::Matrix, Presence::Always, {Q8_0}, "ffn.shared_experts.w2.weight"},
    {"ffn_gate_tid2eid.weight", TensorKind::IdTable, Presence::HashLayers, {I32}, "ffn.gate.tid2eid"},
};

const TensorSpec kMtp[] = {
    {"e_proj.weight", TensorKind::Matrix, Presence::Always, {Q8_0}, "e_proj.weight"},
    {"h_proj.weight", TensorKind::Matrix, Presence::Always, {Q8_0}, "h_proj.weight"},
    {"enorm.weight", TensorKind::Vector, Presence::Always, {F32}, "enorm.weight"},
    {"hnorm.weight", TensorKind::Vector, Presence::Always, {F32}, "hnorm.weight"},
    {"norm.weight", TensorKind::Vector, Presence::Always, {F32}, "norm.weight"},
    {"hc_head_base.weight", TensorKind::Vector, Presence::Always, {F32}, "hc_head_base"},
    {"hc_head_fn.weight", TensorKind::Matrix, Presence::Always, {F16, F32}, "hc_head_fn"},
    {"hc_head_scale.weight", TensorKind::Vector, Presence::Always, {F32}, "hc_head_scale"},
};

static_assert(sizeof(kGlobal) / sizeof(kGlobal[0]) == static_cast<size_t>(GlobalTensor::Count));
static_assert(sizeof(kLayer) / sizeof(kLayer[0]) == static_cast<size_t>(LayerTensor::Count));
static_assert(sizeof(kMtp) / sizeof(kMtp[0]) == static_cast<size_t>(MtpTensor::Count));

}  // namespace

const TensorSpec &spec(GlobalTensor t) { return kGlobal[static_cast<int>(t)]; }
const TensorSpec &spec(LayerTensor t) { return kLayer[static_cast<int>(t)]; }
const TensorSpec &spec(MtpTensor t) { return kMtp[static_cast<int>(t)]; }

std::string tensor_name(GlobalTensor t) { return spec(t).name; }
std::string tensor_name(LayerTensor t, uint32_t layer) { return "blk." + std::to_string(layer) + "." + spec(t).name; }
std::string mtp_block_tensor_name(LayerTensor t) { return std::string("mtp.0.") + spec(t).name; }
std::string tensor_name(MtpTensor t) { return std::string("mtp.0.") + spec(t).name; }

namespace {

// Names transformers 5 uses where they differ from the official checkpoint's (after the
// "model." prefix it adds to everything but the LM head).
const std::pair<const char *, const char *> kTransformersAliases[] = {
    {"embed.weight", "embed_tokens.weight"},
    {"hc_head_base", "hc_head.hc_base"},
    {"hc_head_fn", "hc_head.hc_fn"},
    {"hc_head_scale", "hc_head.hc_scale"},
    {"attn.kv_norm.weight", "attn.norm.weight"},
};

std::string transformers_suffix(const std::string &official) {
    for (const auto &[from, to] : kTransformersAliases)
        if (official == from) return to;
    return official;
}

}  // namespace

std::vector<std::string> hf_names(GlobalTensor t) {
    const std::string official = spec(t).hf_name;
    if (t == GlobalTensor::Output) return {official};  // "head.weight" in both
    return {official, "model." + transformers_suffix(official)};
}

std::vector<std::string> hf_names(LayerTensor t, uint32_t layer, uint32_t expert) {
    std::string suffix = spec(t).hf_name;
    const size_t e = suffix.find("{E}");
    if (e != std::string::npos) suffix.replace(e, 3, std::to_string(expert));
    const std::string prefix = "layers." + std::to_string(layer) + ".";
    return {prefix + suffix, "model." + prefix + transformers_suffix(suffix)};
}

std::vector<TensorType> ds4_types(LayerTensor t, bool mtp) {
    // The MTP file may store its plain HC / router matrices as F16 or F32 (model.md §2.7).
    if (mtp && (t == LayerTensor::HcAttnFn || t == LayerTensor::HcFfnFn || t == LayerTensor::FfnGateInp))
        return {F16, F32};
    return spec(t).ds4_types;
}

std::vector<uint64_t> expected_dims(GlobalTensor t, const ModelConfig &c) {
    switch (t) {
    case GlobalTensor::TokenEmbd: return {c.n_embd, c.n_vocab};
    case GlobalTensor::OutputHcBase: return {c.n_hc};
    case GlobalTensor::OutputHcFn: return {c.hc_dim(), c.n_hc};
    case GlobalTensor::OutputHcScale: return {1};
    case GlobalTensor::OutputNorm: return {c.n_embd};
    case GlobalTensor::Output: return {c.n_embd, c.n_vocab};
    case GlobalTensor::Count: break;
    }
    fail("expected_dims: bad global tensor");
}

std::vector<uint64_t> expected_dims(LayerTensor t, const ModelConfig &c, uint32_t layer, bool mtp) {
    const uint32_t ratio = mtp ? 0 : c.ratio(layer);
    const uint64_t cw = static_cast<uint64_t>(ratio == 4 ? 2 : 1) * c.head_dim;  // compressor width
    const uint64_t iw = 2ull * c.idx_head_dim;                                     // indexer compressor width
    using L = LayerTensor;
    switch (t) {
    case L::HcAttnFn: case L::HcFfnFn: return {c.hc_dim(), c.hc_mix()};
    case L::HcAttnScale: case L::HcFfnScale: return {3};
    case L::HcAttnBase: case L::HcFfnBase: return {c.hc_mix()};
    case L::AttnNorm: case L::FfnNorm: return {c.n_embd};
    case L::AttnQA: return {c.n_embd, c.q_lora};
    case L::AttnQANorm: return {c.q_lora};
    case L::AttnQB: return {c.q_lora, c.q_dim()};
    case L::AttnKv: return {c.n_embd, c.head_dim};
    case L::AttnKvANorm: return {c.head_dim};
    case L::AttnSinks: return {c.n_head};
    case L::AttnOutputA: return {c.group_dim(), c.out_low_dim()};
    case L::AttnOutputB: return {c.out_low_dim(), c.n_embd};
    case L::AttnCompressorApe: return {cw, ratio};
    case L::AttnCompressorKv: case L::AttnCompressorGate: return {c.n_embd, cw};
    case L::AttnCompressorNorm: return {c.head_dim};
    case L::IndexerAttnQB: return {c.q_lora, c.idx_q_dim()};
    case L::IndexerProj: return {c.n_embd, c.idx_head};
    case L::IndexerCompressorApe: return {iw, ratio};
    case L::IndexerCompressorKv: case L::IndexerCompressorGate: return {c.n_embd, iw};
    case L::IndexerCompressorNorm: return {c.idx_head_dim};
    case L::FfnGateInp: return {c.n_embd, c.n_expert};
    case L::ExpProbsB: return {c.n_expert};
    case L::FfnGateExps: case L::FfnUpExps: return {c.n_embd, c.expert_ff, c.n_expert};
    case L::FfnDownExps: return {c.expert_ff, c.n_embd, c.n_expert};
    case L::FfnGateShexp: case L::FfnUpShexp: return {c.n_embd, c.expert_ff};
    case L::FfnDownShexp: return {c.expert_ff, c.n_embd};
    case L::FfnGateTid2eid: return {c.n_expert_used, c.n_vocab};
    case L::Count: break;
    }
    fail("expected_dims: bad layer tensor");
}

std::vector<uint64_t> expected_dims(MtpTensor t, const ModelConfig &c) {
    switch (t) {
    case MtpTensor::EProj: case MtpTensor::HProj: return {c.n_embd, c.n_embd};
    case MtpTensor::ENorm: case MtpTensor::HNorm: case MtpTensor::Norm: return {c.n_embd};
    case MtpTensor::HcHeadBase: return {c.n_hc};
    case MtpTensor::HcHeadFn: return {c.hc_dim(), c.n_hc};
    case MtpTensor::HcHeadScale: return {1};
    case MtpTensor::Count: break;
    }
    fail("expected_dims: bad mtp tensor");
}

bool is_required(LayerTensor t, const ModelConfig &c, uint32_t layer, bool mtp) {
    const uint32_t ratio = mtp ? 0 : c.ratio(layer);
    switch (spec(t).presence) {
    case Presence::Always: return true;
    case Presence::Compressed: return ratio != 0;
    case Presence::Indexer: return ratio == 4;
    case Presence::HashLayers: return !mtp && c.is_hash_layer(layer);
    case Presence::RouterBias: return mtp;
    }
    return false;
}

bool is_allowed(LayerTensor t, const ModelConfig &c, uint32_t layer, bool mtp) {
    if (spec(t).presence == Presence::RouterBias) return true;  // ignored where unused
    return is_required(t, c, layer, mtp);
}

}  // namespace dstar::model
