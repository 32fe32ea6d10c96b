// Model contract: config from metadata and every tensor checked by name, type and shape.
#include "model/weights.h"

#include <cstring>
#include <gtest/gtest.h>

#include "common/error.h"
#include "gguf/reader.h"
#include "model/tensor_table.h"
#include "model/gguf_edit.h"

namespace dstar::model {
namespace {

const std::string kTinyQ2 = std::string(DSTAR_SHARED_DIR) + "/testdata/ds4-oracle/tiny-q2.gguf";
const std::string kTinyQ4 = std::string(DSTAR_SHARED_DIR) + "/testdata/ds4-oracle/tiny-q4.gguf";

// Loads a file and returns the error message (empty if it loads).
std::string load_error(const std::string &path) {
    try {
        gguf::Reader r(path);
        bind_model(r);
        return "";
    } catch (const Error &e) {
        return e.what();
    }
}

TEST(Weights, OracleFilesLoadWithTheirLayout) {
    gguf::Reader r2(kTinyQ2);
    const ModelWeights w2 = bind_model(r2);
    EXPECT_EQ(w2.layout.experts, ExpertLayout::Q2);
    EXPECT_TRUE(w2.layout.ds4_types);
    EXPECT_FALSE(w2.layout.flash_shape);
    EXPECT_EQ(w2.config.n_layer, 6u);
    EXPECT_EQ(w2.config.n_embd, 256u);
    EXPECT_EQ(w2.config.compress_ratio, (std::vector<uint32_t>{0, 0, 4, 16, 4, 16}));
    EXPECT_TRUE(w2.layers[0][LayerTensor::FfnGateTid2eid].present());
    EXPECT_FALSE(w2.layers[3][LayerTensor::FfnGateTid2eid].present());
    EXPECT_TRUE(w2.layers[3][LayerTensor::ExpProbsB].present());
    EXPECT_FALSE(w2.layers[1][LayerTensor::AttnCompressorKv].present());
    EXPECT_TRUE(w2.layers[2][LayerTensor::IndexerAttnQB].present());
    EXPECT_FALSE(w2.layers[3][LayerTensor::IndexerAttnQB].present());
    gguf::Reader r4(kTinyQ4);
    EXPECT_EQ(bind_model(r4).layout.experts, ExpertLayout::Q4);
}

TEST(Weights, RoutedQuantBitsForTheDiskCacheHeader) {
    gguf::Reader r2(kTinyQ2), r4(kTinyQ4);
    EXPECT_EQ(routed_quant_bits(bind_model(r2)), 2);
    EXPECT_EQ(routed_quant_bits(bind_model(r4)), 4);
    using T = gguf::TensorType;
    for (T t : {T::IQ2_XXS, T::Q2_K, T::IQ2_XS, T::IQ1_S, T::Q3_K}) EXPECT_EQ(routed_quant_bits(t), 2) << gguf::type_name(t);
    for (T t : {T::Q4_K, T::Q4_0, T::IQ4_XS, T::MXFP4, T::Q8_0, T::F16, T::BF16, T::F32})
        EXPECT_EQ(routed_quant_bits(t), 4) << gguf::type_name(t);
}

TEST(Weights, WrongTensorTypeNamesTensorExpectedAndFound) {
    const std::string out = testing::temp_file("wrongtype.gguf");
    testing::copy_gguf(kTinyQ2, out, nullptr, [](testing::TensorEdit &e) {
        if (e.name == "blk.3.attn_norm.weight") e.type = gguf::TensorType::I32;
    });
    const std::string err = load_error(out);
    EXPECT_NE(err.find("blk.3.attn_norm.weight"), std::string::npos) << err;
    EXPECT_NE(err.find("expected type F32"), std::string::npos) << err;
    EXPECT_NE(err.find("found I32"), std::string::npos) << err;
}

TEST(Weights, WrongShapeNamesExpectedAndFound) {
    const std::string out = testing::temp_file("wrongshape.gguf");
    testing::copy_gguf(kTinyQ2, out, nullptr, [](testing::TensorEdit &e) {
        if (e.name == "blk.2.attn_q_b.weight") e.dims = {768, 96};  // transposed
    });
    const std::string err = load_error(out);
    EXPECT_NE(err.find("blk.2.attn_q_b.weight"), std::string::npos) << err;
    EXPECT_NE(err.find("expected shape [96, 768]"), std::string::npos) << err;
    EXPECT_NE(err.find("found [768, 96]"), std::string::npos) << err;
}

TEST(Weights, MissingTensorNamesIt) {
    const std::string out = testing::temp_file("missing.gguf");
    testing::copy_gguf(kTinyQ2, out, nullptr, [](testing::TensorEdit &e) {
        if (e.name == "blk.4.indexer_compressor_gate.weight") e.drop = true;
    });
    const std::string err = load_error(out);
    EXPECT_NE(err.find("missing tensor 'blk.4.indexer_compressor_gate.weight'"), std::string::npos) << err;
    EXPECT_NE(err.find("layer 4"), std::string::npos) << err;
}

TEST(Weights, HashTableWithBadExpertIsRejected) {
    const std::string out = testing::temp_file("badhash.gguf");
    testing::copy_gguf(kTinyQ2, out, nullptr, nullptr, {}, [](const std::string &name, std::vector<uint8_t> &b) {
        if (name != "blk.1.ffn_gate_tid2eid.weight") return;
        const int32_t bad = 9;  // only experts 0..7 exist
        std::memcpy(b.data() + 4 * (3 * 100 + 2), &bad, 4);  // token 100, slot 2
    });
    const std::string err = load_error(out);
    EXPECT_NE(err.find("blk.1.ffn_gate_tid2eid.weight"), std::string::npos) << err;
    EXPECT_NE(err.find("token 100 routes to expert 9"), std::string::npos) << err;
}

TEST(Weights, GateAndUpMustShareAType) {
    const std::string out = testing::temp_file("gateup.gguf");
    testing::copy_gguf(kTinyQ2, out, nullptr, [](testing::TensorEdit &e) {
        if (e.name == "blk.1.ffn_up_exps.weight") e.type = gguf::TensorType::Q2_K;
    });
    const std::string err = load_error(out);
    EXPECT_NE(err.find("gate and up experts must share a type"), std::string::npos) << err;
}

TEST(Weights, CompressorTensorInRawLayerIsAnError) {
    const std::string out = testing::temp_file("ratios.gguf");
    testing::copy_gguf(kTinyQ2, out, [](std::string &k, gguf::Value &v) {
        if (k == "deepseek4.attention.compress_ratios") v = gguf::Value::make_u32_array({0, 0, 0, 16, 4, 16});
        return true;
    }, nullptr);
    const std::string err = load_error(out);
    EXPECT_NE(err.find("blk.2."), std::string::npos) << err;
    EXPECT_NE(err.find("compress_ratios"), std::string::npos) << err;
}

TEST(Weights, OtherSupportedTypesLoadAsGenericLayout) {
    // An F32 attention projection is not the ds4 layout but dstar can compute with it.
    const std::string out = testing::temp_file("generic.gguf");
    testing::copy_gguf(kTinyQ2, out, nullptr, [](testing::TensorEdit &e) {
        if (e.name == "blk.0.attn_kv.weight") e.type = gguf::TensorType::F32;
    });
    gguf::Reader r(out);
    const ModelWeights w = bind_model(r);
    EXPECT_FALSE(w.layout.ds4_types);
    EXPECT_NE(w.layout.describe().find("non-ds4"), std::string::npos);
}

TEST(Config, MissingAndMistypedKeysAreNamed) {
    const std::string a = testing::temp_file("nokey.gguf");
    testing::copy_gguf(kTinyQ2, a, [](std::string &k, gguf::Value &) { return k != "deepseek4.attention.q_lora_rank"; },
                       nullptr);
    std::string err = load_error(a);
    EXPECT_NE(err.find("missing metadata key 'deepseek4.attention.q_lora_rank'"), std::string::npos) << err;

    const std::string b = testing::temp_file("badkeytype.gguf");
    testing::copy_gguf(kTinyQ2, b, [](std::string &k, gguf::Value &v) {
        if (k == "deepseek4.block_count") v = gguf::Value::make_string("six");
        return true;
    }, nullptr);
    err = load_error(b);
    EXPECT_NE(err.find("deepseek4.block_count"), std::string::npos) << err;
    EXPECT_NE(err.find("must be u32"), std::string::npos) << err;

    const std::string c = testing::temp_file("shortratios.gguf");
    testing::copy_gguf(kTinyQ2, c, [](std::string &k, gguf::Value &v) {
        if (k == "deepseek4.attention.compress_ratios") v = gguf::Value::make_u32_array({0, 0, 4});
        return true;
    }, nullptr);
    err = load_error(c);
    EXPECT_NE(err.find("compress_ratios has 3 entries, need 6"), std::string::npos) << err;
}

TEST(TensorTable, FlashLayoutHas1328TensorsAndThePublishedByteTotals) {
    const ModelConfig c = ModelConfig::flash();
    uint64_t count = 6, q2 = 0, q4 = 0;
    for (int g = 0; g < static_cast<int>(GlobalTensor::Count); g++) {
        const auto id = static_cast<GlobalTensor>(g);
        uint64_t b = 0;
        std::vector<uint64_t> d = expected_dims(id, c);
        gguf::row_bytes(spec(id).ds4_types[0], d[0], &b);
        for (size_t i = 1; i < d.size(); i++) b *= d[i];
        q2 += b;
        q4 += b;
    }
    for (uint32_t l = 0; l < c.n_layer; l++) {
        for (int i = 0; i < static_cast<int>(LayerTensor::Count); i++) {
            const auto id = static_cast<LayerTensor>(i);
            const bool bias = id == LayerTensor::ExpProbsB && !c.is_hash_layer(l);
            if (!is_required(id, c, l, false) && !bias) continue;
            count++;
            const std::vector<uint64_t> d = expected_dims(id, c, l, false);
            auto bytes = [&](gguf::TensorType t) {
                uint64_t b = 0;
                gguf::row_bytes(t, d[0], &b);
                for (size_t k = 1; k < d.size(); k++) b *= d[k];
                return b;
            };
            if (id == LayerTensor::FfnGateExps || id == LayerTensor::FfnUpExps) {
                q2 += bytes(gguf::TensorType::IQ2_XXS);
                q4 += bytes(gguf::TensorType::Q4_K);
            } else if (id == LayerTensor::FfnDownExps) {
                q2 += bytes(gguf::TensorType::Q2_K);
                q4 += bytes(gguf::TensorType::Q4_K);
            } else {
                q2 += bytes(spec(id).ds4_types[0]);
                q4 += bytes(spec(id).ds4_types[0]);
            }
        }
    }
    // model.md §2.4 / §2.5: 1328 tensors; 86,714,775,900 B (q2) and 164,628,167,004 B (q4).
    EXPECT_EQ(count, 1328u);
    EXPECT_EQ(q2, 86714775900ull);
    EXPECT_EQ(q4, 164628167004ull);
}

}  // namespace
}  // namespace dstar::model
