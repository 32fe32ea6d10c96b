// dstar-gguf convert on a tiny checkpoint written by the test: official config keys, BF16
// weights, an FP8-encoded projection with E8M0 block scales, FP4-packed experts, the I64
// hash table; official and transformers tensor names; every target type.
#include "convert/converter.h"

#include <cmath>
#include <cstring>
#include <map>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <random>

#include "common/fp16.h"
#include "convert/hf_config.h"
#include "convert/hf_dtypes.h"
#include "convert/st_test_util.h"
#include "engine/engine.h"
#include "engine/session.h"
#include "gguf/reader.h"
#include "model/tensor_table.h"
#include "model/weights.h"
#include "quant/dequant.h"

namespace dstar::convert {
namespace {

using model::GlobalTensor;
using model::LayerTensor;
using test::ScratchDir;

// The model: 4 layers in the Flash pattern (raw, raw, ratio 4 with indexer, ratio 16), hash
// routing in the first 3, widths chosen so FP8 blocks are partial (64 < 128).
nlohmann::json config_json() {
    return {{"architectures", {"DeepseekV4ForCausalLM"}},
            {"model_type", "deepseek_v4"},
            {"vocab_size", 512},
            {"hidden_size", 64},
            {"num_hidden_layers", 4},
            {"num_attention_heads", 4},
            {"num_key_value_heads", 1},
            {"head_dim", 64},
            {"qk_rope_head_dim", 16},
            {"q_lora_rank", 32},
            {"o_groups", 2},
            {"o_lora_rank", 16},
            {"n_routed_experts", 4},
            {"num_experts_per_tok", 2},
            {"n_shared_experts", 1},
            {"moe_intermediate_size", 32},
            {"num_hash_layers", 3},
            {"compress_ratios", {0, 0, 4, 16, 0}},  // legacy form; the 5th is the MTP layer
            {"sliding_window", 8},
            {"index_n_heads", 2},
            {"index_head_dim", 16},
            {"index_topk", 2},
            {"hc_mult", 2},
            {"hc_sinkhorn_iters", 20},
            {"hc_eps", 1e-6},
            {"rms_norm_eps", 1e-6},
            {"routed_scaling_factor", 1.5},
            {"swiglu_limit", 10.0},
            {"rope_theta", 10000.0},
            {"compress_rope_theta", 160000.0},
            {"rope_scaling", {{"type", "yarn"}, {"factor", 16}, {"original_max_position_embeddings", 65536},
                              {"beta_fast", 32}, {"beta_slow", 1}}},
            {"max_position_embeddings", 1048576},
            {"scoring_func", "sqrtsoftplus"},
            {"hidden_act", "silu"}};
}

// Byte-level vocabulary with the DeepSeek V4 specials, padded to 512 (like hf-ref's).
nlohmann::json tokenizer_json() {
    std::vector<int> bs;
    for (int b = '!'; b <= '~'; b++) bs.push_back(b);
    for (int b = 0xA1; b <= 0xAC; b++) bs.push_back(b);
    for (int b = 0xAE; b <= 0xFF; b++) bs.push_back(b);
    std::vector<int> cs = bs;
    for (int b = 0, n = 0; b < 256; b++)
        if (std::find(bs.begin(), bs.end(), b) == bs.end()) {
            bs.push_back(b);
            cs.push_back(256 + n++);
        }
    nlohmann::json vocab = nlohmann::json::object();
    auto utf8 = [](int cp) {
        std::string s;
        if (cp < 0x80) s += static_cast<char>(cp);
        else {
            s += static_cast<char>(0xC0 | (cp >> 6));
            s += static_cast<char>(0x80 | (cp & 0x3F));
        }
        return s;
    };
    for (size_t i = 0; i < cs.size(); i++) vocab[utf8(cs[i])] = i;
    const char *specials[] = {"<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>",
                              "<think>", "</think>", "｜DSML｜"};
    nlohmann::json added = nlohmann::json::array();
    for (int i = 0; i < 7; i++) {
        vocab[specials[i]] = 256 + i;
        added.push_back({{"id", 256 + i}, {"content", specials[i]}, {"special", true}});
    }
    for (int i = 263; i < 512; i++) vocab["<pad" + std::to_string(i) + ">"] = i;
    return {{"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", nlohmann::json::array()}}},
            {"added_tokens", added}};
}

// The test checkpoint and the exact f32 values its tensors decode to.
struct Built {
    std::map<std::string, std::vector<float>> values;  // by official name
    std::vector<int64_t> tid2eid0;
};

uint16_t bf16(float x) { return f32_to_bf16(x); }

// Writes the checkpoint into `dir` with official names (transformers names if `tf`).
Built write_checkpoint(const std::string &dir, bool tf) {
    const model::ModelConfig c = config_from_hf(config_json(), "test config");
    std::mt19937 rng(3);
    std::normal_distribution<float> nd(0.0f, 0.3f);
    SafetensorsWriter w;
    Built built;
    auto name_of = [&](const std::vector<std::string> &names) { return tf ? names.back() : names.front(); };
    // BF16 values (exact in f32 after the round trip).
    auto add_bf16 = [&](const std::string &official, const std::string &name, const std::vector<uint64_t> &gguf_dims) {
        std::vector<uint64_t> shape(gguf_dims.rbegin(), gguf_dims.rend());
        uint64_t n = 1;
        for (uint64_t d : shape) n *= d;
        std::vector<uint16_t> raw(n);
        std::vector<float> v(n);
        for (uint64_t i = 0; i < n; i++) {
            raw[i] = bf16(nd(rng));
            v[i] = bf16_to_f32(raw[i]);
        }
        w.add(name, StDtype::BF16, shape, raw.data(), raw.size() * 2);
        built.values[official] = v;
    };
    // FP8 E4M3 with E8M0 scales per 128x128 block (partial here): codes and scales chosen.
    auto add_fp8 = [&](const std::string &official, const std::string &name, const std::vector<uint64_t> &gguf_dims) {
        const uint64_t out = gguf_dims[1], in = gguf_dims[0];
        std::vector<uint8_t> q(out * in);
        std::vector<float> v(out * in);
        const uint8_t scale_code = 120;  // 2^-7
        for (uint64_t i = 0; i < q.size(); i++) {
            q[i] = static_cast<uint8_t>(rng() % 0x7f) | (rng() % 2 ? 0x80 : 0);
            if ((q[i] & 0x7f) == 0x7f) q[i] = 0x10;
            v[i] = e4m3fn_to_f32(q[i]) * std::ldexp(1.0f, -7);
        }
        const uint64_t sr = (out + 127) / 128, sc = (in + 127) / 128;
        std::vector<uint8_t> s(sr * sc, scale_code);
        w.add(name, StDtype::F8_E4M3, {out, in}, q.data(), q.size());
        std::string sname = name.substr(0, name.size() - 7) + ".scale";
        w.add(sname, StDtype::F8_E8M0, {sr, sc}, s.data(), s.size());
        built.values[official] = v;
    };
    // FP4 E2M1 experts: two codes per byte, E8M0 scale per 32 inputs.
    auto add_fp4 = [&](const std::string &official, const std::string &name, uint64_t in, uint64_t out) {
        static const float e2m1[8] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6};
        std::vector<uint8_t> packed(out * in / 2);
        std::vector<float> v(out * in);
        std::vector<uint8_t> scale(out * (in / 32));
        for (auto &s : scale) s = static_cast<uint8_t>(124 + rng() % 3);  // 2^-3 .. 2^-1
        for (uint64_t o = 0; o < out; o++)
            for (uint64_t i = 0; i < in; i++) {
                const uint8_t code = static_cast<uint8_t>(rng() % 16);
                packed[(o * in + i) / 2] |= static_cast<uint8_t>(i % 2 ? code << 4 : code);
                const float mag = e2m1[code & 7] * std::ldexp(1.0f, scale[o * (in / 32) + i / 32] - 127);
                v[o * in + i] = code & 8 ? -mag : mag;
            }
        w.add(name, StDtype::I8, {out, in / 2}, packed.data(), packed.size());
        w.add(name.substr(0, name.size() - 7) + ".scale", StDtype::F8_E8M0, {out, in / 32}, scale.data(), scale.size());
        built.values[official] = v;
    };
    for (int g = 0; g < static_cast<int>(GlobalTensor::Count); g++) {
        const auto id = static_cast<GlobalTensor>(g);
        const auto names = model::hf_names(id);
        add_bf16(names.front(), name_of(names), model::expected_dims(id, c));
    }
    for (uint32_t l = 0; l < c.n_layer; l++) {
        for (int i = 0; i < static_cast<int>(LayerTensor::Count); i++) {
            const auto id = static_cast<LayerTensor>(i);
            const bool bias = id == LayerTensor::ExpProbsB && !c.is_hash_layer(l);
            if (!model::is_required(id, c, l, false) && !bias) continue;
            const std::vector<uint64_t> dims = model::expected_dims(id, c, l, false);
            if (model::spec(id).kind == model::TensorKind::Experts) {
                for (uint32_t e = 0; e < c.n_expert; e++) {
                    const auto names = model::hf_names(id, l, e);
                    add_fp4(names.front(), name_of(names), dims[0], dims[1]);
                }
            } else if (id == LayerTensor::FfnGateTid2eid) {
                std::vector<int64_t> t(c.n_vocab * c.n_expert_used);
                for (uint64_t k = 0; k < c.n_vocab; k++)
                    for (uint32_t j = 0; j < c.n_expert_used; j++) t[k * c.n_expert_used + j] = (k + j) % c.n_expert;
                const auto names = model::hf_names(id, l);
                w.add(name_of(names), StDtype::I64, {c.n_vocab, c.n_expert_used}, t.data(), t.size() * 8);
                if (l == 0) built.tid2eid0 = t;
            } else if (id == LayerTensor::AttnQA || id == LayerTensor::AttnOutputB) {
                const auto names = model::hf_names(id, l);
                add_fp8(names.front(), name_of(names), dims);
            } else {
                const auto names = model::hf_names(id, l);
                add_bf16(names.front(), name_of(names), dims);
            }
        }
    }
    w.write(dir + "/model.safetensors");
    test::write_text(dir + "/config.json", config_json().dump(1));
    test::write_text(dir + "/tokenizer.json", tokenizer_json().dump());
    return built;
}

std::vector<float> gguf_values(const gguf::Reader &r, const std::string &name) {
    const gguf::TensorInfo *t = r.find_tensor(name);
    EXPECT_NE(t, nullptr) << name;
    if (!t) return {};
    std::vector<float> v(t->n_elements);
    quant::dequantize_row(t->type, r.tensor_data(*t), v.data(), v.size());
    return v;
}

TEST(Convert, F32KeepsEveryValueExactly) {
    ScratchDir d;
    const Built b = write_checkpoint(d.path(), false);
    ConvertOptions o;
    o.checkpoint_dir = d.path();
    o.out = d.file("out.gguf");
    o.quant = "f32";
    const ConvertResult res = convert_checkpoint(o);
    EXPECT_TRUE(res.notes.empty());
    gguf::Reader r(o.out);
    const model::ModelWeights w = model::bind_model(r);
    EXPECT_EQ(w.config.compress_ratio, (std::vector<uint32_t>{0, 0, 4, 16}));
    EXPECT_EQ(w.config.n_hash_layer, 3u);
    EXPECT_EQ(w.config.rope_scale, 16.0f);
    EXPECT_EQ(w.config.n_rot, 16u);
    // BF16 source, FP8 block-scaled source and FP4-packed experts all decode exactly.
    EXPECT_EQ(gguf_values(r, "token_embd.weight"), b.values.at("embed.weight"));
    EXPECT_EQ(gguf_values(r, "blk.2.attn_kv_a_norm.weight"), b.values.at("layers.2.attn.kv_norm.weight"));
    EXPECT_EQ(gguf_values(r, "blk.1.attn_q_a.weight"), b.values.at("layers.1.attn.wq_a.weight"));
    EXPECT_EQ(gguf_values(r, "blk.3.attn_output_b.weight"), b.values.at("layers.3.attn.wo_b.weight"));
    const std::vector<float> down = gguf_values(r, "blk.3.ffn_down_exps.weight");
    const std::vector<float> &e2 = b.values.at("layers.3.ffn.experts.2.w2.weight");
    ASSERT_EQ(down.size(), 4 * e2.size());
    EXPECT_TRUE(std::equal(e2.begin(), e2.end(), down.begin() + 2 * static_cast<long>(e2.size())));
    EXPECT_EQ(gguf_values(r, "blk.2.attn_compressor_ape.weight"), b.values.at("layers.2.attn.compressor.ape"));
    const gguf::TensorInfo *tid = r.find_tensor("blk.0.ffn_gate_tid2eid.weight");
    ASSERT_NE(tid, nullptr);
    EXPECT_EQ(tid->type, gguf::TensorType::I32);
    const int32_t *ids = reinterpret_cast<const int32_t *>(r.tensor_data(*tid));
    for (size_t i = 0; i < b.tid2eid0.size(); i++) ASSERT_EQ(ids[i], b.tid2eid0[i]);
    // It runs: finite logits with the float numerics.
    engine::EngineOptions eo;
    eo.model_path = o.out;
    eo.qat = false;
    engine::Engine e(eo);
    engine::Session s(e, 64);
    const std::vector<int32_t> prompt = {256, 258, 72, 101, 108, 108, 111, 259, 262};
    s.sync(prompt);
    for (float v : s.logits()) ASSERT_TRUE(std::isfinite(v));
}

TEST(Convert, TransformersNamesGiveTheSameFile) {
    ScratchDir a, b;
    write_checkpoint(a.path(), false);
    write_checkpoint(b.path(), true);
    ConvertOptions o;
    o.quant = "f16";
    o.checkpoint_dir = a.path();
    o.out = a.file("official.gguf");
    convert_checkpoint(o);
    o.checkpoint_dir = b.path();
    o.out = b.file("tf.gguf");
    convert_checkpoint(o);
    gguf::Reader ra(a.file("official.gguf")), rb(b.file("tf.gguf"));
    ASSERT_EQ(ra.tensors().size(), rb.tensors().size());
    for (const auto &t : ra.tensors()) {
        const gguf::TensorInfo *u = rb.find_tensor(t.name);
        ASSERT_NE(u, nullptr) << t.name;
        EXPECT_EQ(t.type, u->type) << t.name;
        ASSERT_EQ(t.n_bytes, u->n_bytes) << t.name;
        EXPECT_EQ(std::memcmp(ra.tensor_data(t), rb.tensor_data(*u), t.n_bytes), 0) << t.name;
    }
}

TEST(Convert, QuantizedTargetsLoadWithTheirRecipes) {
    ScratchDir d;
    write_checkpoint(d.path(), false);
    for (const char *q : {"q8", "q4", "q2"}) {
        SCOPED_TRACE(q);
        ConvertOptions o;
        o.checkpoint_dir = d.path();
        o.out = d.file(std::string(q) + ".gguf");
        o.quant = q;
        const ConvertResult res = convert_checkpoint(o);
        gguf::Reader r(o.out);
        const model::ModelWeights w = model::bind_model(r);
        EXPECT_EQ(w[GlobalTensor::Output].type, gguf::TensorType::Q8_0);
        EXPECT_EQ(w.layers[0][LayerTensor::AttnQB].type, gguf::TensorType::Q8_0);
        EXPECT_EQ(w.layers[0][LayerTensor::HcAttnFn].type, gguf::TensorType::F16);
        EXPECT_EQ(w.layers[0][LayerTensor::AttnNorm].type, gguf::TensorType::F32);
        const gguf::TensorType gate = w.layers[3][LayerTensor::FfnGateExps].type;
        if (std::string(q) == "q8") {
            EXPECT_EQ(gate, gguf::TensorType::Q8_0);
            EXPECT_TRUE(res.notes.empty());
        } else {
            // 64-wide expert rows are not whole 256-value K-quant blocks: Q8_0 instead, said so.
            EXPECT_EQ(gate, gguf::TensorType::Q8_0);
            ASSERT_FALSE(res.notes.empty());
            EXPECT_NE(res.notes.front().find("not whole"), std::string::npos) << res.notes.front();
        }
    }
}

TEST(Convert, ProblemsAreNamed) {
    ScratchDir d;
    write_checkpoint(d.path(), false);
    ConvertOptions o;
    o.checkpoint_dir = d.path();
    o.out = d.file("x.gguf");
    o.quant = "q3";
    EXPECT_TRUE(test::contains(test::error_of([&] { convert_checkpoint(o); }), "--quant must be"));
    // A config asking for something dstar cannot run.
    nlohmann::json cfg = config_json();
    cfg["num_key_value_heads"] = 2;
    test::write_text(d.path() + "/config.json", cfg.dump());
    o.quant = "f32";
    EXPECT_TRUE(test::contains(test::error_of([&] { convert_checkpoint(o); }), "head_count_kv must be 1"));
    cfg = config_json();
    cfg["scoring_func"] = "softmax";
    test::write_text(d.path() + "/config.json", cfg.dump());
    EXPECT_TRUE(test::contains(test::error_of([&] { convert_checkpoint(o); }), "scoring_func"));
    // A checkpoint that lacks a tensor names it.
    ScratchDir e;
    write_checkpoint(e.path(), false);
    SafetensorsFile f(e.path() + "/model.safetensors");
    SafetensorsWriter w2;
    for (const StTensor &t : f.tensors())
        if (t.name != "layers.2.attn.indexer.wq_b.weight") w2.add(t.name, t.dtype, t.shape, t.data, t.n_bytes);
    w2.write(e.path() + "/model.safetensors.new");
    std::rename((e.path() + "/model.safetensors.new").c_str(), (e.path() + "/model.safetensors").c_str());
    o.checkpoint_dir = e.path();
    const std::string err = test::error_of([&] { convert_checkpoint(o); });
    EXPECT_TRUE(test::contains(err, "blk.2.indexer.attn_q_b.weight")) << err;
    EXPECT_TRUE(test::contains(err, "layers.2.attn.indexer.wq_b.weight")) << err;
}

}  // namespace
}  // namespace dstar::convert
