// Safetensors reading and writing: round trips, layout, shard discovery, the real checkpoint.
#include "convert/safetensors.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "common/fp16.h"
#include "convert/hf_dtypes.h"
#include "convert/st_test_util.h"

namespace dstar::convert {
namespace {

using test::add_vec;
using test::error_of;
using test::ScratchDir;

TEST(StDtype, NamesAndSizesRoundTrip) {
    const std::pair<StDtype, uint64_t> all[] = {
        {StDtype::F64, 8}, {StDtype::F32, 4}, {StDtype::F16, 2}, {StDtype::BF16, 2},
        {StDtype::F8_E4M3, 1}, {StDtype::F8_E8M0, 1}, {StDtype::I64, 8}, {StDtype::I32, 4},
        {StDtype::I16, 2}, {StDtype::I8, 1}, {StDtype::U8, 1}, {StDtype::BOOL, 1}};
    for (const auto &[t, size] : all) {
        EXPECT_EQ(st_dtype_size(t), size) << st_dtype_name(t);
        StDtype back{};
        ASSERT_TRUE(st_dtype_from_name(st_dtype_name(t), &back)) << st_dtype_name(t);
        EXPECT_EQ(back, t);
    }
    StDtype t{};
    EXPECT_FALSE(st_dtype_from_name("bf16", &t));  // case matters in the format
    EXPECT_FALSE(st_dtype_from_name("F8_E5M2", &t));
    EXPECT_FALSE(st_dtype_from_name("", &t));
}

TEST(StTensor, ElementsOfScalarAndEmpty) {
    StTensor t;
    EXPECT_EQ(t.n_elements(), 1u);  // shape [] is a scalar
    t.shape = {3, 0, 5};
    EXPECT_EQ(t.n_elements(), 0u);
    t.shape = {512, 64};
    EXPECT_EQ(t.n_elements(), 32768u);
    EXPECT_EQ(shape_str(t.shape), "[512, 64]");
}

TEST(SafetensorsWriter, RoundTripsEveryKindOfTensor) {
    ScratchDir dir;
    SafetensorsWriter w;
    const std::vector<float> f32 = {1.0f, -2.5f, 3.25f, 0.0f, 1e-30f, -7.0f};
    const std::vector<uint16_t> bf16 = {f32_to_bf16(1.0f), f32_to_bf16(-0.5f), f32_to_bf16(3.140625f)};
    const std::vector<uint16_t> f16 = {0x3c00, 0xc000, 0x0001, 0x7bff};
    const std::vector<int64_t> i64 = {0, 7, -1, 5};
    const std::vector<uint8_t> u8 = {255};
    add_vec(w, "a.f32", StDtype::F32, {2, 3}, f32);
    add_vec(w, "b.bf16", StDtype::BF16, {3}, bf16);
    add_vec(w, "c.f16", StDtype::F16, {2, 2}, f16);
    add_vec(w, "d.i64", StDtype::I64, {2, 2}, i64);
    add_vec(w, "e.scalar", StDtype::U8, {}, u8);
    w.add("f.empty", StDtype::F32, {0, 4}, nullptr, 0);
    w.set_metadata("format", "pt");
    EXPECT_EQ(w.names(), (std::vector<std::string>{"a.f32", "b.bf16", "c.f16", "d.i64", "e.scalar", "f.empty"}));

    const std::string image = w.serialize();
    uint64_t n = 0;
    std::memcpy(&n, image.data(), 8);
    EXPECT_EQ((8 + n) % 8, 0u) << "data section must start 8-byte aligned";
    EXPECT_EQ(image.size(), 8 + n + w.data_bytes());
    const std::string header = image.substr(8, n);
    EXPECT_EQ(header.front(), '{');
    EXPECT_EQ(header.find_last_not_of(' '), header.rfind('}')) << "padding is spaces after the JSON";
    EXPECT_EQ(nlohmann::json::parse(header)["__metadata__"]["format"], "pt");

    w.write(dir.file("model.safetensors"));
    const Checkpoint ck(dir.path());
    EXPECT_EQ(ck.dir(), dir.path());
    ASSERT_EQ(ck.tensors().size(), 6u);
    // tensors() is data-section order, which is add order for the writer.
    for (size_t i = 0; i < ck.tensors().size(); i++) EXPECT_EQ(ck.tensors()[i].name, w.names()[i]);

    const StTensor *a = ck.find("a.f32");
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(a->dtype, StDtype::F32);
    EXPECT_EQ(a->shape, (std::vector<uint64_t>{2, 3}));
    EXPECT_EQ(a->n_bytes, 24u);
    EXPECT_EQ(a->file, dir.file("model.safetensors"));
    EXPECT_EQ(to_f32(*a), f32);

    const std::vector<float> b = to_f32(*ck.find("b.bf16"));
    EXPECT_EQ(b, (std::vector<float>{1.0f, -0.5f, 3.140625f}));
    const std::vector<float> c = to_f32(*ck.find("c.f16"));
    EXPECT_EQ(c, (std::vector<float>{1.0f, -2.0f, std::ldexp(1.0f, -24), 65504.0f}));
    EXPECT_EQ(to_i32(*ck.find("d.i64")), (std::vector<int32_t>{0, 7, -1, 5}));
    const StTensor *s = ck.find("e.scalar");
    ASSERT_NE(s, nullptr);
    EXPECT_TRUE(s->shape.empty());
    EXPECT_EQ(to_f32(*s), std::vector<float>{255.0f});
    const StTensor *e = ck.find("f.empty");
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->n_elements(), 0u);
    EXPECT_TRUE(to_f32(*e).empty());
    EXPECT_EQ(ck.find("nope"), nullptr);

    const SafetensorsFile file(dir.file("model.safetensors"));
    EXPECT_EQ(file.metadata().at("format"), "pt");
}

TEST(SafetensorsWriter, RejectsBadInput) {
    SafetensorsWriter w;
    const float x[4] = {};
    w.add("x", StDtype::F32, {4}, x, sizeof x);
    EXPECT_CONTAINS(error_of([&] { w.add("x", StDtype::F32, {4}, x, sizeof x); }), "'x' added twice");
    EXPECT_CONTAINS(error_of([&] { w.add("y", StDtype::F32, {5}, x, sizeof x); }), "16 bytes given, F32 [5] needs 20");
    EXPECT_CONTAINS(error_of([&] { w.add("__metadata__", StDtype::F32, {4}, x, sizeof x); }), "invalid tensor name");
    EXPECT_CONTAINS(error_of([&] { w.add("", StDtype::F32, {4}, x, sizeof x); }), "invalid tensor name");
}

// A tensor at an odd offset: the reader hands out unaligned pointers and the converters must
// still read them correctly.
TEST(SafetensorsFile, ReadsUnalignedTensors) {
    ScratchDir dir;
    const float v[2] = {1.5f, -3.0f};
    std::string data(1, '\x2a');
    data.append(reinterpret_cast<const char *>(v), sizeof v);
    test::write_raw_safetensors(dir.file("x.safetensors"),
                                R"({"pad":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                                R"("v":{"dtype":"F32","shape":[2],"data_offsets":[1,9]}})",
                                data);
    const SafetensorsFile f(dir.file("x.safetensors"));
    ASSERT_EQ(f.tensors().size(), 2u);
    EXPECT_EQ(f.tensors()[1].name, "v");
    EXPECT_EQ(to_f32(f.tensors()[1]), (std::vector<float>{1.5f, -3.0f}));
    EXPECT_TRUE(f.metadata().empty());
}

// Holes between tensors and a header order unlike the data order are both legal.
TEST(SafetensorsFile, SortsByOffsetAndAllowsHoles) {
    ScratchDir dir;
    test::write_raw_safetensors(dir.file("x.safetensors"),
                                R"({"z":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},)"
                                R"("a":{"dtype":"U8","shape":[2],"data_offsets":[6,8]},)"
                                R"("m":{"dtype":"U8","shape":[0],"data_offsets":[4,4]}})",
                                std::string("\x01\x02\x00\x00\x00\x00\x03\x04", 8));
    const SafetensorsFile f(dir.file("x.safetensors"));
    ASSERT_EQ(f.tensors().size(), 3u);
    EXPECT_EQ(f.tensors()[0].name, "z");
    EXPECT_EQ(f.tensors()[1].name, "m");
    EXPECT_EQ(f.tensors()[2].name, "a");
    EXPECT_EQ(to_f32(f.tensors()[2]), (std::vector<float>{3.0f, 4.0f}));
}

// Three shards and an index: names resolve across shards, shards open in sorted order.
TEST(Checkpoint, ReadsShardsThroughTheIndex) {
    ScratchDir dir;
    SafetensorsWriter s1, s2, s3;
    add_vec(s1, "embed.weight", StDtype::F32, {2, 2}, std::vector<float>{1, 2, 3, 4});
    add_vec(s2, "layers.0.w.weight", StDtype::BF16, {2}, std::vector<uint16_t>{0x3f80, 0x4000});
    add_vec(s2, "layers.0.tid2eid", StDtype::I64, {2}, std::vector<int64_t>{3, 1});
    add_vec(s3, "head.weight", StDtype::F32, {1}, std::vector<float>{9});
    // Listed out of order on purpose: the reader sorts shard names.
    test::write_sharded_checkpoint(dir.path(), {{"model-00002-of-00003.safetensors", &s2},
                                                {"model-00003-of-00003.safetensors", &s3},
                                                {"model-00001-of-00003.safetensors", &s1}});
    const Checkpoint ck(dir.path());
    EXPECT_EQ(ck.files(), (std::vector<std::string>{dir.file("model-00001-of-00003.safetensors"),
                                                    dir.file("model-00002-of-00003.safetensors"),
                                                    dir.file("model-00003-of-00003.safetensors")}));
    ASSERT_EQ(ck.tensors().size(), 4u);
    EXPECT_EQ(ck.tensors()[0].name, "embed.weight");
    EXPECT_EQ(ck.tensors()[3].name, "head.weight");
    const StTensor *w = ck.find("layers.0.w.weight");
    ASSERT_NE(w, nullptr);
    EXPECT_EQ(w->file, dir.file("model-00002-of-00003.safetensors"));
    EXPECT_EQ(to_f32(*w), (std::vector<float>{1.0f, 2.0f}));
    EXPECT_EQ(to_i32(*ck.find("layers.0.tid2eid")), (std::vector<int32_t>{3, 1}));
    EXPECT_EQ(to_f32(*ck.find("head.weight")), std::vector<float>{9.0f});
}

// model.safetensors wins over an index (transformers' lookup order); stray shards are ignored.
TEST(Checkpoint, PrefersTheSingleFile) {
    ScratchDir dir;
    SafetensorsWriter single, shard;
    add_vec(single, "only.single", StDtype::F32, {1}, std::vector<float>{1});
    add_vec(shard, "only.shard", StDtype::F32, {1}, std::vector<float>{2});
    test::write_sharded_checkpoint(dir.path(), {{"model-00001-of-00001.safetensors", &shard}});
    single.write(dir.file("model.safetensors"));
    const Checkpoint ck(dir.path());
    EXPECT_EQ(ck.files(), std::vector<std::string>{dir.file("model.safetensors")});
    EXPECT_NE(ck.find("only.single"), nullptr);
    EXPECT_EQ(ck.find("only.shard"), nullptr);
}

// Without model.safetensors or an index: every *.safetensors, sorted by file name.
TEST(Checkpoint, GlobsSafetensorsFilesInNameOrder) {
    ScratchDir dir;
    SafetensorsWriter a, b, c;
    add_vec(a, "t.b", StDtype::F32, {1}, std::vector<float>{2});
    add_vec(b, "t.a", StDtype::F32, {1}, std::vector<float>{1});
    add_vec(c, "t.c", StDtype::F32, {1}, std::vector<float>{3});
    b.write(dir.file("a.safetensors"));
    a.write(dir.file("b.safetensors"));
    c.write(dir.file("c.safetensors"));
    test::write_text(dir.file("notes.txt"), "not a tensor file");
    test::write_text(dir.file("config.json"), "{}");
    const Checkpoint ck(dir.path());
    EXPECT_EQ(ck.files(), (std::vector<std::string>{dir.file("a.safetensors"), dir.file("b.safetensors"),
                                                    dir.file("c.safetensors")}));
    ASSERT_EQ(ck.tensors().size(), 3u);
    EXPECT_EQ(ck.tensors()[0].name, "t.a");
    EXPECT_EQ(ck.tensors()[1].name, "t.b");
    EXPECT_EQ(ck.tensors()[2].name, "t.c");
}

TEST(Checkpoint, EmptyOrMissingFolderIsAnError) {
    ScratchDir dir;
    test::write_text(dir.file("config.json"), "{}");
    EXPECT_CONTAINS(error_of([&] { Checkpoint ck(dir.path()); }), "has no model.safetensors");
    EXPECT_CONTAINS(error_of([&] { Checkpoint ck(dir.file("absent")); }), "does not exist or is not a folder");
}

// A checkpoint saved by transformers (DeepseekV4ForCausalLM, 5 layers, all F32 but tid2eid).
TEST(Checkpoint, ReadsTheTransformersCheckpoint) {
    const std::string dir = std::string(DSTAR_SHARED_DIR) + "/testdata/hf-ref/hf-b-5layer";
    const Checkpoint ck(dir);
    EXPECT_EQ(ck.files(), std::vector<std::string>{dir + "/model.safetensors"});

    const StTensor *head = ck.find("head.weight");
    ASSERT_NE(head, nullptr);
    EXPECT_EQ(head->dtype, StDtype::F32);
    EXPECT_EQ(head->shape, (std::vector<uint64_t>{512, 64}));
    std::vector<uint64_t> shape;
    const std::vector<float> hv = load_weight_f32(ck, "head.weight", &shape);
    EXPECT_EQ(shape, (std::vector<uint64_t>{512, 64}));
    ASSERT_EQ(hv.size(), 512u * 64u);
    EXPECT_EQ(std::memcmp(hv.data(), head->data, head->n_bytes), 0);
    bool any_nonzero = false;
    for (float v : hv) {
        ASSERT_TRUE(std::isfinite(v));
        any_nonzero |= v != 0.0f;
    }
    EXPECT_TRUE(any_nonzero);

    const StTensor *tid = ck.find("model.layers.0.ffn.gate.tid2eid");
    ASSERT_NE(tid, nullptr);
    EXPECT_EQ(tid->dtype, StDtype::I64);
    EXPECT_EQ(tid->shape, (std::vector<uint64_t>{512, 2}));
    const std::vector<int32_t> ids = to_i32(*tid);
    ASSERT_EQ(ids.size(), 1024u);
    for (int32_t id : ids) {
        EXPECT_GE(id, 0);
        EXPECT_LE(id, 7);
    }

    // Every tensor converts, and none is a companion scale.
    for (const StTensor &t : ck.tensors()) {
        EXPECT_EQ(to_f32(t).size(), t.n_elements()) << t.name;
        EXPECT_FALSE(is_companion_scale(ck, t.name)) << t.name;
    }
}

}  // namespace
}  // namespace dstar::convert
