#include "convert/converter.h"

#include <algorithm>
#include <cstring>
#include <memory>

#include "common/error.h"
#include "common/thread_pool.h"
#include "convert/hf_config.h"
#include "convert/hf_dtypes.h"
#include "convert/safetensors.h"
#include "gguf/writer.h"
#include "model/gguf_metadata.h"
#include "model/tensor_table.h"
#include "quant/imatrix.h"
#include "quant/quantize.h"
#include "tokenizer/hf_vocab.h"

namespace dstar::convert {

namespace {

using gguf::TensorType;
using model::GlobalTensor;
using model::LayerTensor;
using model::TensorKind;

bool row_fits(TensorType t, uint64_t ne0) {
    uint64_t b = 0;
    return gguf::row_bytes(t, ne0, &b);
}

// One GGUF tensor to produce.
struct Planned {
    std::string gguf_name;
    TensorType type;
    std::vector<uint64_t> dims;  // GGUF order
    TensorKind kind;
    std::vector<std::string> sources;  // HF names to try (non-expert tensors)
    bool experts = false;
    LayerTensor layer_id = LayerTensor::Count;
    uint32_t layer = 0;
};

// The type a tensor gets for `quant`, before the row-length fallback.
TensorType wanted_type(const std::string &quant, TensorKind kind, TensorType published, LayerTensor id) {
    if (kind == TensorKind::IdTable) return TensorType::I32;
    if (quant == "f32") return TensorType::F32;
    if (quant == "f16") return TensorType::F16;
    if (kind == TensorKind::Experts) {
        if (quant == "q8") return TensorType::Q8_0;
        if (quant == "q4") return TensorType::Q4_K;
        return id == LayerTensor::FfnDownExps ? TensorType::Q2_K : TensorType::IQ2_XXS;
    }
    return published;
}

std::vector<Planned> plan(const model::ModelConfig &c, const std::string &quant, std::vector<std::string> *notes) {
    std::vector<Planned> out;
    auto finish = [&](Planned p, TensorType want) {
        TensorType t = want;
        if (!row_fits(t, p.dims[0])) {
            t = row_fits(TensorType::Q8_0, p.dims[0]) && want != TensorType::F16 ? TensorType::Q8_0 : TensorType::F16;
            notes->push_back(p.gguf_name + ": rows of " + std::to_string(p.dims[0]) + " values are not whole " +
                             gguf::type_name(want) + " blocks; written as " + gguf::type_name(t));
        }
        p.type = t;
        out.push_back(std::move(p));
    };
    for (int g = 0; g < static_cast<int>(GlobalTensor::Count); g++) {
        const auto id = static_cast<GlobalTensor>(g);
        Planned p;
        p.gguf_name = model::tensor_name(id);
        p.dims = model::expected_dims(id, c);
        p.kind = model::spec(id).kind;
        p.sources = model::hf_names(id);
        finish(std::move(p), wanted_type(quant, p.kind, model::spec(id).ds4_types[0], LayerTensor::Count));
    }
    for (uint32_t l = 0; l < c.n_layer; l++) {
        for (int i = 0; i < static_cast<int>(LayerTensor::Count); i++) {
            const auto id = static_cast<LayerTensor>(i);
            const bool bias = id == LayerTensor::ExpProbsB && !c.is_hash_layer(l);
            if (!model::is_required(id, c, l, false) && !bias) continue;
            Planned p;
            p.gguf_name = model::tensor_name(id, l);
            p.dims = model::expected_dims(id, c, l, false);
            p.kind = model::spec(id).kind;
            p.layer_id = id;
            p.layer = l;
            p.experts = p.kind == TensorKind::Experts;
            if (!p.experts) p.sources = model::hf_names(id, l);
            finish(std::move(p), wanted_type(quant, p.kind, model::spec(id).ds4_types[0], id));
        }
    }
    return out;
}

// The HF tensor behind one of `names`; its shape must be the reverse of `dims`.
const StTensor &source(const Checkpoint &ck, const std::vector<std::string> &names, const std::vector<uint64_t> &dims,
                       const std::string &gguf_name) {
    for (const std::string &n : names) {
        const StTensor *t = ck.find(n);
        if (!t) continue;
        std::vector<uint64_t> want(dims.rbegin(), dims.rend());
        // FP4-packed experts store two values per byte: the last dim is halved.
        std::vector<uint64_t> got = t->shape;
        if (t->dtype == StDtype::I8 && !got.empty() && dims.size() >= 2) got.back() *= 2;
        if (got != want) {
            std::string ws, gs;
            for (uint64_t d : want) ws += (ws.empty() ? "" : ", ") + std::to_string(d);
            for (uint64_t d : t->shape) gs += (gs.empty() ? "" : ", ") + std::to_string(d);
            fail("%s: '%s' has shape [%s], expected [%s] for %s", ck.dir().c_str(), n.c_str(), gs.c_str(), ws.c_str(),
                 gguf_name.c_str());
        }
        return *t;
    }
    fail("%s: no tensor for %s (looked for '%s')", ck.dir().c_str(), gguf_name.c_str(), names.front().c_str());
}

// f32 values -> bytes of `type`, rows quantized in parallel.
std::vector<uint8_t> encode(ThreadPool &pool, TensorType type, const std::vector<float> &x, uint64_t row_len,
                            const float *importance) {
    uint64_t row_b = 0;
    gguf::row_bytes(type, row_len, &row_b);
    const uint64_t rows = x.size() / row_len;
    std::vector<uint8_t> out(rows * row_b);
    pool.parallel_for(rows, [&](size_t b, size_t e) {
        quant::quantize_rows(type, x.data() + b * row_len, out.data() + b * row_b, e - b, row_len, importance);
    }, 16);
    return out;
}

// The vocabulary: the checkpoint's tokenizer.json, padded to the embedding's row count.
tok::HfVocab load_vocab(const std::string &path, uint32_t n_vocab) {
    tok::HfVocab v = tok::load_hf_tokenizer_json(path, false);
    static const char *kNeeded[] = {"<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>",
                                    "<think>", "</think>", "｜DSML｜"};
    bool all = true;
    for (const char *s : kNeeded) all &= std::find(v.tokens.begin(), v.tokens.end(), s) != v.tokens.end();
    // A V3-era tokenizer.json lacks the V4 chat tokens; DeepSeek's V4 table adds them at
    // fixed ids (tokenizer.md §12).
    if (!all && n_vocab == static_cast<uint32_t>(tok::kV4VocabSize)) v = tok::load_hf_tokenizer_json(path, true);
    if (v.tokens.size() > n_vocab)
        fail("%s: %zu tokens but the model's vocabulary (embedding rows) is %u", path.c_str(), v.tokens.size(), n_vocab);
    while (v.tokens.size() < n_vocab) {
        v.tokens.push_back("<｜place▁holder▁no▁" + std::to_string(v.tokens.size()) + "｜>");
        v.token_types.push_back(3);
    }
    return v;
}

}  // namespace

ConvertResult convert_checkpoint(const ConvertOptions &opt, const ConvertProgress &progress) {
    static const char *kQuants[] = {"f32", "f16", "q8", "q4", "q2"};
    if (std::find_if(std::begin(kQuants), std::end(kQuants), [&](const char *q) { return opt.quant == q; }) ==
        std::end(kQuants))
        fail("convert: --quant must be f32, f16, q8, q4 or q2, not '%s'", opt.quant.c_str());
    const std::string dir = opt.checkpoint_dir;
    const model::ModelConfig cfg = config_from_hf_file(dir + "/config.json");
    const Checkpoint ck(dir);
    const tok::HfVocab vocab = load_vocab(opt.tokenizer_json.empty() ? dir + "/tokenizer.json" : opt.tokenizer_json,
                                          cfg.n_vocab);
    std::unique_ptr<quant::ImportanceMatrix> imatrix;
    if (!opt.imatrix.empty()) imatrix = std::make_unique<quant::ImportanceMatrix>(quant::ImportanceMatrix::load(opt.imatrix));

    ConvertResult res;
    const std::vector<Planned> planned = plan(cfg, opt.quant, &res.notes);
    gguf::Writer w(opt.out);
    model::write_model_metadata(w, cfg, vocab, opt.name.empty() ? cfg.name + " (" + opt.quant + ")" : opt.name);
    w.add_kv("dstar.convert.source", gguf::Value::make_string(dir));
    w.add_kv("dstar.convert.quant", gguf::Value::make_string(opt.quant));
    for (const Planned &p : planned) w.add_tensor(p.gguf_name, p.type, p.dims);
    w.begin_data();

    ThreadPool pool(opt.threads);
    const uint64_t total = w.total_tensor_bytes();
    uint64_t done = 0;
    for (size_t i = 0; i < planned.size(); i++) {
        const Planned &p = planned[i];
        const uint64_t ne0 = p.dims[0];
        if (p.kind == TensorKind::IdTable) {
            const StTensor &t = source(ck, p.sources, p.dims, p.gguf_name);
            const std::vector<int32_t> ids = to_i32(t);
            w.write_data(ids.data(), ids.size() * sizeof(int32_t));
        } else if (p.experts) {
            // Stacked routed experts: one expert matrix at a time.
            const uint32_t n_exp = static_cast<uint32_t>(p.dims[2]);
            const std::vector<uint64_t> one = {p.dims[0], p.dims[1]};
            for (uint32_t e = 0; e < n_exp; e++) {
                const std::vector<std::string> names = model::hf_names(p.layer_id, p.layer, e);
                const StTensor &t = source(ck, names, one, p.gguf_name);
                const std::vector<float> x = load_weight_f32(ck, t.name);
                const float *imp = imatrix ? imatrix->find(p.gguf_name, ne0, static_cast<int>(e)) : nullptr;
                const std::vector<uint8_t> bytes = encode(pool, p.type, x, ne0, imp);
                w.write_data(bytes.data(), bytes.size());
            }
        } else {
            const StTensor &t = source(ck, p.sources, p.dims, p.gguf_name);
            const std::vector<float> x = load_weight_f32(ck, t.name);
            const float *imp = imatrix ? imatrix->find(p.gguf_name, ne0, -1) : nullptr;
            const std::vector<uint8_t> bytes = encode(pool, p.type, x, ne0, imp);
            w.write_data(bytes.data(), bytes.size());
        }
        done += w.tensor_sizes()[i].second;
        if (progress) progress(p.gguf_name, done, total);
    }
    w.finish();
    res.n_tensors = planned.size();
    res.tensor_bytes = total;
    return res;
}

}  // namespace dstar::convert
