#include "model/config.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "common/error.h"
#include "gguf/reader.h"
#include "model/shape.h"

namespace dstar::model {

namespace {

using gguf::Value;
using gguf::ValueType;

const std::string kArch = "deepseek4.";

const Value &require(const gguf::Reader &r, const std::string &key) {
    const Value *v = r.find(key);
    if (!v) fail("%s: missing metadata key '%s'", r.path().c_str(), key.c_str());
    return *v;
}

uint32_t get_u32(const gguf::Reader &r, const std::string &key) {
    const Value &v = require(r, kArch + key);
    if (v.type != ValueType::U32)
        fail("%s: metadata '%s%s' must be u32, found %s", r.path().c_str(), kArch.c_str(), key.c_str(),
             gguf::value_type_name(v.type));
    return static_cast<uint32_t>(v.u);
}

// Optional u32 (ds4: absent or of another type counts as the default).
uint32_t get_u32_or(const gguf::Reader &r, const std::string &key, uint32_t def) {
    const Value *v = r.find(kArch + key);
    return v && v->type == ValueType::U32 ? static_cast<uint32_t>(v->u) : def;
}

// Float keys accept f32, f64, u32 or i32 (as ds4 does).
float get_number(const gguf::Reader &r, const std::string &key) {
    const Value &v = require(r, kArch + key);
    if (v.type != ValueType::F32 && v.type != ValueType::F64 && v.type != ValueType::U32 &&
        v.type != ValueType::I32)
        fail("%s: metadata '%s%s' must be a number (f32, f64, u32 or i32), found %s", r.path().c_str(),
             kArch.c_str(), key.c_str(), gguf::value_type_name(v.type));
    return static_cast<float>(*v.as_number());
}

uint64_t get_u32_or_u64(const gguf::Reader &r, const std::string &key) {
    const Value &v = require(r, kArch + key);
    if (v.type != ValueType::U32 && v.type != ValueType::U64)
        fail("%s: metadata '%s%s' must be u32 or u64, found %s", r.path().c_str(), kArch.c_str(), key.c_str(),
             gguf::value_type_name(v.type));
    return v.u;
}

}  // namespace

bool ModelConfig::has_indexer(uint32_t l) const { return compress_ratio[l] == limits::kOverlapRatio; }

uint32_t ModelConfig::compressor_coff(uint32_t l) const {
    return compress_ratio[l] == limits::kOverlapRatio ? 2u : 1u;
}

ModelConfig ModelConfig::from_gguf(const gguf::Reader &r) {
    ModelConfig c;
    c.n_layer = get_u32(r, "block_count");
    c.n_embd = get_u32(r, "embedding_length");
    c.n_vocab = get_u32(r, "vocab_size");
    c.n_head = get_u32(r, "attention.head_count");
    c.n_head_kv = get_u32(r, "attention.head_count_kv");
    c.head_dim = get_u32(r, "attention.key_length");
    const uint32_t value_length = get_u32(r, "attention.value_length");
    c.n_rot = get_u32(r, "rope.dimension_count");
    c.q_lora = get_u32(r, "attention.q_lora_rank");
    c.out_lora = get_u32(r, "attention.output_lora_rank");
    c.n_out_group = get_u32(r, "attention.output_group_count");
    c.n_expert = get_u32(r, "expert_count");
    c.n_expert_used = get_u32(r, "expert_used_count");
    c.expert_ff = get_u32(r, "expert_feed_forward_length");
    c.n_expert_shared = get_u32(r, "expert_shared_count");
    c.n_hash_layer = get_u32(r, "hash_layer_count");
    c.window = get_u32(r, "attention.sliding_window");
    c.idx_head = get_u32(r, "attention.indexer.head_count");
    c.idx_head_dim = get_u32(r, "attention.indexer.key_length");
    c.idx_top_k = get_u32(r, "attention.indexer.top_k");
    c.n_hc = get_u32(r, "hyper_connection.count");
    c.sinkhorn_iters = get_u32(r, "hyper_connection.sinkhorn_iterations");
    c.rope_orig_ctx = get_u32_or_u64(r, "rope.scaling.original_context_length");
    c.rope_base = get_number(r, "rope.freq_base");
    c.rope_scale = get_number(r, "rope.scaling.factor");
    c.yarn_beta_fast = get_number(r, "rope.scaling.yarn_beta_fast");
    c.yarn_beta_slow = get_number(r, "rope.scaling.yarn_beta_slow");
    c.compress_rope_base = get_number(r, "attention.compress_rope_freq_base");
    c.expert_weights_scale = get_number(r, "expert_weights_scale");
    c.rms_eps = get_number(r, "attention.layer_norm_rms_epsilon");
    c.hc_eps = get_number(r, "hyper_connection.epsilon");

    const std::string path = r.path();
    if (value_length != c.head_dim)
        fail("%s: attention.value_length (%u) must equal attention.key_length (%u): keys and values share one row",
             path.c_str(), value_length, c.head_dim);
    if (get_u32_or(r, "expert_group_count", 0) != 0 || get_u32_or(r, "expert_group_used_count", 0) != 0)
        fail("%s: expert groups (deepseek4.expert_group_count) are not supported by this model", path.c_str());

    const Value &norm = require(r, kArch + "expert_weights_norm");
    if (norm.type != ValueType::BOOL) fail("%s: deepseek4.expert_weights_norm must be a bool", path.c_str());
    if (!norm.u) fail("%s: deepseek4.expert_weights_norm is false; only normalised router weights are supported",
                      path.c_str());

    // Per-layer arrays (length >= block_count; extra entries, e.g. for the MTP layer, ignored).
    const Value &ratios = require(r, kArch + "attention.compress_ratios");
    if (ratios.type != ValueType::ARRAY ||
        (ratios.elem_type != ValueType::U32 && ratios.elem_type != ValueType::I32))
        fail("%s: deepseek4.attention.compress_ratios must be an array of u32 or i32", path.c_str());
    if (ratios.items.size() < c.n_layer)
        fail("%s: deepseek4.attention.compress_ratios has %zu entries, need %u (block_count)", path.c_str(),
             ratios.items.size(), c.n_layer);
    for (uint32_t l = 0; l < c.n_layer; l++) {
        const auto v = ratios.items[l].as_int();
        if (!v || *v < 0 || *v > 65536)
            fail("%s: deepseek4.attention.compress_ratios[%u] is out of range", path.c_str(), l);
        c.compress_ratio.push_back(static_cast<uint32_t>(*v));
    }
    const Value &clamps = require(r, kArch + "swiglu_clamp_exp");
    if (clamps.type != ValueType::ARRAY ||
        (clamps.elem_type != ValueType::F32 && clamps.elem_type != ValueType::F64))
        fail("%s: deepseek4.swiglu_clamp_exp must be an array of f32 or f64", path.c_str());
    if (clamps.items.size() < c.n_layer)
        fail("%s: deepseek4.swiglu_clamp_exp has %zu entries, need %u", path.c_str(), clamps.items.size(),
             c.n_layer);
    for (uint32_t l = 0; l < c.n_layer; l++) c.swiglu_clamp.push_back(static_cast<float>(clamps.items[l].f));

    if (const Value *ctx = r.find(kArch + "context_length"); ctx && ctx->is_int())
        c.context_length = static_cast<uint64_t>(*ctx->as_int());
    if (const Value *n = r.find("general.name"); n && n->type == ValueType::STRING) c.name = n->str;

    try {
        c.validate();
    } catch (const Error &e) {
        fail("%s: %s", path.c_str(), e.what());
    }
    return c;
}

void ModelConfig::validate() const {
    auto check = [](bool ok, const char *what) {
        if (!ok) fail("invalid model metadata: %s", what);
    };
    check(n_layer >= 1 && n_layer <= limits::kMaxLayers, "block_count must be in 1..256");
    check(n_embd >= 32 && n_embd <= limits::kMaxEmbd && n_embd % 32 == 0,
          "embedding_length must be a multiple of 32 in 32..65536");
    check(n_vocab >= 8 && n_vocab <= limits::kMaxVocab, "vocab_size out of range");
    check(n_head >= 1 && n_head <= limits::kMaxHeads, "attention.head_count out of range");
    check(n_head_kv == 1, "attention.head_count_kv must be 1 (one shared latent KV row)");
    check(n_rot >= 2 && n_rot % 2 == 0 && n_rot < head_dim, "rope.dimension_count must be even and < key_length");
    check(q_lora >= 1 && q_lora <= limits::kMaxEmbd, "attention.q_lora_rank out of range");
    check(n_out_group >= 1 && n_head % n_out_group == 0, "attention.output_group_count must divide head_count");
    check(out_lora >= 1 && out_lora <= limits::kMaxEmbd, "attention.output_lora_rank out of range");
    check(n_expert >= 1 && n_expert <= limits::kMaxExperts, "expert_count out of range");
    check(n_expert_used >= 1 && n_expert_used <= n_expert && n_expert_used <= limits::kMaxExpertsUsed,
          "expert_used_count must be in 1..min(expert_count, 64)");
    check(n_expert_shared == 1, "expert_shared_count must be 1");
    check(expert_ff >= 1 && expert_ff <= limits::kMaxEmbd * 4, "expert_feed_forward_length out of range");
    check(n_hash_layer <= n_layer, "hash_layer_count exceeds block_count");
    check(window >= 1 && window <= 65536, "attention.sliding_window out of range");
    check(n_hc >= 1 && n_hc <= limits::kMaxHc, "hyper_connection.count must be in 1..16");
    check(sinkhorn_iters >= 1 && sinkhorn_iters <= 1000, "hyper_connection.sinkhorn_iterations out of range");
    check(compress_ratio.size() >= n_layer && swiglu_clamp.size() >= n_layer, "per-layer arrays too short");
    bool any_indexer = false;
    for (uint32_t l = 0; l < n_layer; l++) {
        check(compress_ratio[l] == 0 || compress_ratio[l] >= 2, "compress ratios must be 0 or >= 2");
        any_indexer |= compress_ratio[l] == limits::kOverlapRatio;
        check(std::isfinite(swiglu_clamp[l]) && swiglu_clamp[l] >= 0, "swiglu_clamp_exp must be finite and >= 0");
    }
    if (any_indexer) {
        check(idx_head >= 1 && idx_head <= limits::kMaxHeads, "attention.indexer.head_count out of range");
        check(idx_head_dim >= n_rot && idx_head_dim % 2 == 0,
              "indexer key_length must be even and at least rope.dimension_count");
        check(idx_top_k >= 1, "attention.indexer.top_k must be >= 1");
    }
    check(rope_base > 0 && compress_rope_base > 0 && rope_scale > 0, "rope bases and scale must be positive");
    check(rope_orig_ctx >= 1, "rope.scaling.original_context_length must be >= 1");
    check(yarn_beta_fast > 0 && yarn_beta_slow > 0, "yarn betas must be positive");
    check(std::isfinite(expert_weights_scale), "expert_weights_scale must be finite");
    check(rms_eps > 0 && rms_eps < 1 && hc_eps >= 0 && hc_eps < 1, "epsilons out of range");
}

ModelConfig ModelConfig::flash() {
    namespace f = flash;
    ModelConfig c;
    c.n_layer = f::kLayers;
    c.n_embd = f::kEmbd;
    c.n_vocab = f::kVocab;
    c.n_head = f::kHeads;
    c.n_head_kv = f::kHeadsKv;
    c.head_dim = f::kHeadDim;
    c.n_rot = f::kRot;
    c.q_lora = f::kQLora;
    c.n_out_group = f::kOutGroups;
    c.out_lora = f::kOutLora;
    c.n_expert = f::kExperts;
    c.n_expert_used = f::kExpertsUsed;
    c.n_expert_shared = f::kExpertsShared;
    c.expert_ff = f::kExpertFf;
    c.n_hash_layer = f::kHashLayers;
    c.window = f::kWindow;
    c.idx_head = f::kIdxHeads;
    c.idx_head_dim = f::kIdxHeadDim;
    c.idx_top_k = f::kIdxTopK;
    c.n_hc = f::kHc;
    c.sinkhorn_iters = f::kSinkhornIters;
    for (uint32_t l = 0; l < f::kLayers; l++) {
        c.compress_ratio.push_back(f::compress_ratio(l));
        c.swiglu_clamp.push_back(f::kSwigluClamp);
    }
    c.rope_base = f::kRopeBase;
    c.compress_rope_base = f::kCompressRopeBase;
    c.rope_scale = f::kRopeScale;
    c.rope_orig_ctx = f::kRopeOrigCtx;
    c.yarn_beta_fast = f::kYarnBetaFast;
    c.yarn_beta_slow = f::kYarnBetaSlow;
    c.expert_weights_scale = f::kExpertWeightsScale;
    c.rms_eps = f::kRmsEps;
    c.hc_eps = f::kHcEps;
    c.context_length = f::kContextLength;
    c.name = "DeepSeek-V4-Flash";
    return c;
}

std::string ModelConfig::qat_problem() const {
    if ((head_dim - n_rot) % limits::kFp8Block != 0)
        return strformat("key_length - rope.dimension_count = %u is not a multiple of %u (FP8 KV blocks)",
                         head_dim - n_rot, limits::kFp8Block);
    for (uint32_t l = 0; l < n_layer; l++)
        if (has_indexer(l) && idx_head_dim != limits::kHadamardDim)
            return strformat("indexer key_length %u is not %u (Hadamard + FP4 indexer)", idx_head_dim,
                             limits::kHadamardDim);
    return {};
}

bool ModelConfig::is_flash_shape() const {
    const ModelConfig f = flash();
    return n_layer == f.n_layer && n_embd == f.n_embd && n_vocab == f.n_vocab && n_head == f.n_head &&
           head_dim == f.head_dim && n_rot == f.n_rot && q_lora == f.q_lora && n_out_group == f.n_out_group &&
           out_lora == f.out_lora && n_expert == f.n_expert && n_expert_used == f.n_expert_used &&
           expert_ff == f.expert_ff && n_hash_layer == f.n_hash_layer && window == f.window &&
           idx_head == f.idx_head && idx_head_dim == f.idx_head_dim && idx_top_k == f.idx_top_k &&
           n_hc == f.n_hc && sinkhorn_iters == f.sinkhorn_iters &&
           std::equal(f.compress_ratio.begin(), f.compress_ratio.end(), compress_ratio.begin());
}

std::string ModelConfig::summary() const {
    std::ostringstream o;
    o << n_layer << " layers, embd " << n_embd << ", vocab " << n_vocab << ", " << n_head << " heads x "
      << head_dim << " (rope " << n_rot << "), q_lora " << q_lora << ", out " << n_out_group << "x" << out_lora
      << ", experts " << n_expert << " (" << n_expert_used << " used, ff " << expert_ff << "), hash layers "
      << n_hash_layer << ", window " << window << ", indexer " << idx_head << "x" << idx_head_dim << " top-"
      << idx_top_k << ", hc " << n_hc;
    return o.str();
}

}  // namespace dstar::model
