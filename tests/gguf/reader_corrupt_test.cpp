// Tests of gguf/reader.cpp on corrupt input: one test per kind of damage, each checking
// that parse() throws dstar::Error with a message naming the problem (never a crash, an
// out-of-bounds read or a huge allocation; the fuzzer covers the combinations).
#include <gtest/gtest.h>

#include <memory>

#include "common/mapped_file.h"
#include "gguf/raw_gguf.h"
#include "gguf/reader.h"
#include "gguf/test_util.h"
#include "gguf/writer.h"

namespace dstar::gguf {
namespace {

using namespace test;

// The error message of parsing `image` (a test failure if it parses).
std::string parse_error(const std::string &image) {
    const std::string msg = error_of([&] { parse_string(image, "t.gguf"); });
    EXPECT_EQ(msg.rfind("t.gguf: ", 0), 0u) << "message does not start with the source name: " << msg;
    return msg;
}

// A valid image with one tensor; tests break one thing at a time.
RawGguf valid() {
    RawGguf g;
    g.kvs = {kv_str("general.architecture", "deepseek4"), kv_u32("deepseek4.block_count", 6)};
    g.tensors = {{"blk.0.attn_q_a.weight", {32, 2}, 8, 0}};  // Q8_0: 68 bytes
    g.data_bytes = 68;
    return g;
}

TEST(GgufCorrupt, ValidBaseParses) { EXPECT_NO_THROW(parse_string(valid().build())); }

// Every prefix of a small valid file that cuts the header, metadata, directory or tensor
// data must throw Error.  Each prefix is copied into a buffer of exactly its size, so a
// sanitizer build catches any read past it.
TEST(GgufCorrupt, TruncatedAtEveryByte) {
    ScratchDir dir;
    const std::string path = dir.file("small.gguf");
    {
        Writer w(path);
        w.add_kv("general.architecture", Value::make_string("deepseek4"));
        w.add_kv("t.u8", Value::make_array(ValueType::U8, {}));
        w.add_kv("t.f64", Value::make_f64(1.5));
        w.add_kv("t.bool", Value::make_bool(true));
        w.add_kv("t.tokens", Value::make_string_array({"a", "", "bc"}));
        w.add_kv("t.nested", Value::make_array(ValueType::ARRAY, {Value::make_u32_array({1, 2}),
                                                                  Value::make_string_array({"x"})}));
        w.add_tensor("a", TensorType::F32, {3});
        w.add_tensor("b", TensorType::Q8_0, {32});
        w.begin_data();
        const std::vector<uint8_t> bytes(12 + 34, 0x11);
        w.write_data(bytes.data(), bytes.size());
        w.finish();
    }
    const std::string image = read_file(path);
    const Parsed full = parse_string(image);
    const uint64_t end = full.tensors.back().file_offset + full.tensors.back().n_bytes;
    ASSERT_GT(full.data_offset, 100u);
    for (uint64_t cut = 0; cut < end; cut++) {
        std::unique_ptr<uint8_t[]> buf(new uint8_t[cut + 1]);  // +1: new[0] is still valid
        std::memcpy(buf.get(), image.data(), cut);
        try {
            parse(buf.get(), cut, "t.gguf");
            ADD_FAILURE() << "prefix of " << cut << " bytes parsed";
        } catch (const Error &e) {
            EXPECT_EQ(std::string(e.what()).rfind("t.gguf: ", 0), 0u) << e.what();
        }
    }
    // The trailing padding after the last tensor is not needed.
    for (uint64_t cut = end; cut <= image.size(); cut++)
        EXPECT_NO_THROW(parse(reinterpret_cast<const uint8_t *>(image.data()), cut, "t.gguf"));
}

TEST(GgufCorrupt, TruncatedMessages) {
    const std::string image = valid().build();
    EXPECT_CONTAINS(parse_error(image.substr(0, 10)), "too small for a GGUF header");
    EXPECT_CONTAINS(parse_error(image.substr(0, 0)), "too small");
    EXPECT_CONTAINS(parse_error(image.substr(0, 68)), "string length 9 at byte 56 runs past the end");
    RawGguf g;
    g.kvs = {kv_u32("deepseek4.block_count", 6)};
    EXPECT_CONTAINS(parse_error(g.build().substr(0, 55)),
                    "truncated: key 'deepseek4.block_count' (value type) at byte 53 needs 4 bytes, only 2 remain");
}

TEST(GgufCorrupt, BadMagic) {
    RawGguf g = valid();
    g.magic = 0x46554746;  // "FGUF"
    EXPECT_CONTAINS(parse_error(g.build()), "bad magic 0x46554746");
}

TEST(GgufCorrupt, Version2) {
    RawGguf g = valid();
    g.version = 2;
    EXPECT_CONTAINS(parse_error(g.build()), "unsupported GGUF version 2");
}

TEST(GgufCorrupt, Version4) {
    RawGguf g = valid();
    g.version = 4;
    EXPECT_CONTAINS(parse_error(g.build()), "unsupported GGUF version 4");
}

TEST(GgufCorrupt, AbsurdTensorCount) {
    RawGguf g = valid();
    g.tensor_count = uint64_t{1} << 60;
    EXPECT_CONTAINS(parse_error(g.build()), "absurd tensor count 1152921504606846976");
}

TEST(GgufCorrupt, TensorCountTooLargeForBytesAfterMetadata) {
    // Fits the file as a whole, but the metadata takes most of it.
    RawGguf g = valid();
    g.kvs.push_back(kv_str("padding", std::string(400, 'p')));
    g.tensor_count = 10;
    EXPECT_CONTAINS(parse_error(g.build()), "absurd tensor count 10: the");
}

TEST(GgufCorrupt, AbsurdKvCount) {
    RawGguf g = valid();
    g.kv_count = ~uint64_t{0};
    EXPECT_CONTAINS(parse_error(g.build()), "absurd metadata key count 18446744073709551615");
}

// Counts that the bytes could hold but no real file has: capped, so a big hostile file
// cannot make the reader build millions of records before failing.
TEST(GgufCorrupt, KeyCountOverHardLimit) {
    RawGguf g;
    g.kv_count = (uint64_t{1} << 20) + 1;
    const std::string image = g.build() + std::string(14 << 20, '\0');
    EXPECT_CONTAINS(parse_error(image), "absurd metadata key count 1048577");
    EXPECT_CONTAINS(parse_error(image), "(limit 1048576)");
}

TEST(GgufCorrupt, TensorCountOverHardLimit) {
    RawGguf g;
    g.tensor_count = (uint64_t{1} << 20) + 1;
    const std::string image = g.build() + std::string(34 << 20, '\0');
    EXPECT_CONTAINS(parse_error(image), "absurd tensor count 1048577");
    EXPECT_CONTAINS(parse_error(image), "(limit 1048576)");
}

TEST(GgufCorrupt, MoreKeysThanStored) {
    RawGguf g = valid();
    g.kv_count = 3;  // the third "key" is the tensor directory
    EXPECT_NO_FATAL_FAILURE(parse_error(g.build()));
}

TEST(GgufCorrupt, KeyStringLengthPastTheEnd) {
    RawGguf g;
    g.kvs = {le64(1000) + "abc"};
    const std::string msg = parse_error(g.build());
    EXPECT_CONTAINS(msg, "metadata key #0: string length 1000 at byte 24 runs past the end");
}

TEST(GgufCorrupt, ValueStringLengthPastTheEnd) {
    RawGguf g;
    g.kvs = {kv_raw("general.name", 8, le64(uint64_t{1} << 62) + "x")};
    EXPECT_CONTAINS(parse_error(g.build()), "key 'general.name': string length 4611686018427387904");
}

TEST(GgufCorrupt, TensorNameLengthPastTheEnd) {
    RawGguf g;
    g.tensor_count = 1;
    g.kvs = {kv_str("padding", std::string(40, 'p'))};  // room for one tensor record
    std::string image = g.build();
    image = image.substr(0, 24 + g.kvs[0].size()) + le64(500) + std::string(30, 'n');
    EXPECT_CONTAINS(parse_error(image), "tensor #0 name: string length 500");
}

TEST(GgufCorrupt, ArrayCountAbsurd) {
    RawGguf g;
    g.kvs = {kv_raw("t.array", 9, le32(0) + le64(uint64_t{1} << 60) + "abcd")};  // u8 x 2^60
    const std::string msg = parse_error(g.build());
    EXPECT_CONTAINS(msg, "key 't.array': array count 1152921504606846976 of u8");
    EXPECT_CONTAINS(msg, "more than the");
}

TEST(GgufCorrupt, ArrayCountOneMoreThanFits) {
    RawGguf g;
    // 3 u32 items stored, 4 claimed (the file ends right after the items).
    g.kvs = {kv_raw("t.array", 9, le32(4) + le64(4) + le32(1) + le32(2) + le32(3))};
    std::string image = g.build();
    image.resize(24 + g.kvs[0].size());
    EXPECT_CONTAINS(parse_error(image), "array count 4 of u32");
}

TEST(GgufCorrupt, StringArrayCountAbsurd) {
    RawGguf g;
    g.kvs = {kv_raw("tokenizer.ggml.tokens", 9, le32(8) + le64(uint64_t{1} << 40) + gstr("a"))};
    EXPECT_CONTAINS(parse_error(g.build()), "array count 1099511627776 of string");
}

TEST(GgufCorrupt, ArrayItemsOverTheFileLimit) {
    // 2^24 + 1 one-byte items really present: within the file, over the per-file item cap
    // that keeps decoded Values (~100 bytes each) from needing 100x the file size.
    const uint64_t n = (uint64_t{1} << 24) + 1;
    RawGguf g;
    g.kvs = {kv_raw("t.big", 9, le32(0) + le64(n) + std::string(n, '\0'))};
    EXPECT_CONTAINS(parse_error(g.build()), "exceeds the limit of 16777216 array items");
}

std::string nested_arrays(int levels) {
    // `levels` arrays, each holding the next; the innermost holds one u32.
    std::string v = le32(4) + le64(1) + le32(7);
    for (int k = 1; k < levels; k++) v = le32(9) + le64(1) + v;
    return v;
}

TEST(GgufCorrupt, NestedArrayDepthOver8) {
    RawGguf g;
    g.kvs = {kv_raw("t.deep", 9, nested_arrays(9))};
    EXPECT_CONTAINS(parse_error(g.build()), "key 't.deep': array nesting depth exceeds 8");
    g.kvs = {kv_raw("t.deep", 9, nested_arrays(8))};
    const Parsed p = parse_string(g.build());
    EXPECT_EQ(p.metadata[0].second.items[0].items[0].items[0].items[0].items[0].items[0].items[0].items[0].u, 7u);
}

TEST(GgufCorrupt, UnknownValueType) {
    RawGguf g = valid();
    g.kvs.push_back(kv_raw("t.weird", 13, le32(0)));
    EXPECT_CONTAINS(parse_error(g.build()), "key 't.weird': unknown value type 13");
}

TEST(GgufCorrupt, UnknownArrayElementType) {
    RawGguf g = valid();
    g.kvs.push_back(kv_raw("t.weird", 9, le32(0xffffffff) + le64(0)));
    EXPECT_CONTAINS(parse_error(g.build()), "key 't.weird': array at byte");
    EXPECT_CONTAINS(parse_error(g.build()), "unknown element value type 4294967295");
}

// Decision: a bool byte other than 0 or 1 is rejected (ds4 would read it as true).  The
// GGUF spec defines only 0 and 1, and writers (gguf-py, ours) never emit anything else, so
// another value means the file is corrupt or we lost sync with its layout.
TEST(GgufCorrupt, BoolNotZeroOrOne) {
    RawGguf g = valid();
    g.kvs.push_back(kv_raw("deepseek4.expert_weights_norm", 7, std::string(1, '\2')));
    EXPECT_CONTAINS(parse_error(g.build()), "key 'deepseek4.expert_weights_norm': bool value 2");
    EXPECT_CONTAINS(parse_error(g.build()), "is not 0 or 1");
}

TEST(GgufCorrupt, BoolArrayItemNotZeroOrOne) {
    RawGguf g = valid();
    g.kvs.push_back(kv_raw("t.bools", 9, le32(7) + le64(2) + "\1\xff"));
    EXPECT_CONTAINS(parse_error(g.build()), "bool value 255 at byte");
}

TEST(GgufCorrupt, NDimsZero) {
    RawGguf g = valid();
    g.tensors[0].dims = {};
    EXPECT_CONTAINS(parse_error(g.build()), "tensor 'blk.0.attn_q_a.weight': n_dims 0 is not in 1..8");
}

TEST(GgufCorrupt, NDimsNine) {
    RawGguf g = valid();
    g.tensors[0].dims = {32, 1, 1, 1, 1, 1, 1, 1, 2};
    EXPECT_CONTAINS(parse_error(g.build()), "tensor 'blk.0.attn_q_a.weight': n_dims 9 is not in 1..8");
}

TEST(GgufCorrupt, NDimsHuge) {
    RawGguf g = valid();
    g.tensors[0].n_dims = 0xffffffff;
    EXPECT_CONTAINS(parse_error(g.build()), "n_dims 4294967295 is not in 1..8");
}

TEST(GgufCorrupt, ZeroDim) {
    RawGguf g = valid();
    g.tensors[0].dims = {32, 0};
    EXPECT_CONTAINS(parse_error(g.build()), "tensor 'blk.0.attn_q_a.weight': dimension 1 of [32, 0] is zero");
}

TEST(GgufCorrupt, DimsOverflow) {
    RawGguf g = valid();
    g.tensors[0].dims = {uint64_t{1} << 32, uint64_t{1} << 32};
    EXPECT_CONTAINS(parse_error(g.build()), "dimensions [4294967296, 4294967296] overflow");
    g.tensors[0].dims = {uint64_t{1} << 62, 2};  // 2^63: over int64 although it fits u64
    EXPECT_CONTAINS(parse_error(g.build()), "overflow");
    g.tensors[0].dims = {~uint64_t{0}};
    EXPECT_CONTAINS(parse_error(g.build()), "overflow");
}

TEST(GgufCorrupt, UnknownTensorType) {
    RawGguf g = valid();
    g.tensors[0].type = 4;  // removed Q4_2: a gap in the table
    EXPECT_CONTAINS(parse_error(g.build()), "tensor 'blk.0.attn_q_a.weight': unknown tensor type id 4");
    g.tensors[0].type = 1000;
    EXPECT_CONTAINS(parse_error(g.build()), "unknown tensor type id 1000");
}

TEST(GgufCorrupt, PartialBlockRow) {
    RawGguf g = valid();
    g.tensors[0].dims = {33, 2};
    const std::string msg = parse_error(g.build());
    EXPECT_CONTAINS(msg, "tensor 'blk.0.attn_q_a.weight': ne0 = 33 is not a multiple of the Q8_0 block size 32");
    EXPECT_CONTAINS(msg, "partial block row");
}

TEST(GgufCorrupt, MisalignedOffset) {
    RawGguf g = valid();
    g.tensors[0].offset = 4;
    g.data_bytes = 72;
    EXPECT_CONTAINS(parse_error(g.build()),
                    "tensor 'blk.0.attn_q_a.weight': offset 4 is not a multiple of the alignment 32");
}

TEST(GgufCorrupt, TensorDataOutsideFile) {
    RawGguf g = valid();
    g.data_bytes = 67;  // one byte short
    const std::string image = g.build();
    const uint64_t start = image.size() - 67;
    EXPECT_CONTAINS(parse_error(image), "tensor 'blk.0.attn_q_a.weight' data [" + std::to_string(start) + ", " +
                                            std::to_string(start + 68) + ") lies outside the file (size " +
                                            std::to_string(image.size()) + ")");
}

TEST(GgufCorrupt, TensorOffsetFarOutsideFile) {
    RawGguf g = valid();
    g.tensors[0].offset = ~uint64_t{0} - 31;  // aligned, and offset + size wraps around
    EXPECT_CONTAINS(parse_error(g.build()), "lies outside the file");
    g.tensors[0].offset = uint64_t{1} << 40;
    EXPECT_CONTAINS(parse_error(g.build()), "lies outside the file");
}

TEST(GgufCorrupt, OverlappingTensors) {
    RawGguf g = valid();
    g.tensors.push_back({"b", {16}, 0, 64});  // F32 x 16 = 64 bytes at 64: overlaps [0, 68)
    g.data_bytes = 128;
    const std::string msg = parse_error(g.build());
    EXPECT_CONTAINS(msg, "tensors 'blk.0.attn_q_a.weight'");
    EXPECT_CONTAINS(msg, "and 'b'");
    EXPECT_CONTAINS(msg, "overlap");
}

TEST(GgufCorrupt, IdenticalTensorRanges) {
    RawGguf g = valid();
    g.tensors.push_back({"alias", {32, 2}, 8, 0});
    EXPECT_CONTAINS(parse_error(g.build()), "overlap");
}

TEST(GgufCorrupt, DuplicateTensorNames) {
    RawGguf g = valid();
    g.tensors.push_back({"blk.0.attn_q_a.weight", {4}, 0, 96});
    g.data_bytes = 112;
    EXPECT_CONTAINS(parse_error(g.build()), "duplicate tensor name 'blk.0.attn_q_a.weight'");
}

TEST(GgufCorrupt, DuplicateKeys) {
    RawGguf g = valid();
    g.kvs.push_back(kv_u32("deepseek4.block_count", 43));
    EXPECT_CONTAINS(parse_error(g.build()), "duplicate metadata key 'deepseek4.block_count'");
}

TEST(GgufCorrupt, BadAlignmentValue) {
    for (uint32_t a : {0u, 3u, 48u, 0x80000001u}) {
        RawGguf g = valid();
        g.kvs.push_back(kv_u32("general.alignment", a));
        EXPECT_CONTAINS(parse_error(g.build()),
                        "key 'general.alignment' = " + std::to_string(a) + " is not a nonzero power of two");
    }
}

TEST(GgufCorrupt, BadAlignmentType) {
    RawGguf g = valid();
    g.kvs.push_back(kv_raw("general.alignment", 10, le64(32)));
    EXPECT_CONTAINS(parse_error(g.build()), "key 'general.alignment' has type u64, expected u32");
}

TEST(GgufCorrupt, BinaryNamesAreEscapedInMessages) {
    RawGguf g = valid();
    g.tensors.push_back({std::string("bad\0\n", 5), {4}, 0, 1});
    g.data_bytes = 128;
    EXPECT_CONTAINS(parse_error(g.build()), "tensor 'bad\\x00\\x0a': offset 1");
}

}  // namespace
}  // namespace dstar::gguf
