// Tests of gguf/writer.cpp: Writer -> Reader round trips and the writer's own errors.
#include <gtest/gtest.h>

#include <csignal>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <sys/resource.h>

#include "common/mapped_file.h"
#include "gguf/reader.h"
#include "gguf/writer.h"
#include "gguf/test_util.h"

namespace dstar::gguf {
namespace {

using test::error_of;
using test::ScratchDir;

bool exists(const std::string &path) { return std::filesystem::exists(path); }

Value scalar(ValueType t, uint64_t u, int64_t i = 0) {
    Value v;
    v.type = t;
    v.u = u;
    v.i = i;
    return v;
}

// Exact equality, floats compared by bits (NaN, -0.0).
void expect_same(const Value &a, const Value &b, const std::string &where) {
    ASSERT_EQ(a.type, b.type) << where;
    switch (a.type) {
    case ValueType::F32: {
        const float fa = static_cast<float>(a.f), fb = static_cast<float>(b.f);
        EXPECT_EQ(std::memcmp(&fa, &fb, 4), 0) << where << ": " << fa << " vs " << fb;
        return;
    }
    case ValueType::F64:
        EXPECT_EQ(std::memcmp(&a.f, &b.f, 8), 0) << where << ": " << a.f << " vs " << b.f;
        return;
    case ValueType::STRING:
        EXPECT_EQ(a.str, b.str) << where;
        return;
    case ValueType::ARRAY:
        ASSERT_EQ(a.elem_type, b.elem_type) << where;
        ASSERT_EQ(a.items.size(), b.items.size()) << where;
        for (size_t k = 0; k < a.items.size(); k++)
            expect_same(a.items[k], b.items[k], where + "[" + std::to_string(k) + "]");
        return;
    default:
        EXPECT_EQ(a.u, b.u) << where;
        EXPECT_EQ(a.i, b.i) << where;
    }
}

std::vector<std::pair<std::string, Value>> every_value() {
    std::vector<std::pair<std::string, Value>> kv;
    kv.emplace_back("t.u8.min", scalar(ValueType::U8, 0));
    kv.emplace_back("t.u8.max", scalar(ValueType::U8, 255));
    kv.emplace_back("t.i8.min", scalar(ValueType::I8, 0, -128));
    kv.emplace_back("t.i8.max", scalar(ValueType::I8, 0, 127));
    kv.emplace_back("t.u16", scalar(ValueType::U16, 65535));
    kv.emplace_back("t.i16", scalar(ValueType::I16, 0, -32768));
    kv.emplace_back("t.u32", Value::make_u32(std::numeric_limits<uint32_t>::max()));
    kv.emplace_back("t.i32", Value::make_i32(std::numeric_limits<int32_t>::min()));
    kv.emplace_back("t.u64", Value::make_u64(std::numeric_limits<uint64_t>::max()));
    kv.emplace_back("t.i64", scalar(ValueType::I64, 0, std::numeric_limits<int64_t>::min()));
    kv.emplace_back("t.f32", Value::make_f32(1e-6f));
    kv.emplace_back("t.f32.neg_zero", Value::make_f32(-0.0f));
    kv.emplace_back("t.f32.inf", Value::make_f32(std::numeric_limits<float>::infinity()));
    kv.emplace_back("t.f32.nan", Value::make_f32(std::numeric_limits<float>::quiet_NaN()));
    kv.emplace_back("t.f32.denorm", Value::make_f32(std::numeric_limits<float>::denorm_min()));
    kv.emplace_back("t.f64", Value::make_f64(0.1));
    kv.emplace_back("t.f64.max", Value::make_f64(std::numeric_limits<double>::max()));
    kv.emplace_back("t.bool.true", Value::make_bool(true));
    kv.emplace_back("t.bool.false", Value::make_bool(false));
    kv.emplace_back("t.string", Value::make_string("deepseek4"));
    kv.emplace_back("t.string.empty", Value::make_string(""));
    kv.emplace_back("t.string.unicode", Value::make_string("<｜begin▁of▁sentence｜> 日本語 ✓ \xc4\xa0"));
    kv.emplace_back("t.ключ.键", Value::make_string("non-ASCII key (the spec wants ASCII; we keep bytes)"));
    kv.emplace_back("t.string.nul", Value::make_string(std::string("a\0b", 3)));
    kv.emplace_back("t.array.u8", Value::make_array(ValueType::U8, {scalar(ValueType::U8, 1), scalar(ValueType::U8, 2)}));
    kv.emplace_back("t.array.u32", Value::make_u32_array({0, 0, 4, 16, 4, 16}));
    kv.emplace_back("t.array.i32", Value::make_i32_array({-1, 0, 1}));
    kv.emplace_back("t.array.f32", Value::make_f32_array({10.0f, -2.5f}));
    kv.emplace_back("t.array.f64", Value::make_array(ValueType::F64, {Value::make_f64(1e300)}));
    kv.emplace_back("t.array.bool", Value::make_array(ValueType::BOOL, {Value::make_bool(true), Value::make_bool(false)}));
    kv.emplace_back("t.array.u64", Value::make_array(ValueType::U64, {Value::make_u64(1ull << 63)}));
    kv.emplace_back("t.array.i64", Value::make_array(ValueType::I64, {scalar(ValueType::I64, 0, -2)}));
    kv.emplace_back("t.array.u16", Value::make_array(ValueType::U16, {scalar(ValueType::U16, 513)}));
    kv.emplace_back("t.array.i16", Value::make_array(ValueType::I16, {scalar(ValueType::I16, 0, -513)}));
    kv.emplace_back("t.array.i8", Value::make_array(ValueType::I8, {scalar(ValueType::I8, 0, -1)}));
    kv.emplace_back("t.array.string", Value::make_string_array({"<bos>", "", "Ġt", "日本", std::string("\0", 1)}));
    kv.emplace_back("t.array.empty_u8", Value::make_array(ValueType::U8, {}));
    kv.emplace_back("t.array.empty_string", Value::make_array(ValueType::STRING, {}));
    kv.emplace_back("t.array.empty_array", Value::make_array(ValueType::ARRAY, {}));
    kv.emplace_back("t.array.of_empty",
                    Value::make_array(ValueType::ARRAY, {Value::make_string_array({}), Value::make_string_array({"x"})}));
    // Eight levels of nesting, the most the reader accepts.
    Value deep = Value::make_string_array({"leaf", ""});
    for (int d = 1; d < 8; d++) deep = Value::make_array(ValueType::ARRAY, {deep, deep});
    kv.emplace_back("t.array.depth8", deep);
    return kv;
}

TEST(GgufWriter, RoundTripsEveryValueType) {
    ScratchDir dir;
    const std::string path = dir.file("values.gguf");
    const auto kvs = every_value();
    {
        Writer w(path);
        for (const auto &kv : kvs) w.add_kv(kv.first, kv.second);
        w.begin_data();
        w.finish();
    }
    EXPECT_FALSE(exists(path + ".partial"));
    Reader r(path);
    EXPECT_EQ(r.version(), 3u);
    EXPECT_EQ(r.alignment(), 32u);
    EXPECT_TRUE(r.tensors().empty());
    ASSERT_EQ(r.metadata().size(), kvs.size());  // default alignment: no key added
    for (size_t k = 0; k < kvs.size(); k++) {
        EXPECT_EQ(r.metadata()[k].first, kvs[k].first);  // file order kept
        expect_same(r.metadata()[k].second, kvs[k].second, kvs[k].first);
        ASSERT_NE(r.find(kvs[k].first), nullptr);
        expect_same(*r.find(kvs[k].first), kvs[k].second, kvs[k].first);
    }
    EXPECT_EQ(r.find("t.missing"), nullptr);
    EXPECT_EQ(r.data_offset() % 32, 0u);
}

TEST(GgufWriter, MetadataOnlyFileWithoutBeginData) {
    ScratchDir dir;
    const std::string path = dir.file("meta.gguf");
    {
        Writer w(path);
        w.add_kv("tokenizer.ggml.model", Value::make_string("gpt2"));
        w.finish();  // calls begin_data itself
    }
    Reader r(path);
    ASSERT_NE(r.find("tokenizer.ggml.model"), nullptr);
    EXPECT_EQ(r.find("tokenizer.ggml.model")->str, "gpt2");
}

struct TensorSpec {
    std::string name;
    TensorType type;
    std::vector<uint64_t> dims;
};

std::vector<TensorSpec> many_tensors() {
    return {
        {"token_embd.weight", TensorType::F16, {16, 12}},
        {"blk.0.attn_norm.weight", TensorType::F32, {3}},  // 12 bytes: next one needs padding
        {"blk.0.attn_q_a.weight", TensorType::Q8_0, {64, 3}},
        {"blk.0.ffn_down_exps.weight", TensorType::Q2_K, {512, 2, 3}},
        {"blk.0.ffn_gate_exps.weight", TensorType::IQ2_XXS, {256, 2, 3}},
        {"blk.0.ffn_up_exps.weight", TensorType::Q4_K, {256, 1, 1, 2}},
        {"blk.0.ffn_gate_tid2eid.weight", TensorType::I32, {3, 5}},
        {"blk.0.bf16", TensorType::BF16, {7}},
        {"blk.0.q6_k", TensorType::Q6_K, {256}},
        {"blk.0.i8", TensorType::I8, {1}},
        {"blk.0.eight_dims", TensorType::F32, {1, 2, 1, 2, 1, 2, 1, 2}},
    };
}

// Tensor k byte j: distinct per tensor so a misplaced tensor is caught.
uint8_t pattern(size_t k, uint64_t j) { return static_cast<uint8_t>(j * 31 + k * 97 + 5); }

void write_and_check(uint32_t alignment, uint64_t chunk) {
    SCOPED_TRACE("alignment " + std::to_string(alignment) + ", chunk " + std::to_string(chunk));
    ScratchDir dir;
    const std::string path = dir.file("tensors.gguf");
    const auto specs = many_tensors();
    std::vector<uint64_t> sizes;
    {
        Writer w(path);
        w.add_kv("general.architecture", Value::make_string("deepseek4"));
        for (const auto &s : specs) w.add_tensor(s.name, s.type, s.dims);
        w.set_alignment(alignment);  // allowed after add_tensor: offsets come at begin_data
        w.begin_data();
        // One stream of all tensors' bytes in fixed-size chunks, so chunks cross tensor
        // boundaries (the writer inserts the padding).
        std::vector<uint8_t> all;
        for (size_t k = 0; k < w.tensor_sizes().size(); k++) {
            sizes.push_back(w.tensor_sizes()[k].second);
            for (uint64_t j = 0; j < sizes.back(); j++) all.push_back(pattern(k, j));
        }
        EXPECT_EQ(w.total_tensor_bytes(), all.size());
        for (uint64_t at = 0; at < all.size(); at += chunk)
            w.write_data(all.data() + at, std::min<uint64_t>(chunk, all.size() - at));
        w.finish();
    }
    Reader r(path);
    EXPECT_EQ(r.alignment(), alignment);
    if (alignment != kDefaultAlignment) {
        ASSERT_NE(r.find("general.alignment"), nullptr);
        EXPECT_EQ(r.find("general.alignment")->type, ValueType::U32);
        EXPECT_EQ(r.find("general.alignment")->u, alignment);
    } else {
        EXPECT_EQ(r.find("general.alignment"), nullptr);
    }
    EXPECT_EQ(r.data_offset() % alignment, 0u);
    ASSERT_EQ(r.tensors().size(), specs.size());
    const uint8_t *base = r.file().data();
    uint64_t prev_end = r.data_offset();
    for (size_t k = 0; k < specs.size(); k++) {
        const TensorInfo &t = r.tensors()[k];
        EXPECT_EQ(t.name, specs[k].name);
        EXPECT_EQ(t.type, specs[k].type) << t.name;
        EXPECT_EQ(t.dims, specs[k].dims) << t.name;
        EXPECT_EQ(t.n_bytes, sizes[k]) << t.name;
        EXPECT_EQ(t.offset % alignment, 0u) << t.name;
        EXPECT_EQ(t.file_offset, r.data_offset() + t.offset) << t.name;
        EXPECT_EQ(r.find_tensor(t.name), &t);
        // Zero copy: the data pointer is inside the mapping, at the tensor's file offset.
        EXPECT_EQ(r.tensor_data(t), base + t.file_offset) << t.name;
        for (uint64_t j = 0; j < t.n_bytes; j++)
            ASSERT_EQ(r.tensor_data(t)[j], pattern(k, j)) << t.name << " byte " << j;
        // Padding between tensors is zeros.
        for (uint64_t p = prev_end; p < t.file_offset; p++) ASSERT_EQ(base[p], 0) << "padding at " << p;
        prev_end = t.file_offset + t.n_bytes;
    }
    EXPECT_EQ(r.file_size() % alignment, 0u);  // the last tensor is padded too
    EXPECT_EQ(r.find_tensor("missing"), nullptr);
}

TEST(GgufWriter, RoundTripsManyTensorsAlignment32) { write_and_check(32, 1000); }
TEST(GgufWriter, RoundTripsManyTensorsAlignment64) { write_and_check(64, 1); }
TEST(GgufWriter, RoundTripsManyTensorsOtherAlignments) {
    write_and_check(8, 7);
    write_and_check(1, 1 << 20);
    write_and_check(4096, 333);
}

TEST(GgufWriter, AlignmentFromKeyIsUsed) {
    ScratchDir dir;
    const std::string path = dir.file("a.gguf");
    {
        Writer w(path);
        w.add_kv("general.alignment", Value::make_u32(128));
        w.add_tensor("a", TensorType::F32, {1});
        w.add_tensor("b", TensorType::F32, {1});
        w.begin_data();
        const float x[2] = {1.0f, 2.0f};
        w.write_data(x, sizeof x);
        w.finish();
    }
    Reader r(path);
    EXPECT_EQ(r.alignment(), 128u);
    EXPECT_EQ(r.find_tensor("b")->offset, 128u);
    float b;
    std::memcpy(&b, r.tensor_data(*r.find_tensor("b")), 4);
    EXPECT_EQ(b, 2.0f);
}

// skip_data leaves holes that read as zeros: the layout of a 90 GB file without its bytes.
TEST(GgufWriter, SkipDataWritesHolesThatReadAsZeros) {
    ScratchDir dir;
    const std::string path = dir.file("sparse.gguf");
    uint64_t expected_size = 0;
    {
        Writer w(path);
        w.add_tensor("a", TensorType::F32, {3});
        w.add_tensor("big", TensorType::Q8_0, {1024, 1024});  // 1088 KiB
        w.add_tensor("last", TensorType::F32, {1024 * 1024});  // 4 MiB, trailing hole
        w.begin_data();
        const float a[3] = {1.0f, 2.0f, 3.0f};
        w.write_data(a, sizeof a);
        w.skip_data(1000);                                      // part of big
        w.skip_data(w.tensor_sizes()[1].second - 1000 + 4096);  // rest of big + part of last
        w.skip_data(w.tensor_sizes()[2].second - 4096);
        expected_size = w.file_size();
        w.finish();
    }
    Reader r(path);
    EXPECT_EQ(r.file_size(), expected_size);
    const TensorInfo *last = r.find_tensor("last");
    ASSERT_NE(last, nullptr);
    EXPECT_EQ(r.file_size(), last->file_offset + last->n_bytes);  // 4 MiB is a multiple of 32
    float a1;
    std::memcpy(&a1, r.tensor_data(*r.find_tensor("a")) + 4, 4);
    EXPECT_EQ(a1, 2.0f);
    for (const char *name : {"big", "last"}) {
        const TensorInfo *t = r.find_tensor(name);
        for (uint64_t j = 0; j < t->n_bytes; j += 4093) ASSERT_EQ(r.tensor_data(*t)[j], 0) << name << " " << j;
        EXPECT_EQ(r.tensor_data(*t)[t->n_bytes - 1], 0) << name;
    }
}

TEST(GgufWriter, DestructorRemovesPartialFile) {
    ScratchDir dir;
    const std::string path = dir.file("p.gguf");
    {
        Writer w(path);
        w.add_tensor("a", TensorType::F32, {4});
        w.begin_data();
        EXPECT_TRUE(exists(path + ".partial"));
        EXPECT_FALSE(exists(path));
    }
    EXPECT_FALSE(exists(path + ".partial"));
    EXPECT_FALSE(exists(path));
}

TEST(GgufWriter, FinishRejectsShortTensor) {
    ScratchDir dir;
    const std::string path = dir.file("short.gguf");
    {
        Writer w(path);
        w.add_tensor("a", TensorType::F32, {2});
        w.add_tensor("b", TensorType::F32, {4});
        w.begin_data();
        const uint8_t bytes[12] = {};
        w.write_data(bytes, 12);  // all of a, half of b
        const std::string msg = error_of([&] { w.finish(); });
        EXPECT_CONTAINS(msg, "tensor 'b' is short: 4 of 16 bytes");
        EXPECT_CONTAINS(msg, path);
    }
    EXPECT_FALSE(exists(path));
    EXPECT_FALSE(exists(path + ".partial"));
}

TEST(GgufWriter, FinishRejectsUnwrittenTensor) {
    ScratchDir dir;
    Writer w(dir.file("u.gguf"));
    w.add_tensor("a", TensorType::F32, {2});
    EXPECT_CONTAINS(error_of([&] { w.finish(); }), "tensor 'a' is short: 0 of 8 bytes");
}

TEST(GgufWriter, RejectsDataPastTheLastTensor) {
    ScratchDir dir;
    Writer w(dir.file("x.gguf"));
    w.add_tensor("a", TensorType::F32, {1});
    w.begin_data();
    const uint8_t bytes[5] = {};
    EXPECT_CONTAINS(error_of([&] { w.write_data(bytes, 5); }), "past the end of the last tensor");
}

TEST(GgufWriter, RejectsBadDeclarations) {
    ScratchDir dir;
    Writer w(dir.file("d.gguf"));
    w.add_kv("k", Value::make_u32(1));
    EXPECT_CONTAINS(error_of([&] { w.add_kv("k", Value::make_u32(2)); }), "duplicate metadata key 'k'");
    w.add_tensor("t", TensorType::F32, {1});
    EXPECT_CONTAINS(error_of([&] { w.add_tensor("t", TensorType::F32, {1}); }), "duplicate tensor name 't'");
    EXPECT_CONTAINS(error_of([&] { w.add_tensor("q", TensorType::Q8_0, {33}); }),
                    "not a multiple of the Q8_0 block size 32");
    EXPECT_CONTAINS(error_of([&] { w.add_tensor("z", TensorType::F32, {4, 0}); }), "zero dimension");
    EXPECT_CONTAINS(error_of([&] { w.add_tensor("n", TensorType::F32, {}); }), "0 dimensions");
    EXPECT_CONTAINS(error_of([&] { w.add_tensor("n9", TensorType::F32, std::vector<uint64_t>(9, 1)); }),
                    "9 dimensions");
    EXPECT_CONTAINS(error_of([&] { w.add_tensor("o", TensorType::F32, {1ull << 32, 1ull << 32}); }), "overflows");
    EXPECT_CONTAINS(error_of([&] { w.add_tensor("u", static_cast<TensorType>(4), {1}); }), "unknown type id 4");
    EXPECT_CONTAINS(error_of([&] { w.set_alignment(48); }), "alignment 48 is not a nonzero power of two");
    EXPECT_CONTAINS(error_of([&] { w.set_alignment(0); }), "not a nonzero power of two");
    EXPECT_CONTAINS(error_of([&] { w.add_kv("general.alignment", Value::make_u64(64)); }), "must be a u32");
    EXPECT_CONTAINS(error_of([&] { w.add_kv("b", scalar(ValueType::U8, 256)); }), "does not fit u8");
    EXPECT_CONTAINS(error_of([&] { w.add_kv("b", scalar(ValueType::I16, 0, 40000)); }), "does not fit i16");
    EXPECT_CONTAINS(error_of([&] { w.add_kv("b", scalar(ValueType::BOOL, 2)); }), "is not 0 or 1");
    EXPECT_CONTAINS(error_of([&] {
                        w.add_kv("m", Value::make_array(ValueType::U32, {Value::make_i32(1)}));
                    }),
                    "array of u32 has a i32 item at index 0");
    Value deep = Value::make_u32_array({1});
    for (int d = 1; d < 9; d++) deep = Value::make_array(ValueType::ARRAY, {deep});
    EXPECT_CONTAINS(error_of([&] { w.add_kv("deep", deep); }), "nested deeper than 8");
    w.begin_data();
    EXPECT_CONTAINS(error_of([&] { w.add_kv("late", Value::make_u32(1)); }), "after begin_data");
    EXPECT_CONTAINS(error_of([&] { w.add_tensor("late", TensorType::F32, {1}); }), "after begin_data");
    EXPECT_CONTAINS(error_of([&] { w.begin_data(); }), "begin_data called twice");
}

TEST(GgufWriter, CannotCreateNamesPath) {
    const std::string msg = error_of([] { Writer w("/nonexistent-dir/x.gguf"); });
    EXPECT_CONTAINS(msg, "cannot create '/nonexistent-dir/x.gguf.partial'");
}

// A full disk, simulated with a file size limit: fwrite/fflush fail with EFBIG instead of
// ENOSPC, through the same checks.
TEST(GgufWriter, WriteFailureThrowsAndRemovesPartialFile) {
    ScratchDir dir;
    const std::string path = dir.file("full.gguf");
    struct rlimit old{};
    ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
    auto *old_handler = std::signal(SIGXFSZ, SIG_IGN);
    struct rlimit small = old;
    small.rlim_cur = 64 * 1024;
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
    std::string msg;
    {
        Writer w(path);
        w.add_tensor("big", TensorType::F32, {1 << 20});  // 4 MB
        w.begin_data();
        const std::vector<uint8_t> chunk(1 << 16, 1);
        msg = error_of([&] {
            for (int k = 0; k < 64; k++) w.write_data(chunk.data(), chunk.size());
            w.finish();
        });
        EXPECT_CONTAINS(error_of([&] { w.finish(); }), "earlier write error");
    }
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &old), 0);
    std::signal(SIGXFSZ, old_handler);
    EXPECT_CONTAINS(msg, path + ".partial");
    EXPECT_CONTAINS(msg, "cannot write");
    EXPECT_FALSE(exists(path + ".partial"));
    EXPECT_FALSE(exists(path));
}

}  // namespace
}  // namespace dstar::gguf
