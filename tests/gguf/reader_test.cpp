// Tests of gguf/reader.cpp on valid input: hand-built images and files on disk.
#include <gtest/gtest.h>

#include "common/mapped_file.h"
#include "gguf/raw_gguf.h"
#include "gguf/reader.h"
#include "gguf/test_util.h"

namespace dstar::gguf {
namespace {

using namespace test;

TEST(GgufReader, ParsesMinimalHandBuiltImage) {
    RawGguf g;
    g.kvs = {kv_str("general.architecture", "deepseek4"), kv_u32("deepseek4.block_count", 6),
             kv_raw("deepseek4.expert_weights_norm", 7, std::string(1, '\1'))};
    g.tensors = {{"a", {4, 2}, 0, 0}, {"b", {32}, 8, 32}};  // F32 [4, 2]; Q8_0 [32]
    g.data_bytes = 32 + 34;
    const std::string image = g.build();
    const Parsed p = parse_string(image);
    EXPECT_EQ(p.version, 3u);
    EXPECT_EQ(p.alignment, 32u);  // no key: default
    ASSERT_EQ(p.metadata.size(), 3u);
    EXPECT_EQ(p.metadata[0].first, "general.architecture");
    EXPECT_EQ(p.metadata[0].second.str, "deepseek4");
    EXPECT_EQ(p.metadata[1].second.type, ValueType::U32);
    EXPECT_EQ(p.metadata[1].second.u, 6u);
    EXPECT_EQ(p.metadata[2].second.type, ValueType::BOOL);
    EXPECT_EQ(p.metadata[2].second.u, 1u);
    EXPECT_EQ(p.key_index.at("deepseek4.block_count"), 1u);
    ASSERT_EQ(p.tensors.size(), 2u);
    EXPECT_EQ(p.data_offset % 32, 0u);
    EXPECT_EQ(p.data_offset + 66, image.size());
    const TensorInfo &a = p.tensors[0];
    EXPECT_EQ(a.shape_string(), "[4, 2]");
    EXPECT_EQ(a.n_elements, 8u);
    EXPECT_EQ(a.n_bytes, 32u);
    EXPECT_EQ(a.dim(0), 4u);
    EXPECT_EQ(a.dim(1), 2u);
    EXPECT_EQ(a.dim(5), 1u);
    EXPECT_EQ(a.file_offset, p.data_offset);
    const TensorInfo &b = p.tensors[1];
    EXPECT_EQ(b.type, TensorType::Q8_0);
    EXPECT_EQ(b.n_bytes, 34u);
    EXPECT_EQ(b.file_offset, p.data_offset + 32);
    EXPECT_EQ(p.tensor_index.at("b"), 1u);
}

TEST(GgufReader, DataOrderNeedNotBeDirectoryOrder) {
    RawGguf g;
    g.tensors = {{"second", {8}, 0, 32}, {"first", {8}, 0, 0}};
    g.data_bytes = 64;
    const Parsed p = parse_string(g.build());
    EXPECT_EQ(p.tensors[0].offset, 32u);
    EXPECT_EQ(p.tensors[1].offset, 0u);
}

TEST(GgufReader, TensorsMayTouchWithoutGap) {
    RawGguf g;
    g.tensors = {{"a", {8}, 0, 0}, {"b", {8}, 0, 32}};  // a is exactly [0, 32)
    g.data_bytes = 64;
    EXPECT_NO_THROW(parse_string(g.build()));
}

TEST(GgufReader, AlignmentKeyMovesTheDataSection) {
    RawGguf g;
    g.kvs = {kv_u32("general.alignment", 256)};
    g.pad_alignment = 256;
    g.tensors = {{"a", {1}, 0, 256}};
    g.data_bytes = 260;
    const Parsed p = parse_string(g.build());
    EXPECT_EQ(p.alignment, 256u);
    EXPECT_EQ(p.data_offset, 256u);
    EXPECT_EQ(p.tensors[0].file_offset, 512u);
}

TEST(GgufReader, AlignmentOneIsAccepted) {
    RawGguf g;
    g.kvs = {kv_u32("general.alignment", 1)};
    g.pad_alignment = 1;
    g.tensors = {{"a", {1}, 24, 3}};  // I8 at an odd offset
    g.data_bytes = 4;
    const Parsed p = parse_string(g.build());
    EXPECT_EQ(p.alignment, 1u);
    EXPECT_EQ(p.tensors[0].file_offset, p.data_offset + 3);
}

TEST(GgufReader, EmptyFileWithoutTensorsOrKeys) {
    RawGguf g;
    const Parsed p = parse_string(g.build());
    EXPECT_TRUE(p.metadata.empty());
    EXPECT_TRUE(p.tensors.empty());
    EXPECT_EQ(p.data_offset, 32u);
}

TEST(GgufReader, ReaderMapsFileAndFindsThings) {
    ScratchDir dir;
    RawGguf g;
    g.kvs = {kv_u32("deepseek4.block_count", 6)};
    g.tensors = {{"token_embd.weight", {4, 2}, 1, 0}};  // F16
    g.data_bytes = 16;
    const std::string image = g.build();
    write_file_atomic(dir.file("r.gguf"), image.data(), image.size());
    Reader r(dir.file("r.gguf"));
    EXPECT_EQ(r.path(), dir.file("r.gguf"));
    EXPECT_EQ(r.file_size(), image.size());
    EXPECT_EQ(r.version(), 3u);
    ASSERT_NE(r.find("deepseek4.block_count"), nullptr);
    EXPECT_EQ(r.find("deepseek4.block_count")->u, 6u);
    EXPECT_EQ(r.find("nope"), nullptr);
    const TensorInfo *t = r.find_tensor("token_embd.weight");
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(r.tensor_data(*t), r.file().data() + r.data_offset());
    EXPECT_EQ(r.tensor_data(*t)[0], static_cast<uint8_t>(1));  // RawGguf data pattern k*7+1
    EXPECT_EQ(r.tensor_data(*t)[1], static_cast<uint8_t>(8));
    EXPECT_EQ(r.find_tensor("nope"), nullptr);
}

TEST(GgufReader, ReaderErrorsNameThePath) {
    ScratchDir dir;
    EXPECT_CONTAINS(error_of([&] { Reader r(dir.file("missing.gguf")); }), dir.file("missing.gguf"));
    write_file_atomic(dir.file("empty.gguf"), "", 0);
    const std::string msg = error_of([&] { Reader r(dir.file("empty.gguf")); });
    EXPECT_CONTAINS(msg, dir.file("empty.gguf") + ": ");
    EXPECT_CONTAINS(msg, "too small");
}

}  // namespace
}  // namespace dstar::gguf
