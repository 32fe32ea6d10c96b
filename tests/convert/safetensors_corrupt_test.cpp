// Corrupt safetensors files and checkpoint folders: each gives an Error naming the problem.
#include <gtest/gtest.h>

#include <cstring>

#include "convert/safetensors.h"
#include "convert/st_test_util.h"

namespace dstar::convert {
namespace {

using test::add_vec;
using test::error_of;
using test::ScratchDir;
using test::write_raw_safetensors;

// Opens a one-file checkpoint with this header and data; returns the error message.
std::string open_error(const std::string &header, const std::string &data = std::string(16, '\0')) {
    ScratchDir dir;
    write_raw_safetensors(dir.file("model.safetensors"), header, data);
    return error_of([&] { Checkpoint ck(dir.path()); });
}

std::string one(const std::string &entry) { return R"({"t":)" + entry + "}"; }

TEST(SafetensorsCorrupt, FileTooShortForTheHeaderLength) {
    ScratchDir dir;
    test::write_text(dir.file("model.safetensors"), "abc");
    const std::string msg = error_of([&] { Checkpoint ck(dir.path()); });
    EXPECT_CONTAINS(msg, "model.safetensors");
    EXPECT_CONTAINS(msg, "too short for a safetensors header length");
}

TEST(SafetensorsCorrupt, HeaderLengthPastTheFile) {
    ScratchDir dir;
    std::string image(8, '\0');
    const uint64_t n = 1000;
    std::memcpy(image.data(), &n, 8);
    image += R"({"a":1})";
    test::write_text(dir.file("model.safetensors"), image);
    EXPECT_CONTAINS(error_of([&] { Checkpoint ck(dir.path()); }), "header length 1000 runs past the end of the file");
}

TEST(SafetensorsCorrupt, HeaderLengthAbsurd) {
    ScratchDir dir;
    std::string image(8, '\0');
    const uint64_t n = 200'000'000;
    std::memcpy(image.data(), &n, 8);
    image += "{}";
    test::write_text(dir.file("model.safetensors"), image);
    EXPECT_CONTAINS(error_of([&] { Checkpoint ck(dir.path()); }), "header length 200000000 is absurd");
}

TEST(SafetensorsCorrupt, MalformedJson) {
    EXPECT_CONTAINS(open_error(R"({"t": {"dtype": "F32",)"), "malformed JSON header");
    EXPECT_CONTAINS(open_error("[1, 2]"), "JSON header is not an object");
    EXPECT_CONTAINS(open_error(one("[]")), "tensor 't': entry is not a JSON object");
    EXPECT_CONTAINS(open_error(one(R"({"shape":[1],"data_offsets":[0,4]})")), "tensor 't': no \"dtype\"");
    EXPECT_CONTAINS(open_error(one(R"({"dtype":"F32","data_offsets":[0,4]})")), "tensor 't': no \"shape\"");
    EXPECT_CONTAINS(open_error(one(R"({"dtype":"F32","shape":[1]})")), "tensor 't': no \"data_offsets\"");
    EXPECT_CONTAINS(open_error(one(R"({"dtype":"F32","shape":[1],"data_offsets":[0]})")),
                    "data_offsets is not [begin, end]");
    EXPECT_CONTAINS(open_error(one(R"({"dtype":"F32","shape":1,"data_offsets":[0,4]})")), "shape is not an array");
    EXPECT_CONTAINS(open_error(R"({"__metadata__":{"format":1}})"), "__metadata__ value for 'format' is not a string");
    EXPECT_CONTAINS(open_error(R"({"__metadata__":[]})"), "__metadata__ is not a JSON object");
}

TEST(SafetensorsCorrupt, UnknownDtype) {
    const std::string msg = open_error(one(R"({"dtype":"F4","shape":[1],"data_offsets":[0,1]})"));
    EXPECT_CONTAINS(msg, "model.safetensors");
    EXPECT_CONTAINS(msg, "tensor 't': unknown dtype 'F4'");
}

TEST(SafetensorsCorrupt, NegativeShape) {
    EXPECT_CONTAINS(open_error(one(R"({"dtype":"F32","shape":[2,-1],"data_offsets":[0,4]})")),
                    "tensor 't': shape has a negative value -1");
}

TEST(SafetensorsCorrupt, NonIntegerShape) {
    EXPECT_CONTAINS(open_error(one(R"({"dtype":"F32","shape":[1.5],"data_offsets":[0,4]})")),
                    "shape has a value that is not an integer");
    // Beyond u64: nlohmann parses it as floating point.
    EXPECT_CONTAINS(open_error(one(R"({"dtype":"F32","shape":[18446744073709551616],"data_offsets":[0,4]})")),
                    "shape has a value that is not an integer");
}

TEST(SafetensorsCorrupt, OverflowingShape) {
    // 2^32 * 2^32 overflows the element count.
    EXPECT_CONTAINS(open_error(one(R"({"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,4]})")),
                    "tensor 't': shape [4294967296, 4294967296] overflows 64 bits");
    // The element count fits, the byte count (x 8) does not.
    EXPECT_CONTAINS(open_error(one(R"({"dtype":"F64","shape":[4294967296,536870912],"data_offsets":[0,4]})")),
                    "overflows 64 bits");
}

TEST(SafetensorsCorrupt, OffsetsOutsideTheDataSection) {
    EXPECT_CONTAINS(open_error(one(R"({"dtype":"F32","shape":[8],"data_offsets":[0,32]})")),
                    "tensor 't': data_offsets [0, 32] outside the data section (16 bytes)");
    EXPECT_CONTAINS(open_error(one(R"({"dtype":"F32","shape":[1],"data_offsets":[16,20]})")),
                    "outside the data section");
    EXPECT_CONTAINS(open_error(one(R"({"dtype":"F32","shape":[1],"data_offsets":[-4,0]})")),
                    "data_offsets has a negative value -4");
}

TEST(SafetensorsCorrupt, OffsetsEndBeforeBegin) {
    EXPECT_CONTAINS(open_error(one(R"({"dtype":"F32","shape":[1],"data_offsets":[8,4]})")),
                    "tensor 't': data_offsets [8, 4] end before begin");
}

TEST(SafetensorsCorrupt, ByteSizeMismatch) {
    EXPECT_CONTAINS(open_error(one(R"({"dtype":"BF16","shape":[2,3],"data_offsets":[0,8]})")),
                    "tensor 't': 8 data bytes, but BF16 [2, 3] needs 12");
}

TEST(SafetensorsCorrupt, OverlappingTensors) {
    const std::string msg = open_error(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                       R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})");
    EXPECT_CONTAINS(msg, "tensors 'a' (bytes 0..8) and 'b' (bytes 4..12) overlap");
    // A tensor nested inside a longer one, behind a third that ends earlier.
    EXPECT_CONTAINS(open_error(R"({"a":{"dtype":"U8","shape":[12],"data_offsets":[0,12]},)"
                               R"("b":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},)"
                               R"("c":{"dtype":"U8","shape":[2],"data_offsets":[8,10]}})"),
                    "overlap");
    // Identical ranges.
    EXPECT_CONTAINS(open_error(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                               R"("b":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})"),
                    "overlap");
}

TEST(SafetensorsCorrupt, DuplicateNameInOneHeader) {
    EXPECT_CONTAINS(open_error(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                               R"("a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})"),
                    "header names tensor 'a' twice");
}

TEST(SafetensorsCorrupt, DuplicateNameAcrossShards) {
    ScratchDir dir;
    SafetensorsWriter a, b;
    add_vec(a, "same.weight", StDtype::F32, {1}, std::vector<float>{1});
    add_vec(b, "same.weight", StDtype::F32, {1}, std::vector<float>{2});
    a.write(dir.file("a.safetensors"));
    b.write(dir.file("b.safetensors"));
    const std::string msg = error_of([&] { Checkpoint ck(dir.path()); });
    EXPECT_CONTAINS(msg, "tensor 'same.weight' is in both");
    EXPECT_CONTAINS(msg, "a.safetensors");
    EXPECT_CONTAINS(msg, "b.safetensors");
}

class IndexCorrupt : public ::testing::Test {
protected:
    void SetUp() override {
        add_vec(s1_, "x.weight", StDtype::F32, {1}, std::vector<float>{1});
        add_vec(s2_, "y.weight", StDtype::F32, {1}, std::vector<float>{2});
        s1_.write(dir_.file("model-00001-of-00002.safetensors"));
        s2_.write(dir_.file("model-00002-of-00002.safetensors"));
    }
    std::string open_with_index(const std::string &index_json) {
        test::write_text(dir_.file("model.safetensors.index.json"), index_json);
        return error_of([&] { Checkpoint ck(dir_.path()); });
    }
    ScratchDir dir_;
    SafetensorsWriter s1_, s2_;
};

TEST_F(IndexCorrupt, NamesAMissingShard) {
    const std::string msg = open_with_index(R"({"weight_map":{"x.weight":"model-00001-of-00002.safetensors",)"
                                            R"("y.weight":"model-00009-of-00009.safetensors"}})");
    EXPECT_CONTAINS(msg, "shard 'model-00009-of-00009.safetensors' (listed for tensor 'y.weight') does not exist");
}

TEST_F(IndexCorrupt, NamesATensorAbsentFromItsShard) {
    const std::string msg = open_with_index(R"({"weight_map":{"x.weight":"model-00001-of-00002.safetensors",)"
                                            R"("y.weight":"model-00002-of-00002.safetensors",)"
                                            R"("z.weight":"model-00002-of-00002.safetensors"}})");
    EXPECT_CONTAINS(msg, "tensor 'z.weight' is listed in shard 'model-00002-of-00002.safetensors' but absent from it");
}

TEST_F(IndexCorrupt, PutsATensorInTheWrongShard) {
    const std::string msg = open_with_index(R"({"weight_map":{"x.weight":"model-00002-of-00002.safetensors",)"
                                            R"("y.weight":"model-00001-of-00002.safetensors"}})");
    EXPECT_CONTAINS(msg, "but absent from it; it is in");
}

TEST_F(IndexCorrupt, OmitsAShardTensor) {
    SafetensorsWriter two;
    add_vec(two, "x.weight", StDtype::F32, {1}, std::vector<float>{1});
    add_vec(two, "extra.weight", StDtype::F32, {1}, std::vector<float>{3});
    two.write(dir_.file("model-00001-of-00002.safetensors"));
    const std::string msg = open_with_index(R"({"weight_map":{"x.weight":"model-00001-of-00002.safetensors",)"
                                            R"("y.weight":"model-00002-of-00002.safetensors"}})");
    EXPECT_CONTAINS(msg, "tensor 'extra.weight' in");
    EXPECT_CONTAINS(msg, "is not listed in weight_map");
}

// Sanity: the fixture's files with a correct index open fine.
TEST_F(IndexCorrupt, CorrectIndexOpens) {
    test::write_text(dir_.file("model.safetensors.index.json"),
                     R"({"weight_map":{"x.weight":"model-00001-of-00002.safetensors",)"
                     R"("y.weight":"model-00002-of-00002.safetensors"}})");
    const Checkpoint ck(dir_.path());
    EXPECT_EQ(ck.tensors().size(), 2u);
}

TEST_F(IndexCorrupt, MalformedIndex) {
    EXPECT_CONTAINS(open_with_index("{not json"), "model.safetensors.index.json': malformed JSON");
    EXPECT_CONTAINS(open_with_index(R"({"metadata":{}})"), "no \"weight_map\" object");
    EXPECT_CONTAINS(open_with_index(R"({"weight_map":{"x.weight":3}})"), "weight_map entry for 'x.weight' is not a file name");
    EXPECT_CONTAINS(open_with_index(R"({"weight_map":{"x.weight":"../model-00001-of-00002.safetensors"}})"),
                    "is not a plain file name");
}

}  // namespace
}  // namespace dstar::convert
