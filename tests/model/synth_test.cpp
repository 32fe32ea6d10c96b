// Synthetic files: exact ds4 layout, deterministic bytes, full-size layout checks.
#include "model/synth.h"

#include <gtest/gtest.h>

#include <fstream>

#include "common/error.h"
#include "common/mapped_file.h"
#include "gguf/reader.h"
#include "model/decode_bytes.h"
#include "model/gguf_edit.h"
#include "model/weights.h"
#include "tokenizer/hf_vocab.h"

namespace dstar::model {
namespace {

SynthOptions opts(SynthPreset p, const std::string &quant, uint32_t layers = 0) {
    SynthOptions o;
    o.preset = p;
    o.quant = quant;
    o.layers = layers;
    o.tokenizer_json = tok::default_npm_tokenizer_json();
    return o;
}

TEST(Synth, TinyMatchesTheOracleLayoutAndVocabulary) {
    const std::string path = testing::temp_file("synth_tiny.gguf");
    write_synthetic(path, opts(SynthPreset::Tiny, "q2"));
    gguf::Reader mine(path), oracle(std::string(DSTAR_SHARED_DIR) + "/testdata/ds4-oracle/tiny-q2.gguf");
    ASSERT_EQ(mine.tensors().size(), oracle.tensors().size());
    for (const auto &t : oracle.tensors()) {
        const gguf::TensorInfo *m = mine.find_tensor(t.name);
        ASSERT_NE(m, nullptr) << t.name;
        EXPECT_EQ(m->type, t.type) << t.name;
        EXPECT_EQ(m->dims, t.dims) << t.name;
    }
    for (const char *key : {"tokenizer.ggml.tokens", "tokenizer.ggml.merges"}) {
        const gguf::Value *a = mine.find(key), *b = oracle.find(key);
        ASSERT_TRUE(a && b) << key;
        ASSERT_EQ(a->items.size(), b->items.size()) << key;
        for (size_t i = 0; i < a->items.size(); i++) ASSERT_EQ(a->items[i].str, b->items[i].str) << key << "[" << i << "]";
    }
    const ModelWeights w = bind_model(mine);
    EXPECT_EQ(w.layout.experts, ExpertLayout::Q2);
    EXPECT_TRUE(w.layout.ds4_types);
}

TEST(Synth, SameOptionsSameBytesOtherSeedOtherBytes) {
    const std::string a = testing::temp_file("synth_a.gguf"), b = testing::temp_file("synth_b.gguf"),
                      c = testing::temp_file("synth_c.gguf");
    SynthOptions o = opts(SynthPreset::Tiny, "q4");
    write_synthetic(a, o);
    write_synthetic(b, o);
    o.seed = 2;
    write_synthetic(c, o);
    EXPECT_EQ(read_file(a), read_file(b));
    EXPECT_NE(read_file(a), read_file(c));
    gguf::Reader r(a);
    EXPECT_EQ(bind_model(r).layout.experts, ExpertLayout::Q4);
}

TEST(Synth, BytesDoNotDependOnThreadsOrChunking) {
    // Every chunk seeds its generator from the tensor's seed and its position, so neither
    // the thread count nor the chunk size changes a byte.  Tiny chunks (a few rows) put most
    // tensors' chunks at non-zero draw offsets, with three threads finishing out of order.
    const std::string one = testing::temp_file("synth_t1.gguf"), three = testing::temp_file("synth_t3.gguf");
    for (const char *quant : {"q2", "q4"}) {
        SynthOptions o = opts(SynthPreset::Tiny, quant);
        o.threads = 1;
        write_synthetic(one, o);
        o.threads = 3;
        o.chunk_bytes = 4096;
        write_synthetic(three, o);
        const std::string a = read_file(one), b = read_file(three);
        EXPECT_GT(a.size(), 1000000u);
        EXPECT_TRUE(a == b) << quant << ": files differ";
        // The data is made in a side file that becomes `path` only when complete.
        EXPECT_FALSE(std::ifstream(three + ".synth").good());
    }
}

TEST(Synth, MtpFileBindsAgainstItsMainModel) {
    const std::string path = testing::temp_file("synth_mtp.gguf");
    SynthOptions o = opts(SynthPreset::Tiny, "q2");
    o.mtp = true;
    write_synthetic(path, o);
    gguf::Reader r(path);
    const MtpWeights m = bind_mtp(r, synth_config(o));
    EXPECT_TRUE(m.ds4_types);
    EXPECT_EQ(m.block[LayerTensor::FfnGateExps].type, gguf::TensorType::Q4_K);
    EXPECT_EQ(m[MtpTensor::HcHeadFn].type, gguf::TensorType::F32);
    // Against another shape it names the first mismatching tensor.
    try {
        bind_mtp(r, ModelConfig::flash());
        FAIL() << "expected a shape error";
    } catch (const Error &e) {
        EXPECT_NE(std::string(e.what()).find("expected shape"), std::string::npos) << e.what();
    }
}

TEST(Synth, FullFlashLayoutIsRecognised) {
    // The full 43-layer q2 file, written sparse (tensor data as holes): every name, type
    // and shape of the published file, the published byte total, no disk space.
    const std::string path = testing::temp_file("synth_flash_q2.gguf");
    SynthOptions o = opts(SynthPreset::Flash, "q2");
    o.sparse = true;
    const SynthResult res = write_synthetic(path, o);
    EXPECT_EQ(res.n_tensors, 1328u);
    EXPECT_EQ(res.tensor_bytes, 86714775900ull);  // model.md §2.5
    gguf::Reader r(path);
    const ModelWeights w = bind_model(r);
    EXPECT_EQ(w.layout.experts, ExpertLayout::Q2);
    EXPECT_TRUE(w.layout.ds4_types);
    EXPECT_TRUE(w.layout.flash_shape);
    EXPECT_EQ(w.config.n_vocab, 129280u);
    // Bytes one decode step reads, model.md §6.1: indexer query weights only past 2051 tokens.
    EXPECT_EQ(decode_weight_bytes(w, 2051), 9193024420ull);
    EXPECT_EQ(decode_weight_bytes(w, 100000), 9556356004ull);
    std::remove(path.c_str());
}

TEST(Synth, FullFlashQ4DecodeBytes) {
    const std::string path = testing::temp_file("synth_flash_q4full.gguf");
    SynthOptions o = opts(SynthPreset::Flash, "q4");
    o.sparse = true;
    EXPECT_EQ(write_synthetic(path, o).tensor_bytes, 164628167004ull);
    gguf::Reader r(path);
    const ModelWeights w = bind_model(r);
    EXPECT_EQ(w.layout.experts, ExpertLayout::Q4);
    EXPECT_EQ(decode_weight_bytes(w, 1000), 11019119524ull);
    EXPECT_EQ(decode_weight_bytes(w, 1000000), 11382451108ull);
    std::remove(path.c_str());
}

TEST(Synth, FlashWithFewLayersQ4) {
    const std::string path = testing::temp_file("synth_flash_q4.gguf");
    SynthOptions o = opts(SynthPreset::Flash, "q4", 3);
    o.sparse = true;
    write_synthetic(path, o);
    gguf::Reader r(path);
    const ModelWeights w = bind_model(r);
    EXPECT_EQ(w.layout.experts, ExpertLayout::Q4);
    EXPECT_FALSE(w.layout.flash_shape);
    EXPECT_EQ(w.config.n_layer, 3u);
    EXPECT_EQ(w.config.compress_ratio, (std::vector<uint32_t>{0, 0, 4}));
    std::remove(path.c_str());
}

TEST(Synth, BadOptionsAreRejected) {
    SynthOptions o = opts(SynthPreset::Tiny, "q3");
    EXPECT_THROW(write_synthetic(testing::temp_file("bad.gguf"), o), Error);
    o = opts(SynthPreset::Tiny, "q2");
    o.tokenizer_json = "/nonexistent/tokenizer.json";
    EXPECT_THROW(write_synthetic(testing::temp_file("bad2.gguf"), o), Error);
}

}  // namespace
}  // namespace dstar::model
