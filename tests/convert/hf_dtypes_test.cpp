// HF element types and DeepSeek block-scaled weights: code tables against formulas written
// independently here, whole-tensor conversions, FP8 / FP4 dequantization and the dispatcher.
#include "convert/hf_dtypes.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>

#include "common/fp16.h"
#include "convert/st_test_util.h"

namespace dstar::convert {
namespace {

using test::add_vec;
using test::error_of;
using test::ScratchDir;

uint32_t bits(float f) { return f32_bits(f); }

// E4M3FN by the OCP definition, in double: (-1)^s * (e == 0 ? m/8 * 2^-6 : (1 + m/8) * 2^(e-7)),
// with the NaN codes (S.1111.111) mapped to 0 as dstar decides.
float e4m3_reference(uint8_t c) {
    const int s = c >> 7, e = (c >> 3) & 15, m = c & 7;
    if (e == 15 && m == 7) return 0.0f;
    const double mag = e == 0 ? (m / 8.0) * std::pow(2.0, -6) : (1.0 + m / 8.0) * std::pow(2.0, e - 7);
    return static_cast<float>(s ? -mag : mag);
}

TEST(E4m3, AllCodesMatchTheFormula) {
    for (int c = 0; c < 256; c++) {
        const float got = e4m3fn_to_f32(static_cast<uint8_t>(c));
        const float want = e4m3_reference(static_cast<uint8_t>(c));
        if (c == 0x80) {
            EXPECT_EQ(bits(got), 0x80000000u) << "0x80 is -0";
        } else if (c == 0x7f || c == 0xff) {
            EXPECT_EQ(bits(got), 0u) << "NaN code " << c << " decodes to +0";
        } else {
            EXPECT_EQ(bits(got), bits(want)) << "code " << c;
        }
    }
}

TEST(E4m3, HandPickedCodes) {
    EXPECT_EQ(e4m3fn_to_f32(0x00), 0.0f);
    EXPECT_EQ(e4m3fn_to_f32(0x01), std::ldexp(1.0f, -9));  // smallest subnormal
    EXPECT_EQ(e4m3fn_to_f32(0x07), 7.0f / 512.0f);         // largest subnormal
    EXPECT_EQ(e4m3fn_to_f32(0x08), std::ldexp(1.0f, -6));  // smallest normal
    EXPECT_EQ(e4m3fn_to_f32(0x38), 1.0f);
    EXPECT_EQ(e4m3fn_to_f32(0x3c), 1.5f);
    EXPECT_EQ(e4m3fn_to_f32(0x40), 2.0f);
    EXPECT_EQ(e4m3fn_to_f32(0x7e), 448.0f);  // max finite
    EXPECT_EQ(e4m3fn_to_f32(0x78), 256.0f);  // e = 15 is a normal exponent in E4M3FN
    EXPECT_EQ(e4m3fn_to_f32(0xfe), -448.0f);
    EXPECT_EQ(e4m3fn_to_f32(0xb8), -1.0f);
    EXPECT_EQ(e4m3fn_to_f32(0xc4), -3.0f);
    EXPECT_EQ(e4m3fn_to_f32(0x7f), 0.0f);
    EXPECT_EQ(e4m3fn_to_f32(0xff), 0.0f);
}

TEST(E8m0, PowersOfTwo) {
    for (int e = 0; e < 255; e++)
        EXPECT_EQ(e8m0_to_f32(static_cast<uint8_t>(e)), std::ldexp(1.0f, e - 127)) << "code " << e;
    EXPECT_EQ(e8m0_to_f32(127), 1.0f);
    EXPECT_EQ(e8m0_to_f32(128), 2.0f);
    EXPECT_EQ(e8m0_to_f32(126), 0.5f);
    EXPECT_EQ(bits(e8m0_to_f32(0)), 0x00400000u);  // 2^-127, an f32 subnormal
    EXPECT_EQ(bits(e8m0_to_f32(1)), 0x00800000u);  // 2^-126, FLT_MIN
    EXPECT_EQ(e8m0_to_f32(254), std::ldexp(1.0f, 127));
    EXPECT_TRUE(std::isnan(e8m0_to_f32(255)));
}

TEST(E2m1, Table) {
    const float want[16] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6, -0.0f, -0.5f, -1, -1.5f, -2, -3, -4, -6};
    for (int c = 0; c < 16; c++) {
        EXPECT_EQ(bits(e2m1_to_f32(static_cast<uint8_t>(c))), bits(want[c])) << "code " << c;
        EXPECT_EQ(e2m1_to_f32(static_cast<uint8_t>(c | 0xa0)), want[c]) << "high nibble ignored";
    }
}

// A one-file checkpoint from a writer, kept with its folder.
struct TinyCheckpoint {
    explicit TinyCheckpoint(const SafetensorsWriter &w) {
        w.write(dir.file("model.safetensors"));
        ck = std::make_unique<Checkpoint>(dir.path());
    }
    const StTensor &at(const std::string &name) const {
        const StTensor *t = ck->find(name);
        if (!t) throw std::runtime_error("test tensor missing: " + name);
        return *t;
    }
    ScratchDir dir;
    std::unique_ptr<Checkpoint> ck;
};

TEST(ToF32, EveryDtype) {
    SafetensorsWriter w;
    add_vec(w, "f64", StDtype::F64, {4}, std::vector<double>{0.1, -2.0, 1.0 + std::ldexp(1.0, -30), 1e-50});
    add_vec(w, "e4m3", StDtype::F8_E4M3, {3}, std::vector<uint8_t>{0x38, 0xc4, 0x7f});
    add_vec(w, "e8m0", StDtype::F8_E8M0, {2}, std::vector<uint8_t>{127, 130});
    add_vec(w, "i8", StDtype::I8, {3}, std::vector<int8_t>{-128, 0, 127});
    add_vec(w, "i16", StDtype::I16, {2}, std::vector<int16_t>{-32768, 1234});
    add_vec(w, "i32", StDtype::I32, {2}, std::vector<int32_t>{-7, 16777217});
    add_vec(w, "i64", StDtype::I64, {2}, std::vector<int64_t>{-1, int64_t{1} << 40});
    add_vec(w, "u8", StDtype::U8, {2}, std::vector<uint8_t>{0, 200});
    add_vec(w, "bool", StDtype::BOOL, {3}, std::vector<uint8_t>{0, 1, 2});
    add_vec(w, "bf16", StDtype::BF16, {3}, std::vector<uint16_t>{0x3f80, 0xc049, 0x0001});
    add_vec(w, "f16", StDtype::F16, {3}, std::vector<uint16_t>{0x3555, 0xfc00, 0x8000});
    const TinyCheckpoint t(w);

    EXPECT_EQ(to_f32(t.at("f64")), (std::vector<float>{0.1f, -2.0f, 1.0f, 0.0f}));
    EXPECT_EQ(to_f32(t.at("e4m3")), (std::vector<float>{1.0f, -3.0f, 0.0f}));
    EXPECT_EQ(to_f32(t.at("e8m0")), (std::vector<float>{1.0f, 8.0f}));
    EXPECT_EQ(to_f32(t.at("i8")), (std::vector<float>{-128, 0, 127}));
    EXPECT_EQ(to_f32(t.at("i16")), (std::vector<float>{-32768, 1234}));
    EXPECT_EQ(to_f32(t.at("i32")), (std::vector<float>{-7, 16777216}));  // 2^24+1 rounds to even
    EXPECT_EQ(to_f32(t.at("i64")), (std::vector<float>{-1, std::ldexp(1.0f, 40)}));
    EXPECT_EQ(to_f32(t.at("u8")), (std::vector<float>{0, 200}));
    EXPECT_EQ(to_f32(t.at("bool")), (std::vector<float>{0, 1, 1}));
    const std::vector<float> bf = to_f32(t.at("bf16"));
    EXPECT_EQ(bf[0], 1.0f);
    EXPECT_EQ(bf[1], -3.140625f);
    EXPECT_EQ(bits(bf[2]), 0x00010000u);  // bf16 subnormal, exact
    const std::vector<float> h = to_f32(t.at("f16"));
    EXPECT_EQ(h[0], 1365.0f / 4096.0f);  // 0x3555 = 1.0101010101b * 2^-2
    EXPECT_EQ(h[1], -std::numeric_limits<float>::infinity());
    EXPECT_EQ(bits(h[2]), 0x80000000u);
}

TEST(ToF32, RejectsE8m0NanAndWrongByteCount) {
    SafetensorsWriter w;
    add_vec(w, "bad", StDtype::F8_E8M0, {2}, std::vector<uint8_t>{1, 255});
    const TinyCheckpoint t(w);
    EXPECT_CONTAINS(error_of([&] { to_f32(t.at("bad")); }), "tensor 'bad': element 1 is the E8M0 NaN code 255");

    StTensor hand = t.at("bad");
    hand.dtype = StDtype::F32;  // 2 elements need 8 bytes, the tensor has 2
    EXPECT_CONTAINS(error_of([&] { to_f32(hand); }), "2 data bytes, but F32 [2] needs 8");
}

TEST(ToI32, RangeCheckedIntegers) {
    SafetensorsWriter w;
    add_vec(w, "tid2eid", StDtype::I64, {2, 2}, std::vector<int64_t>{0, 255, -3, 2147483647});
    add_vec(w, "big", StDtype::I64, {3}, std::vector<int64_t>{1, 2, int64_t{1} << 31});
    add_vec(w, "small", StDtype::I64, {1}, std::vector<int64_t>{-(int64_t{1} << 31) - 1});
    add_vec(w, "i32", StDtype::I32, {2}, std::vector<int32_t>{-5, 9});
    add_vec(w, "u8", StDtype::U8, {1}, std::vector<uint8_t>{250});
    add_vec(w, "f32", StDtype::F32, {1}, std::vector<float>{1});
    const TinyCheckpoint t(w);
    EXPECT_EQ(to_i32(t.at("tid2eid")), (std::vector<int32_t>{0, 255, -3, 2147483647}));
    EXPECT_EQ(to_i32(t.at("i32")), (std::vector<int32_t>{-5, 9}));
    EXPECT_EQ(to_i32(t.at("u8")), std::vector<int32_t>{250});
    EXPECT_CONTAINS(error_of([&] { to_i32(t.at("big")); }), "tensor 'big': element 2 = 2147483648 is outside the int32 range");
    EXPECT_CONTAINS(error_of([&] { to_i32(t.at("small")); }), "element 0 = -2147483649 is outside");
    EXPECT_CONTAINS(error_of([&] { to_i32(t.at("f32")); }), "tensor 'f32': dtype F32 is not an integer type");
}

// ---- FP8 blocks ----

// [130, 260] weight: 2 x 3 blocks of 128, the last row and column blocks partial.
constexpr uint64_t kOut = 130, kIn = 260;

std::vector<uint8_t> fp8_codes() {
    std::vector<uint8_t> q(kOut * kIn, 0x38);  // 1.0 everywhere ...
    q[5 * kIn + 200] = 0x7e;                   // ... 448 in block (0, 1)
    q[128 * kIn + 1] = 0xc4;                   // -3 in block (1, 0)
    q[3 * kIn + 3] = 0x01;                     // 2^-9 in block (0, 0)
    q[129 * kIn + 258] = 0xff;                 // NaN code -> 0, block (1, 2)
    for (uint64_t i = 0; i < kIn; i++) q[64 * kIn + i] = static_cast<uint8_t>(i);  // every code in row 64
    return q;
}
// E8M0 block scales: 2^0, 2^1, 2^-1 / 2^3, 2^-4, 2^13.
const std::vector<uint8_t> kFp8Scales = {127, 128, 126, 130, 123, 140};

TEST(Fp8Blocks, HandBuiltValuesWithPartialBlocks) {
    SafetensorsWriter w;
    add_vec(w, "l.weight", StDtype::F8_E4M3, {kOut, kIn}, fp8_codes());
    add_vec(w, "l.scale", StDtype::F8_E8M0, {2, 3}, kFp8Scales);
    const TinyCheckpoint t(w);
    const std::vector<float> v = dequantize_fp8_blocks(t.at("l.weight"), t.at("l.scale"));
    ASSERT_EQ(v.size(), kOut * kIn);
    auto at = [&](uint64_t o, uint64_t i) { return v[o * kIn + i]; };
    EXPECT_EQ(at(0, 0), 1.0f);
    EXPECT_EQ(at(0, 127), 1.0f);
    EXPECT_EQ(at(0, 128), 2.0f);
    EXPECT_EQ(at(0, 256), 0.5f);  // partial column block
    EXPECT_EQ(at(0, 259), 0.5f);
    EXPECT_EQ(at(5, 200), 896.0f);
    EXPECT_EQ(at(3, 3), std::ldexp(1.0f, -9));
    EXPECT_EQ(at(128, 0), 8.0f);  // partial row block
    EXPECT_EQ(at(128, 1), -24.0f);
    EXPECT_EQ(at(129, 130), 1.0f / 16.0f);
    EXPECT_EQ(at(129, 259), 8192.0f);
    EXPECT_EQ(at(129, 258), 0.0f);

    // Everything against an element-by-element reference built from the formulas above.
    const std::vector<uint8_t> q = fp8_codes();
    for (uint64_t o = 0; o < kOut; o++)
        for (uint64_t i = 0; i < kIn; i++) {
            const float s = std::ldexp(1.0f, kFp8Scales[(o / 128) * 3 + i / 128] - 127);
            ASSERT_EQ(bits(at(o, i)), bits(e4m3_reference(q[o * kIn + i]) * s)) << o << "," << i;
        }
}

TEST(Fp8Blocks, V3StyleWeightScaleInvInF32AndBf16) {
    SafetensorsWriter w;
    add_vec(w, "a.weight", StDtype::F8_E4M3, {128, 256}, std::vector<uint8_t>(128 * 256, 0x3c));  // 1.5
    add_vec(w, "a.weight_scale_inv", StDtype::F32, {1, 2}, std::vector<float>{0.1f, -3.0f});
    add_vec(w, "b.weight", StDtype::F8_E4M3, {1, 1}, std::vector<uint8_t>{0x40});  // 2
    add_vec(w, "b.weight_scale_inv", StDtype::BF16, {1, 1}, std::vector<uint16_t>{f32_to_bf16(0.375f)});
    const TinyCheckpoint t(w);
    const std::vector<float> a = load_weight_f32(*t.ck, "a.weight");
    EXPECT_EQ(a[0], 1.5f * 0.1f);  // f32 product, rounded once
    EXPECT_EQ(a[127], 1.5f * 0.1f);
    EXPECT_EQ(a[128], -4.5f);
    EXPECT_EQ(a[127 * 256 + 255], -4.5f);
    EXPECT_EQ(load_weight_f32(*t.ck, "b.weight"), std::vector<float>{0.75f});
}

TEST(Fp8Blocks, RejectsBadScales) {
    SafetensorsWriter w;
    add_vec(w, "w.weight", StDtype::F8_E4M3, {130, 260}, std::vector<uint8_t>(kOut * kIn, 0x38));
    add_vec(w, "floor.scale", StDtype::F8_E8M0, {1, 2}, std::vector<uint8_t>{127, 127});  // floor, not ceil
    add_vec(w, "nan.scale", StDtype::F8_E8M0, {2, 3}, std::vector<uint8_t>{127, 127, 127, 127, 255, 127});
    add_vec(w, "int.scale", StDtype::I32, {2, 3}, std::vector<int32_t>(6, 1));
    add_vec(w, "inf.scale", StDtype::F32, {2, 3},
            std::vector<float>{1, 1, 1, 1, 1, std::numeric_limits<float>::infinity()});
    add_vec(w, "flat.weight", StDtype::F8_E4M3, {4}, std::vector<uint8_t>(4, 0x38));
    add_vec(w, "one.scale", StDtype::F8_E8M0, {1, 1}, std::vector<uint8_t>{127});
    const TinyCheckpoint t(w);
    const StTensor &wt = t.at("w.weight");
    EXPECT_CONTAINS(error_of([&] { dequantize_fp8_blocks(wt, t.at("floor.scale")); }),
                    "w.weight: scale tensor 'floor.scale' has shape [1, 2]; a weight of shape [130, 260] with "
                    "128x128 blocks needs [2, 3]");
    EXPECT_CONTAINS(error_of([&] { dequantize_fp8_blocks(wt, t.at("nan.scale")); }),
                    "scale tensor 'nan.scale': element 4 is the E8M0 NaN code 255");
    EXPECT_CONTAINS(error_of([&] { dequantize_fp8_blocks(wt, t.at("int.scale")); }),
                    "scale tensor 'int.scale' has dtype I32");
    EXPECT_CONTAINS(error_of([&] { dequantize_fp8_blocks(wt, t.at("inf.scale")); }),
                    "scale tensor 'inf.scale': element 5 is not finite");
    EXPECT_CONTAINS(error_of([&] { dequantize_fp8_blocks(t.at("flat.weight"), t.at("one.scale")); }),
                    "flat.weight: FP8 block-scaled weight must be 2-D");
    EXPECT_CONTAINS(error_of([&] { dequantize_fp8_blocks(t.at("one.scale"), t.at("one.scale")); }),
                    "needs an F8_E4M3 weight, found F8_E8M0");
}

// ---- packed FP4 ----

// [2, 24] bytes = [2, 48] values: per row one full 32-block and a partial 16-value block.
std::vector<uint8_t> fp4_codes() {
    std::vector<uint8_t> q(2 * 24);
    for (int r = 0; r < 2; r++)
        for (int j = 0; j < 24; j++) {
            const int lo = j % 16, hi = 15 - j % 16;
            q[static_cast<size_t>(r * 24 + j)] = static_cast<uint8_t>(lo | (hi << 4));
        }
    return q;
}
const std::vector<uint8_t> kFp4Scales = {127, 129, 120, 0};  // 1, 4 / 2^-7, 2^-127

TEST(Fp4Packed, HandBuiltValues) {
    SafetensorsWriter w;
    add_vec(w, "e.w1.weight", StDtype::I8, {2, 24}, fp4_codes());
    add_vec(w, "e.w1.scale", StDtype::F8_E8M0, {2, 2}, kFp4Scales);
    const TinyCheckpoint t(w);
    const std::vector<float> v = dequantize_fp4_packed(t.at("e.w1.weight"), t.at("e.w1.scale"));
    ASSERT_EQ(v.size(), 2u * 48u);
    auto at = [&](int o, int i) { return v[static_cast<size_t>(o * 48 + i)]; };
    EXPECT_EQ(at(0, 0), 0.0f);     // byte 0 = 0xf0: low nibble 0 -> column 0
    EXPECT_EQ(at(0, 1), -6.0f);    // high nibble 15 -> column 1
    EXPECT_EQ(at(0, 2), 0.5f);     // byte 1 = 0xe1
    EXPECT_EQ(at(0, 3), -4.0f);
    EXPECT_EQ(at(0, 14), 6.0f);    // byte 7 = 0x87: low 7 = 6
    EXPECT_EQ(bits(at(0, 15)), 0x80000000u);  // high 8 = -0
    EXPECT_EQ(at(0, 30), -6.0f);   // byte 15 = 0x0f
    EXPECT_EQ(at(0, 31), 0.0f);
    EXPECT_EQ(at(0, 34), 2.0f);    // byte 17 = 0xe1, in the partial block 1: 0.5 * 4
    EXPECT_EQ(at(0, 35), -16.0f);  // -4 * 4
    EXPECT_EQ(at(1, 2), 0.5f / 128.0f);
    EXPECT_EQ(at(1, 35), -4.0f * std::ldexp(1.0f, -127));

    const std::vector<uint8_t> q = fp4_codes();
    for (int o = 0; o < 2; o++)
        for (int i = 0; i < 48; i++) {
            const uint8_t byte = q[static_cast<size_t>(o * 24 + i / 2)];
            const uint8_t code = i % 2 == 0 ? (byte & 15) : (byte >> 4);
            const float mag[8] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6};
            const float e = (code & 8) ? -mag[code & 7] : mag[code & 7];
            const float s = std::ldexp(1.0f, kFp4Scales[static_cast<size_t>(o * 2 + i / 32)] - 127);
            ASSERT_EQ(bits(at(o, i)), bits(e * s)) << o << "," << i;
        }
}

TEST(Fp4Packed, RejectsBadScales) {
    SafetensorsWriter w;
    add_vec(w, "e.weight", StDtype::I8, {2, 24}, fp4_codes());
    add_vec(w, "floor.scale", StDtype::F8_E8M0, {2, 1}, std::vector<uint8_t>{127, 127});
    add_vec(w, "f32.scale", StDtype::F32, {2, 2}, std::vector<float>{1, 1, 1, 1});
    add_vec(w, "nan.scale", StDtype::F8_E8M0, {2, 2}, std::vector<uint8_t>{127, 127, 255, 127});
    const TinyCheckpoint t(w);
    const StTensor &wt = t.at("e.weight");
    EXPECT_CONTAINS(error_of([&] { dequantize_fp4_packed(wt, t.at("floor.scale")); }),
                    "e.weight: scale tensor 'floor.scale' has shape [2, 1]; a packed FP4 weight of shape [2, 24] "
                    "(2 x 48 values) with 32-value blocks needs [2, 2]");
    EXPECT_CONTAINS(error_of([&] { dequantize_fp4_packed(wt, t.at("f32.scale")); }),
                    "packed FP4 scales are F8_E8M0");
    EXPECT_CONTAINS(error_of([&] { dequantize_fp4_packed(wt, t.at("nan.scale")); }), "element 2 is the E8M0 NaN code 255");
    EXPECT_CONTAINS(error_of([&] { dequantize_fp4_packed(t.at("f32.scale"), t.at("nan.scale")); }),
                    "needs an I8 weight, found F32");
}

// ---- the dispatcher ----

TEST(LoadWeight, PicksPlainFp8OrFp4) {
    SafetensorsWriter w;
    add_vec(w, "norm.weight", StDtype::BF16, {2}, std::vector<uint16_t>{0x3f80, 0xbf00});
    add_vec(w, "attn.wq.weight", StDtype::F8_E4M3, {kOut, kIn}, fp8_codes());
    add_vec(w, "attn.wq.scale", StDtype::F8_E8M0, {2, 3}, kFp8Scales);
    add_vec(w, "experts.0.w1.weight", StDtype::I8, {2, 24}, fp4_codes());
    add_vec(w, "experts.0.w1.scale", StDtype::F8_E8M0, {2, 2}, kFp4Scales);
    add_vec(w, "gate.tid2eid", StDtype::I64, {2}, std::vector<int64_t>{1, 0});
    const TinyCheckpoint t(w);
    const Checkpoint &ck = *t.ck;

    std::vector<uint64_t> shape;
    EXPECT_EQ(load_weight_f32(ck, "norm.weight", &shape), (std::vector<float>{1.0f, -0.5f}));
    EXPECT_EQ(shape, std::vector<uint64_t>{2});
    EXPECT_EQ(describe_weight(ck, "norm.weight").encoding, WeightEncoding::Plain);

    const WeightInfo fp8 = describe_weight(ck, "attn.wq.weight");
    EXPECT_EQ(fp8.encoding, WeightEncoding::Fp8Block);
    EXPECT_EQ(fp8.scale, ck.find("attn.wq.scale"));
    EXPECT_EQ(fp8.shape, (std::vector<uint64_t>{kOut, kIn}));
    EXPECT_EQ(load_weight_f32(ck, "attn.wq.weight", &shape),
              dequantize_fp8_blocks(t.at("attn.wq.weight"), t.at("attn.wq.scale")));
    EXPECT_EQ(shape, (std::vector<uint64_t>{kOut, kIn}));

    const WeightInfo fp4 = describe_weight(ck, "experts.0.w1.weight");
    EXPECT_EQ(fp4.encoding, WeightEncoding::Fp4Packed);
    EXPECT_EQ(fp4.shape, (std::vector<uint64_t>{2, 48}));  // logical, not the stored [2, 24]
    EXPECT_EQ(load_weight_f32(ck, "experts.0.w1.weight", &shape),
              dequantize_fp4_packed(t.at("experts.0.w1.weight"), t.at("experts.0.w1.scale")));
    EXPECT_EQ(shape, (std::vector<uint64_t>{2, 48}));

    EXPECT_EQ(load_weight_f32(ck, "gate.tid2eid"), (std::vector<float>{1.0f, 0.0f}));

    EXPECT_TRUE(is_companion_scale(ck, "attn.wq.scale"));
    EXPECT_TRUE(is_companion_scale(ck, "experts.0.w1.scale"));
    EXPECT_FALSE(is_companion_scale(ck, "attn.wq.weight"));
    EXPECT_FALSE(is_companion_scale(ck, "norm.weight"));
    EXPECT_FALSE(is_companion_scale(ck, "hc_head.hc_scale"));
    EXPECT_EQ(scale_names_for("a.b.weight"), (std::vector<std::string>{"a.b.scale", "a.b.weight_scale_inv"}));
    EXPECT_EQ(scale_names_for("a.bias"), (std::vector<std::string>{"a.bias.scale", "a.bias.weight_scale_inv"}));
}

TEST(LoadWeight, ErrorsNameTheTensor) {
    SafetensorsWriter w;
    add_vec(w, "layers.3.ffn.experts.7.w1.weight", StDtype::F8_E4M3, {1, 1}, std::vector<uint8_t>{0x38});
    add_vec(w, "packed.weight", StDtype::I8, {1, 16}, std::vector<uint8_t>(16, 0x11));
    add_vec(w, "both.weight", StDtype::F8_E4M3, {1, 1}, std::vector<uint8_t>{0x38});
    add_vec(w, "both.scale", StDtype::F8_E8M0, {1, 1}, std::vector<uint8_t>{127});
    add_vec(w, "both.weight_scale_inv", StDtype::F32, {1, 1}, std::vector<float>{1});
    add_vec(w, "bf.weight", StDtype::BF16, {1}, std::vector<uint16_t>{0x3f80});
    add_vec(w, "bf.scale", StDtype::F32, {1}, std::vector<float>{1});
    add_vec(w, "fp4.weight", StDtype::I8, {1, 16}, std::vector<uint8_t>(16, 0x11));
    add_vec(w, "fp4.scale", StDtype::F8_E8M0, {1, 2}, std::vector<uint8_t>{127, 127});
    const TinyCheckpoint t(w);
    const Checkpoint &ck = *t.ck;
    EXPECT_CONTAINS(error_of([&] { load_weight_f32(ck, "layers.3.ffn.experts.7.w1.weight"); }),
                    "layers.3.ffn.experts.7.w1.weight: F8_E4M3 weight without a scale tensor "
                    "('layers.3.ffn.experts.7.w1.scale' not found)");
    EXPECT_CONTAINS(error_of([&] { load_weight_f32(ck, "packed.weight"); }),
                    "packed.weight: I8 (packed FP4) weight without a scale tensor ('packed.scale' not found)");
    EXPECT_CONTAINS(error_of([&] { load_weight_f32(ck, "both.weight"); }),
                    "both.weight: both 'both.scale' and 'both.weight_scale_inv' exist");
    EXPECT_CONTAINS(error_of([&] { load_weight_f32(ck, "bf.weight"); }),
                    "bf.weight: BF16 weight has a scale tensor 'bf.scale'");
    EXPECT_CONTAINS(error_of([&] { load_weight_f32(ck, "fp4.weight"); }),
                    "fp4.weight: scale tensor 'fp4.scale' has shape [1, 2]");
    EXPECT_CONTAINS(error_of([&] { load_weight_f32(ck, "absent.weight"); }),
                    "absent.weight: tensor not found in checkpoint");
}

}  // namespace
}  // namespace dstar::convert
