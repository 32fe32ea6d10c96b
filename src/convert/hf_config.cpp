#include "convert/hf_config.h"

#include <optional>

#include <cmath>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/mapped_file.h"
#include "model/shape.h"

namespace dstar::convert {

namespace {

using nlohmann::json;

class Keys {
public:
    Keys(const json &j, const std::string &what) : j_(j), what_(what) {}

    bool has(const char *k) const { return j_.contains(k) && !j_.at(k).is_null(); }
    const json &at(const char *k) const { return j_.at(k); }

    uint32_t u32(const char *k, std::optional<uint32_t> def = std::nullopt) const {
        if (!has(k)) {
            if (def) return *def;
            fail("%s: missing key '%s'", what_.c_str(), k);
        }
        const json &v = j_.at(k);
        if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > UINT32_MAX)
            fail("%s: '%s' must be a non-negative integer", what_.c_str(), k);
        return v.get<uint32_t>();
    }
    double num(const char *k, std::optional<double> def = std::nullopt) const { return num_in(j_, k, def); }
    double num_in(const json &obj, const char *k, std::optional<double> def) const {
        if (!obj.contains(k) || obj.at(k).is_null()) {
            if (def) return *def;
            fail("%s: missing key '%s'", what_.c_str(), k);
        }
        if (!obj.at(k).is_number()) fail("%s: '%s' must be a number", what_.c_str(), k);
        return obj.at(k).get<double>();
    }
    std::string str(const char *k, const std::string &def) const {
        if (!has(k)) return def;
        if (!j_.at(k).is_string()) fail("%s: '%s' must be a string", what_.c_str(), k);
        return j_.at(k).get<std::string>();
    }
    const std::string &what() const { return what_; }

private:
    const json &j_;
    std::string what_;
};

// The YaRN parameters of the compressed layers' rope, from either key family.
void read_rope(const Keys &k, const json &j, model::ModelConfig &c) {
    const json *main = nullptr, *compress = nullptr, *scaling = nullptr;
    if (j.contains("rope_parameters") && j.at("rope_parameters").is_object()) {
        const json &rp = j.at("rope_parameters");
        if (rp.contains("main") && rp.at("main").is_object()) main = &rp.at("main");
        if (rp.contains("compress") && rp.at("compress").is_object()) compress = &rp.at("compress");
        if (!main && !compress) scaling = &rp;  // flat form: the scaling parameters themselves
    }
    if (!scaling && j.contains("rope_scaling") && j.at("rope_scaling").is_object()) scaling = &j.at("rope_scaling");
    c.rope_base = static_cast<float>(main ? k.num_in(*main, "rope_theta", k.num("rope_theta", 10000.0))
                                          : k.num("rope_theta", 10000.0));
    c.compress_rope_base = static_cast<float>(compress ? k.num_in(*compress, "rope_theta", k.num("compress_rope_theta", 160000.0))
                                                       : k.num("compress_rope_theta", 160000.0));
    const json *yarn = compress ? compress : scaling;
    std::string type = "default";
    if (yarn) {
        if (yarn->contains("rope_type") && yarn->at("rope_type").is_string()) type = yarn->at("rope_type");
        else if (yarn->contains("type") && yarn->at("type").is_string()) type = yarn->at("type");
    }
    if (type == "yarn") {
        c.rope_scale = static_cast<float>(k.num_in(*yarn, "factor", std::nullopt));
        c.rope_orig_ctx = static_cast<uint64_t>(k.num_in(*yarn, "original_max_position_embeddings", 65536.0));
        c.yarn_beta_fast = static_cast<float>(k.num_in(*yarn, "beta_fast", 32.0));
        c.yarn_beta_slow = static_cast<float>(k.num_in(*yarn, "beta_slow", 1.0));
        // DeepSeek V4 applies no YaRN magnitude factor (transformers forces attention_factor 1).
        for (const char *m : {"attention_factor", "mscale", "mscale_all_dim"}) {
            if (yarn->contains(m) && yarn->at(m).is_number() && std::fabs(yarn->at(m).get<double>() - 1.0) > 1e-6 &&
                !(std::string(m) != "attention_factor" && yarn->at(m).get<double>() == 0.0))
                fail("%s: rope %s = %g is not supported (DeepSeek V4 uses no YaRN magnitude scaling)", k.what().c_str(),
                     m, yarn->at(m).get<double>());
        }
    } else if (type == "default" || type == "none") {
        c.rope_scale = 1.0f;  // plain RoPE on the compressed layers too
        c.rope_orig_ctx = c.context_length;
        c.yarn_beta_fast = 32.0f;
        c.yarn_beta_slow = 1.0f;
    } else {
        fail("%s: rope type '%s' is not supported (default or yarn)", k.what().c_str(), type.c_str());
    }
}

uint32_t ratio_of_layer_type(const std::string &t, const json &rates, const std::string &what) {
    if (t == "sliding_attention") return 0;
    auto rate = [&](const char *key, uint32_t def) {
        return rates.is_object() && rates.contains(key) ? rates.at(key).get<uint32_t>() : def;
    };
    if (t == "compressed_sparse_attention") return rate("compressed_sparse_attention", 4);
    if (t == "heavily_compressed_attention") return rate("heavily_compressed_attention", 128);
    fail("%s: unknown layer type '%s'", what.c_str(), t.c_str());
}

}  // namespace

model::ModelConfig config_from_hf(const json &j, const std::string &what) {
    if (!j.is_object()) fail("%s: not a JSON object", what.c_str());
    const Keys k(j, what);
    model::ModelConfig c;
    const std::string mt = k.str("model_type", "deepseek_v4");
    if (mt != "deepseek_v4") fail("%s: model_type is '%s', expected deepseek_v4", what.c_str(), mt.c_str());
    c.n_layer = k.u32("num_hidden_layers");
    c.n_embd = k.u32("hidden_size");
    c.n_vocab = k.u32("vocab_size");
    c.n_head = k.u32("num_attention_heads");
    c.n_head_kv = k.u32("num_key_value_heads", 1);
    c.head_dim = k.u32("head_dim", 512);
    if (k.has("qk_rope_head_dim")) {
        c.n_rot = k.u32("qk_rope_head_dim");
    } else {
        double prf = k.num("partial_rotary_factor", 64.0 / 512.0);
        if (j.contains("rope_parameters") && j["rope_parameters"].is_object() && j["rope_parameters"].contains("main") &&
            j["rope_parameters"]["main"].is_object() && j["rope_parameters"]["main"].contains("partial_rotary_factor"))
            prf = j["rope_parameters"]["main"]["partial_rotary_factor"].get<double>();
        c.n_rot = static_cast<uint32_t>(c.head_dim * prf);
    }
    c.q_lora = k.u32("q_lora_rank", 1024);
    c.n_out_group = k.u32("o_groups", 8);
    c.out_lora = k.u32("o_lora_rank", 1024);
    c.n_expert = k.u32("n_routed_experts", 256);
    c.n_expert_used = k.u32("num_experts_per_tok", 6);
    c.n_expert_shared = k.u32("n_shared_experts", 1);
    c.expert_ff = k.u32("moe_intermediate_size", 2048);
    c.window = k.u32("sliding_window", 128);
    c.idx_head = k.u32("index_n_heads", 64);
    c.idx_head_dim = k.u32("index_head_dim", 128);
    c.idx_top_k = k.u32("index_topk", 512);
    c.n_hc = k.u32("hc_mult", 4);
    c.sinkhorn_iters = k.u32("hc_sinkhorn_iters", 20);
    c.expert_weights_scale = static_cast<float>(k.num("routed_scaling_factor", 1.5));
    c.rms_eps = static_cast<float>(k.num("rms_norm_eps", 1e-6));
    c.hc_eps = static_cast<float>(k.num("hc_eps", 1e-6));
    c.context_length = k.u32("max_position_embeddings", 1048576);
    const float clamp = static_cast<float>(k.num("swiglu_limit", 10.0));

    const std::string scoring = k.str("scoring_func", "sqrtsoftplus");
    if (scoring != "sqrtsoftplus")
        fail("%s: scoring_func '%s' is not supported (DeepSeek V4 uses sqrtsoftplus)", what.c_str(), scoring.c_str());
    if (k.has("norm_topk_prob") && !j.at("norm_topk_prob").get<bool>())
        fail("%s: norm_topk_prob false is not supported", what.c_str());
    const std::string act = k.str("hidden_act", "silu");
    if (act != "silu") fail("%s: hidden_act '%s' is not supported (silu)", what.c_str(), act.c_str());

    // Per-layer attention kind: explicit layer_types, else the legacy per-layer
    // compress_ratios, else transformers' default (two heavily compressed layers, then
    // alternating heavily compressed / compressed-sparse).
    const json rates = j.contains("compress_rates") ? j.at("compress_rates") : json();
    if (k.has("layer_types")) {
        const json &lt = j.at("layer_types");
        if (!lt.is_array() || lt.size() < c.n_layer) fail("%s: layer_types must list %u entries", what.c_str(), c.n_layer);
        for (uint32_t l = 0; l < c.n_layer; l++) c.compress_ratio.push_back(ratio_of_layer_type(lt[l].get<std::string>(), rates, what));
    } else if (k.has("compress_ratios")) {
        const json &cr = j.at("compress_ratios");
        if (!cr.is_array() || cr.size() < c.n_layer) fail("%s: compress_ratios must list %u entries", what.c_str(), c.n_layer);
        for (uint32_t l = 0; l < c.n_layer; l++) c.compress_ratio.push_back(cr[l].get<uint32_t>());
    } else {
        for (uint32_t l = 0; l < c.n_layer; l++)
            c.compress_ratio.push_back(l < 2 || (l - 2) % 2 == 0 ? ratio_of_layer_type("heavily_compressed_attention", rates, what)
                                                                 : ratio_of_layer_type("compressed_sparse_attention", rates, what));
    }
    for (uint32_t l = 0; l < c.n_layer; l++) {
        const uint32_t r = c.compress_ratio[l];
        // dstar (like ds4) knows a compressed layer with the overlapping compressor and the
        // indexer by its ratio 4; any other non-zero ratio is a plain compressor.
        if (r == 1) fail("%s: layer %u has compression ratio 1, not supported", what.c_str(), l);
        const bool csa = k.has("layer_types") && j.at("layer_types")[l] == "compressed_sparse_attention";
        if (csa && r != model::limits::kOverlapRatio)
            fail("%s: compressed-sparse layers must use ratio 4 (found %u)", what.c_str(), r);
    }
    // Hash-routed MoE layers must be the first ones.
    if (k.has("mlp_layer_types")) {
        const json &mt2 = j.at("mlp_layer_types");
        if (!mt2.is_array() || mt2.size() < c.n_layer) fail("%s: mlp_layer_types must list %u entries", what.c_str(), c.n_layer);
        uint32_t n = 0;
        while (n < c.n_layer && mt2[n] == "hash_moe") n++;
        for (uint32_t l = n; l < c.n_layer; l++)
            if (mt2[l] != "moe") fail("%s: mlp_layer_types: hash_moe layers must come first (layer %u)", what.c_str(), l);
        c.n_hash_layer = n;
    } else {
        c.n_hash_layer = std::min(k.u32("num_hash_layers", 3), c.n_layer);
    }
    c.swiglu_clamp.assign(c.n_layer, clamp);
    read_rope(k, j, c);
    c.name = k.str("_name_or_path", "DeepSeek-V4-Flash");
    try {
        c.validate();
    } catch (const Error &e) {
        fail("%s: %s", what.c_str(), e.what());
    }
    return c;
}

model::ModelConfig config_from_hf_file(const std::string &path) {
    json j;
    try {
        j = json::parse(read_file(path));
    } catch (const json::exception &e) {
        fail("%s: invalid JSON: %s", path.c_str(), e.what());
    }
    return config_from_hf(j, path);
}

}  // namespace dstar::convert
