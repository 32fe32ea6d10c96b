#include "model/synth.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "common/error.h"
#include "common/fp16.h"
#include "gguf/writer.h"
#include "model/gguf_metadata.h"
#include "model/shape.h"
#include "model/synth_vocab.h"
#include "model/tensor_table.h"
#include "quant/blocks.h"
#include "quant/dequant.h"
#include "quant/quantize.h"

namespace dstar::model {

namespace {

using gguf::TensorType;
using gguf::Value;

// Output gain of every residual branch (attention output, expert down projections): keeps
// the residual stream, and so every router input, stable through the layers.
constexpr float kBranchGain = 0.25f;

// ---- deterministic random numbers -------------------------------------------------------

uint64_t fnv1a(const std::string &s, uint64_t h = 1469598103934665603ull) {
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
    return h;
}

class Rng {
public:
    explicit Rng(uint64_t seed) : s_(seed) {}
    uint64_t next() {  // splitmix64
        uint64_t z = (s_ += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    float uniform() { return static_cast<float>(next() >> 40) * (1.0f / 16777216.0f); }
    // Approximately standard normal (Irwin-Hall of 4 uniforms, rescaled): cheap, bounded.
    float normal() {
        const uint64_t a = next(), b = next();
        const float s = static_cast<float>(a & 0xffffffu) + static_cast<float>(a >> 40) +
                        static_cast<float>(b & 0xffffffu) + static_cast<float>(b >> 40);
        return (s * (1.0f / 16777216.0f) - 2.0f) * 1.7320508f;
    }
    uint32_t below(uint32_t n) { return static_cast<uint32_t>(next() % n); }

private:
    uint64_t s_;
};

// ---- what each tensor holds -------------------------------------------------------------

enum class Fill { Const, Uniform, Normal, Experts, HashTable };

struct TensorPlan {
    std::string name;
    TensorType type;
    std::vector<uint64_t> dims;
    Fill fill;
    float a = 0, b = 0;  // Const: value; Uniform: [a, b); Normal: std; Experts: base std
    int down = 0;        // Experts: 1 for down projections (gain^-2), 0 for gate/up (gain)
};

float lin(uint64_t fan_in, float gain = 1.0f) { return gain / std::sqrt(static_cast<float>(fan_in)); }

// Per-expert output scale: most experts O(1), a few large enough that the SwiGLU clamp
// really triggers.
float expert_gain(uint64_t e) {
    static const float g[8] = {0.7f, 1.0f, 1.0f, 1.3f, 1.6f, 2.2f, 3.5f, 7.0f};
    return g[e % 8];
}

// Recipe for one block tensor.
void plan_layer_tensor(LayerTensor id, const ModelConfig &c, TensorPlan *p) {
    using L = LayerTensor;
    const uint64_t E = c.n_embd, ff = c.expert_ff;
    switch (id) {
    case L::HcAttnFn: case L::HcFfnFn: p->fill = Fill::Normal; p->a = lin(c.hc_dim()); break;
    case L::HcAttnScale: case L::HcFfnScale: p->fill = Fill::Uniform; p->a = 0.5f; p->b = 1.5f; break;
    case L::HcAttnBase: case L::HcFfnBase: p->fill = Fill::Normal; p->a = 0.5f; break;
    case L::AttnNorm: case L::FfnNorm: case L::AttnQANorm: case L::AttnKvANorm:
    case L::AttnCompressorNorm: case L::IndexerCompressorNorm: p->fill = Fill::Const; p->a = 1.0f; break;
    case L::AttnQA: case L::AttnKv: case L::AttnCompressorKv: case L::AttnCompressorGate:
    case L::IndexerProj: case L::IndexerCompressorKv: case L::IndexerCompressorGate:
    case L::FfnGateInp: case L::FfnGateShexp: case L::FfnUpShexp: p->fill = Fill::Normal; p->a = lin(E); break;
    case L::AttnQB: case L::IndexerAttnQB: p->fill = Fill::Normal; p->a = lin(c.q_lora); break;
    case L::AttnSinks: p->fill = Fill::Normal; p->a = 1.0f; break;
    case L::AttnOutputA: p->fill = Fill::Normal; p->a = lin(c.group_dim()); break;
    case L::AttnOutputB: p->fill = Fill::Normal; p->a = lin(c.out_low_dim(), kBranchGain); break;
    case L::AttnCompressorApe: case L::IndexerCompressorApe: p->fill = Fill::Normal; p->a = 0.5f; break;
    case L::ExpProbsB: p->fill = Fill::Normal; p->a = 0.1f; break;
    case L::FfnGateExps: case L::FfnUpExps: p->fill = Fill::Experts; p->a = lin(E); p->down = 0; break;
    case L::FfnDownExps: p->fill = Fill::Experts; p->a = lin(ff, kBranchGain); p->down = 1; break;
    case L::FfnDownShexp: p->fill = Fill::Normal; p->a = lin(ff, kBranchGain); break;
    case L::FfnGateTid2eid: p->fill = Fill::HashTable; break;
    case L::Count: break;
    }
}

std::vector<TensorPlan> plan_main(const ModelConfig &c, const std::string &quant) {
    const bool q2 = quant == "q2";
    std::vector<TensorPlan> out;
    auto add = [&](std::string name, TensorType type, std::vector<uint64_t> dims, Fill fill, float a, float b = 0) {
        out.push_back({std::move(name), type, std::move(dims), fill, a, b, 0});
    };
    add(tensor_name(GlobalTensor::TokenEmbd), TensorType::F16, expected_dims(GlobalTensor::TokenEmbd, c), Fill::Normal, 1.0f);
    for (uint32_t l = 0; l < c.n_layer; l++) {
        for (int i = 0; i < static_cast<int>(LayerTensor::Count); i++) {
            const auto id = static_cast<LayerTensor>(i);
            const bool bias_here = id == LayerTensor::ExpProbsB && !c.is_hash_layer(l);
            if (!is_required(id, c, l, false) && !bias_here) continue;
            TensorPlan p;
            p.name = tensor_name(id, l);
            p.dims = expected_dims(id, c, l, false);
            p.type = spec(id).ds4_types.front();
            if (id == LayerTensor::FfnGateExps || id == LayerTensor::FfnUpExps)
                p.type = q2 ? TensorType::IQ2_XXS : TensorType::Q4_K;
            if (id == LayerTensor::FfnDownExps) p.type = q2 ? TensorType::Q2_K : TensorType::Q4_K;
            plan_layer_tensor(id, c, &p);
            out.push_back(p);
        }
    }
    add(tensor_name(GlobalTensor::OutputHcBase), TensorType::F32, expected_dims(GlobalTensor::OutputHcBase, c), Fill::Normal, 0.5f);
    add(tensor_name(GlobalTensor::OutputHcFn), TensorType::F16, expected_dims(GlobalTensor::OutputHcFn, c), Fill::Normal, lin(c.hc_dim()));
    add(tensor_name(GlobalTensor::OutputHcScale), TensorType::F32, expected_dims(GlobalTensor::OutputHcScale, c), Fill::Uniform, 0.5f, 1.5f);
    add(tensor_name(GlobalTensor::OutputNorm), TensorType::F32, expected_dims(GlobalTensor::OutputNorm, c), Fill::Const, 1.0f);
    // Logit spread ~4: a peaked but not degenerate next-token distribution.
    add(tensor_name(GlobalTensor::Output), TensorType::Q8_0, expected_dims(GlobalTensor::Output, c), Fill::Normal, lin(c.n_embd, 4.0f));
    return out;
}

// The MTP companion file, as published: Q8_0 projections, F32 plain matrices, Q4_K experts.
std::vector<TensorPlan> plan_mtp(const ModelConfig &c) {
    std::vector<TensorPlan> out;
    for (int i = 0; i < static_cast<int>(MtpTensor::Count); i++) {
        const auto id = static_cast<MtpTensor>(i);
        TensorPlan p;
        p.name = tensor_name(id);
        p.dims = expected_dims(id, c);
        p.type = spec(id).ds4_types.back();
        switch (id) {
        case MtpTensor::EProj: case MtpTensor::HProj: p.fill = Fill::Normal; p.a = lin(c.n_embd); break;
        case MtpTensor::ENorm: case MtpTensor::HNorm: case MtpTensor::Norm: p.fill = Fill::Const; p.a = 1.0f; break;
        case MtpTensor::HcHeadBase: p.fill = Fill::Normal; p.a = 0.5f; break;
        case MtpTensor::HcHeadFn: p.fill = Fill::Normal; p.a = lin(c.hc_dim()); break;
        case MtpTensor::HcHeadScale: p.fill = Fill::Uniform; p.a = 0.5f; p.b = 1.5f; break;
        case MtpTensor::Count: break;
        }
        out.push_back(p);
    }
    for (int i = 0; i < static_cast<int>(LayerTensor::Count); i++) {
        const auto id = static_cast<LayerTensor>(i);
        if (!is_required(id, c, 0, true)) continue;
        TensorPlan p;
        p.name = mtp_block_tensor_name(id);
        p.dims = expected_dims(id, c, 0, true);
        p.type = ds4_types(id, true).back();
        if (id == LayerTensor::FfnGateExps || id == LayerTensor::FfnUpExps || id == LayerTensor::FfnDownExps)
            p.type = TensorType::Q4_K;
        plan_layer_tensor(id, c, &p);
        out.push_back(p);
    }
    return out;
}

// ---- random quant blocks ------------------------------------------------------------------

// Random valid K-quant / IQ2 blocks: random codes, per-block scales around `d` (+-50%), mins
// chosen to centre the weights.
void random_blocks(TensorType t, Rng &rng, float d, uint64_t n_blocks, uint8_t *out) {
    auto scale = [&](float base) {
        const uint16_t h = f32_to_f16(base * (0.5f + rng.uniform()));
        return h ? h : uint16_t{1};  // never a zero scale
    };
    auto bytes = [&](uint8_t *p, size_t n) {
        for (size_t i = 0; i < n; i += 8) {
            const uint64_t r = rng.next();
            std::memcpy(p + i, &r, std::min<size_t>(8, n - i));
        }
    };
    for (uint64_t b = 0; b < n_blocks; b++) {
        if (t == TensorType::Q2_K) {
            auto *blk = reinterpret_cast<quant::BlockQ2_K *>(out + b * sizeof(quant::BlockQ2_K));
            bytes(blk->scales, sizeof blk->scales);
            bytes(blk->qs, sizeof blk->qs);
            blk->d = scale(d);
            blk->dmin = scale(1.5f * d);  // E[(sc&15) q] = 11.25 = 1.5 E[sc>>4]
        } else if (t == TensorType::Q4_K) {
            auto *blk = reinterpret_cast<quant::BlockQ4_K *>(out + b * sizeof(quant::BlockQ4_K));
            bytes(blk->scales, sizeof blk->scales);
            bytes(blk->qs, sizeof blk->qs);
            blk->d = scale(d);
            blk->dmin = scale(7.5f * d);  // E[sc q] = 236.25 = 7.5 E[m]
        } else if (t == TensorType::IQ2_XXS) {
            auto *blk = reinterpret_cast<quant::BlockIQ2_XXS *>(out + b * sizeof(quant::BlockIQ2_XXS));
            bytes(reinterpret_cast<uint8_t *>(blk->qs), sizeof blk->qs);
            blk->d = scale(d);
        } else {
            fail("synth: no random block generator for %s", gguf::type_name(t).c_str());
        }
    }
}

// Standard deviation of weights decoded from random blocks with base scale 1.
float unit_std(TensorType t) {
    Rng rng(12345);
    const uint64_t n_blocks = 256;
    const gguf::TypeInfo *info = gguf::type_info(t);
    std::vector<uint8_t> raw(n_blocks * info->block_bytes);
    random_blocks(t, rng, 1.0f, n_blocks, raw.data());
    std::vector<float> v(n_blocks * info->block_elems);
    quant::dequantize_row(t, raw.data(), v.data(), v.size());
    double s = 0, s2 = 0;
    for (float x : v) {
        s += x;
        s2 += static_cast<double>(x) * x;
    }
    const double mean = s / static_cast<double>(v.size());
    return static_cast<float>(std::sqrt(s2 / static_cast<double>(v.size()) - mean * mean));
}

// ---- streaming the data of one tensor -------------------------------------------------------

class TensorFiller {
public:
    TensorFiller(const TensorPlan &p, const ModelConfig &c, uint64_t seed, gguf::Writer &w)
        : p_(p), c_(c), rng_(fnv1a(p.name, fnv1a(std::to_string(seed)))), w_(w) {}

    void run() {
        const gguf::TypeInfo *info = gguf::type_info(p_.type);
        uint64_t row_bytes = 0;
        gguf::row_bytes(p_.type, p_.dims[0], &row_bytes);
        uint64_t rows = 1;
        for (size_t i = 1; i < p_.dims.size(); i++) rows *= p_.dims[i];
        if (p_.fill == Fill::HashTable) return hash_table();
        const uint64_t rows_per_expert = p_.dims.size() > 2 ? p_.dims[1] : rows;
        const uint64_t chunk_rows = std::max<uint64_t>(1, (8u << 20) / row_bytes);
        std::vector<uint8_t> buf;
        std::vector<float> f;
        const float unit = p_.fill == Fill::Experts ? unit_std(p_.type) : 1.0f;
        for (uint64_t r0 = 0; r0 < rows;) {
            // Never let a chunk straddle two experts (each has its own gain).
            const uint64_t expert = r0 / rows_per_expert;
            const uint64_t end = std::min({rows, r0 + chunk_rows, (expert + 1) * rows_per_expert});
            const uint64_t n = end - r0;
            buf.resize(n * row_bytes);
            const uint64_t elems = n * p_.dims[0];
            switch (p_.fill) {
            case Fill::Experts: {
                const float g = expert_gain(expert);
                const float std = p_.down ? p_.a / (g * g) : p_.a * g;
                random_blocks(p_.type, rng_, std / unit, elems / info->block_elems, buf.data());
                break;
            }
            default:
                f.resize(elems);
                for (uint64_t i = 0; i < elems; i++) f[i] = value();
                encode(f.data(), elems, buf.data());
            }
            w_.write_data(buf.data(), buf.size());
            r0 = end;
        }
    }

private:
    float value() {
        switch (p_.fill) {
        case Fill::Const: return p_.a;
        case Fill::Uniform: return p_.a + (p_.b - p_.a) * rng_.uniform();
        case Fill::Normal: return rng_.normal() * p_.a;
        default: return 0.0f;
        }
    }

    void encode(const float *f, uint64_t n, uint8_t *out) {
        switch (p_.type) {
        case TensorType::F32: std::memcpy(out, f, n * 4); break;
        case TensorType::F16:
            for (uint64_t i = 0; i < n; i++) {
                const uint16_t h = f32_to_f16(f[i]);
                std::memcpy(out + 2 * i, &h, 2);
            }
            break;
        case TensorType::Q8_0: quant::quantize_row_q8_0(f, out, n); break;
        default: fail("synth: cannot encode %s values for '%s'", gguf::type_name(p_.type).c_str(), p_.name.c_str());
        }
    }

    // Hash routing: each token id gets k distinct experts.
    void hash_table() {
        const uint32_t k = static_cast<uint32_t>(p_.dims[0]);
        const uint64_t vocab = p_.dims[1];
        std::vector<int32_t> perm(c_.n_expert), row(k);
        for (uint64_t t = 0; t < vocab; t++) {
            for (uint32_t e = 0; e < c_.n_expert; e++) perm[e] = static_cast<int32_t>(e);
            for (uint32_t j = 0; j < k; j++) {
                const uint32_t pick = j + rng_.below(c_.n_expert - j);
                std::swap(perm[j], perm[pick]);
                row[j] = perm[j];
            }
            w_.write_data(row.data(), k * sizeof(int32_t));
        }
    }

    const TensorPlan &p_;
    const ModelConfig &c_;
    Rng rng_;
    gguf::Writer &w_;
};

// ---- metadata --------------------------------------------------------------------------------

void add_metadata(gguf::Writer &w, const ModelConfig &c, const SynthOptions &opt, const tok::HfVocab &vocab) {
    const std::string preset = opt.preset == SynthPreset::Tiny ? "tiny" : "flash";
    const std::string name = "DeepSeek-V4-Flash SYNTHETIC random weights (" + preset + ", " +
                             std::to_string(c.n_layer) + " layers, " + opt.quant + ")";
    if (opt.mtp) {  // ds4 reads no metadata from the MTP file
        w.add_kv("general.architecture", gguf::Value::make_string("deepseek4"));
        w.add_kv("general.name", gguf::Value::make_string(name + " MTP"));
    } else {
        write_model_metadata(w, c, vocab, name);
    }
    w.add_kv("dstar.synthetic.generator", gguf::Value::make_string("dstar-gguf synth"));
    w.add_kv("dstar.synthetic.preset", gguf::Value::make_string(preset + "-" + opt.quant));
    w.add_kv("dstar.synthetic.seed", gguf::Value::make_u64(opt.seed));
}

}  // namespace

ModelConfig synth_config(const SynthOptions &opt) {
    ModelConfig c = ModelConfig::flash();
    if (opt.preset == SynthPreset::Tiny) {
        // The ds4-oracle tiny shape: every constraint of the real layout, a few MB.
        c.n_layer = 6;
        c.n_embd = 256;
        c.n_vocab = 4096;
        c.n_head = 4;
        c.head_dim = 192;
        c.q_lora = 96;
        c.n_out_group = 2;
        c.out_lora = 64;
        c.n_expert = 8;
        c.n_expert_used = 3;
        c.expert_ff = 512;
        c.window = 16;
        c.idx_head = 6;
        c.idx_top_k = 8;
    }
    const uint32_t hca = opt.preset == SynthPreset::Tiny ? 16 : flash::kRatioHca;
    if (opt.layers) c.n_layer = opt.layers;
    if (c.n_layer < 1 || c.n_layer > limits::kMaxLayers) fail("synth: --layers must be in 1..%u", limits::kMaxLayers);
    c.compress_ratio.clear();
    c.swiglu_clamp.clear();
    for (uint32_t l = 0; l < c.n_layer; l++) {
        c.compress_ratio.push_back(l < 2 ? 0 : (l % 2 == 0 ? flash::kRatioCsa : hca));
        c.swiglu_clamp.push_back(flash::kSwigluClamp);
    }
    c.n_hash_layer = std::min(c.n_hash_layer, c.n_layer);
    if (opt.quant != "q2" && opt.quant != "q4") fail("synth: --quant must be q2 or q4, not '%s'", opt.quant.c_str());
    c.validate();
    return c;
}

SynthResult write_synthetic(const std::string &path, const SynthOptions &opt, const SynthProgress &progress) {
    const ModelConfig c = synth_config(opt);
    const std::vector<TensorPlan> plan = opt.mtp ? plan_mtp(c) : plan_main(c, opt.quant);
    gguf::Writer w(path);
    if (!opt.mtp) add_metadata(w, c, opt, synth_vocab(opt.tokenizer_json, c.n_vocab));
    else add_metadata(w, c, opt, tok::HfVocab{});
    for (const TensorPlan &p : plan) w.add_tensor(p.name, p.type, p.dims);
    w.begin_data();
    const uint64_t total = w.total_tensor_bytes();
    uint64_t done = 0;
    const auto &sizes = w.tensor_sizes();
    for (size_t i = 0; i < plan.size(); i++) {
        if (opt.sparse) w.skip_data(sizes[i].second);
        else TensorFiller(plan[i], c, opt.seed, w).run();
        done += sizes[i].second;
        if (progress) progress(done, total);
    }
    w.finish();
    SynthResult r;
    r.tensor_bytes = total;
    r.n_tensors = plan.size();
    r.file_bytes = w.file_size();
    return r;
}

}  // namespace dstar::model
