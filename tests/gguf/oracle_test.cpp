// The reader on the real-layout oracle files (shared/testdata/ds4-oracle/tiny-q{2,4}.gguf,
// written by the ds4 tooling's synthetic generator): they must parse, and a few known facts
// must hold.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include "gguf/reader.h"

namespace dstar::gguf {
namespace {

const std::string kOracleDir = DSTAR_SHARED_DIR "/testdata/ds4-oracle/";

bool file_exists(const std::string &path) {
    struct stat st{};
    return ::stat(path.c_str(), &st) == 0;
}

void check_common(const Reader &r) {
    EXPECT_EQ(r.version(), 3u);
    EXPECT_EQ(r.alignment(), 32u);
    EXPECT_EQ(r.data_offset() % 32, 0u);

    const Value *arch = r.find("general.architecture");
    ASSERT_NE(arch, nullptr);
    EXPECT_EQ(arch->type, ValueType::STRING);
    EXPECT_EQ(arch->str, "deepseek4");

    const Value *blocks = r.find("deepseek4.block_count");
    ASSERT_NE(blocks, nullptr);
    EXPECT_EQ(blocks->type, ValueType::U32);
    EXPECT_EQ(blocks->u, 6u);  // the tiny model has 6 layers

    const Value *ratios = r.find("deepseek4.attention.compress_ratios");
    ASSERT_NE(ratios, nullptr);
    EXPECT_EQ(ratios->to_string(), "[u32 x 6: 0, 0, 4, 16, 4, 16]");

    const Value *clamp = r.find("deepseek4.swiglu_clamp_exp");
    ASSERT_NE(clamp, nullptr);
    ASSERT_EQ(clamp->elem_type, ValueType::F32);
    EXPECT_EQ(clamp->items.size(), 6u);
    EXPECT_EQ(clamp->items[0].f, 10.0);

    const Value *norm = r.find("deepseek4.expert_weights_norm");
    ASSERT_NE(norm, nullptr);
    EXPECT_EQ(norm->type, ValueType::BOOL);
    EXPECT_EQ(norm->u, 1u);

    const Value *eps = r.find("deepseek4.attention.layer_norm_rms_epsilon");
    ASSERT_NE(eps, nullptr);
    EXPECT_EQ(eps->type, ValueType::F32);
    EXPECT_EQ(eps->to_string(), "1e-06");

    const Value *tokens = r.find("tokenizer.ggml.tokens");
    ASSERT_NE(tokens, nullptr);
    EXPECT_EQ(tokens->elem_type, ValueType::STRING);
    EXPECT_EQ(tokens->items.size(), 4096u);  // = vocab_size
    EXPECT_EQ(tokens->items[0].str, "<｜begin▁of▁sentence｜>");

    const TensorInfo *embd = r.find_tensor("token_embd.weight");
    ASSERT_NE(embd, nullptr);
    EXPECT_EQ(embd->type, TensorType::F16);
    EXPECT_EQ(embd->dims, (std::vector<uint64_t>{256, 4096}));
    EXPECT_EQ(embd->n_bytes, 256u * 4096u * 2u);
    EXPECT_EQ(r.tensor_data(*embd), r.file().data() + r.data_offset() + embd->offset);

    const TensorInfo *norm_w = r.find_tensor("blk.0.attn_norm.weight");
    ASSERT_NE(norm_w, nullptr);
    EXPECT_EQ(norm_w->type, TensorType::F32);
    EXPECT_EQ(norm_w->dims, (std::vector<uint64_t>{256}));

    const TensorInfo *q_a = r.find_tensor("blk.0.attn_q_a.weight");
    ASSERT_NE(q_a, nullptr);
    EXPECT_EQ(q_a->type, TensorType::Q8_0);

    // Every tensor of the 6 layers is found by name and lies inside the file.
    uint64_t total = 0;
    for (const TensorInfo &t : r.tensors()) {
        EXPECT_LE(t.file_offset + t.n_bytes, r.file_size()) << t.name;
        total += t.n_bytes;
    }
    EXPECT_LE(total, r.file_size());
    EXPECT_NE(r.find_tensor("blk.5.attn_norm.weight"), nullptr);
    EXPECT_EQ(r.find_tensor("blk.6.attn_norm.weight"), nullptr);
}

std::string oracle(const std::string &name) {
    const std::string path = kOracleDir + name;
    if (!file_exists(path))
        ADD_FAILURE() << "oracle file " << path << " is missing (set -DDSTAR_SHARED_DIR=<shared/> when "
                      << "configuring; it must contain testdata/ds4-oracle/" << name << ")";
    return path;
}

TEST(GgufOracle, TinyQ2Parses) {
    const std::string path = oracle("tiny-q2.gguf");
    if (!file_exists(path)) return;
    const Reader r(path);
    check_common(r);
    const TensorInfo *down = r.find_tensor("blk.3.ffn_down_exps.weight");
    ASSERT_NE(down, nullptr);
    EXPECT_EQ(down->type, TensorType::Q2_K);
    const TensorInfo *gate = r.find_tensor("blk.3.ffn_gate_exps.weight");
    ASSERT_NE(gate, nullptr);
    EXPECT_EQ(gate->type, TensorType::IQ2_XXS);
    const TensorInfo *tid = r.find_tensor("blk.0.ffn_gate_tid2eid.weight");
    ASSERT_NE(tid, nullptr);
    EXPECT_EQ(tid->type, TensorType::I32);
}

TEST(GgufOracle, TinyQ4Parses) {
    const std::string path = oracle("tiny-q4.gguf");
    if (!file_exists(path)) return;
    const Reader r(path);
    check_common(r);
    for (const char *name : {"blk.3.ffn_down_exps.weight", "blk.3.ffn_gate_exps.weight", "blk.3.ffn_up_exps.weight"}) {
        const TensorInfo *t = r.find_tensor(name);
        ASSERT_NE(t, nullptr) << name;
        EXPECT_EQ(t->type, TensorType::Q4_K) << name;
    }
}

}  // namespace
}  // namespace dstar::gguf
