// dequantize_row: the shared test vectors bit for bit, hand-built blocks of every format
// checked element by element against the format definitions, and the error cases.
#include "quant/dequant.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/fp16.h"
#include "quant/blocks.h"
#include "quant_test_util.h"

namespace dstar::quant {
namespace {

using gguf::TensorType;
using testing::same_bits;

std::vector<uint8_t> from_hex(const std::string &hex) {
    std::vector<uint8_t> out(hex.size() / 2);
    for (size_t i = 0; i < out.size(); i++) out[i] = static_cast<uint8_t>(std::stoul(hex.substr(2 * i, 2), nullptr, 16));
    return out;
}

TEST(Dequant, SharedTestVectorsExactly) {
    const std::string path = std::string(DSTAR_SHARED_DIR) + "/spec/data/quant_test_vectors.jsonl";
    std::ifstream in(path);
    ASSERT_TRUE(in) << "cannot open " << path;
    int cases = 0;
    for (std::string line; std::getline(in, line);) {
        if (line.empty()) continue;
        const auto j = nlohmann::json::parse(line);
        const auto type = static_cast<TensorType>(j.at("type_id").get<uint32_t>());
        const auto bytes = from_hex(j.at("block_hex").get<std::string>());
        const auto values = j.at("values").get<std::vector<double>>();
        ASSERT_EQ(bytes.size(), j.at("bytes_per_block").get<size_t>());
        ASSERT_EQ(values.size(), j.at("elements").get<size_t>());
        std::vector<float> out(values.size());
        dequantize_row(type, bytes.data(), out.data(), out.size());
        for (size_t i = 0; i < out.size(); i++) {
            EXPECT_TRUE(same_bits(out[i], static_cast<float>(values[i])))
                << j.at("type").get<std::string>() << " block " << j.at("block_index") << " element " << i;
        }
        cases++;
    }
    EXPECT_EQ(cases, 8);
}

TEST(Dequant, PlainTypes) {
    const float f32[3] = {1.5f, -0.0f, std::numeric_limits<float>::infinity()};
    float out[4];
    dequantize_row(TensorType::F32, f32, out, 3);
    for (int i = 0; i < 3; i++) EXPECT_TRUE(same_bits(out[i], f32[i]));

    const uint16_t f16[4] = {0x3c00, 0xc000, 0x0001, 0x7c00};
    dequantize_row(TensorType::F16, f16, out, 4);
    EXPECT_EQ(out[0], 1.0f);
    EXPECT_EQ(out[1], -2.0f);
    EXPECT_EQ(out[2], std::ldexp(1.0f, -24));
    EXPECT_TRUE(std::isinf(out[3]));

    const uint16_t bf16[2] = {0x3f80, 0xc040};
    dequantize_row(TensorType::BF16, bf16, out, 2);
    EXPECT_EQ(out[0], 1.0f);
    EXPECT_EQ(out[1], -3.0f);
}

TEST(Dequant, Q8_0Block) {
    BlockQ8_0 b[2];
    b[0].d = f32_to_f16(0.5f);
    b[1].d = f32_to_f16(-0.25f);
    for (int i = 0; i < 32; i++) {
        b[0].qs[i] = static_cast<int8_t>(i - 16);
        b[1].qs[i] = static_cast<int8_t>(i == 0 ? -128 : 127);
    }
    float out[64];
    dequantize_row(TensorType::Q8_0, b, out, 64);
    for (int i = 0; i < 32; i++) EXPECT_EQ(out[i], 0.5f * static_cast<float>(i - 16));
    EXPECT_EQ(out[32], 32.0f);
    for (int i = 33; i < 64; i++) EXPECT_EQ(out[i], -31.75f);
}

// Q2_K element i: h = i/128, j = (i%128)/32, l = i%32, q = (qs[32h+l] >> 2j) & 3,
// sc = scales[8h + 2j + (l >= 16)], w = d*(sc&15)*q - dmin*(sc>>4).
TEST(Dequant, Q2_KBlock) {
    BlockQ2_K b{};
    b.d = f32_to_f16(1.0f);
    b.dmin = f32_to_f16(0.5f);
    for (int s = 0; s < 16; s++) b.scales[s] = static_cast<uint8_t>((s % 16) | ((15 - s) << 4));
    // Codes: element i gets code (i / 3) & 3, written into its byte and bit pair.
    for (int i = 0; i < 256; i++) {
        const int h = i / 128, j = (i % 128) / 32, l = i % 32;
        b.qs[32 * h + l] = static_cast<uint8_t>(b.qs[32 * h + l] | (((i / 3) & 3) << (2 * j)));
    }
    float out[256];
    dequantize_row(TensorType::Q2_K, &b, out, 256);
    for (int i = 0; i < 256; i++) {
        const int h = i / 128, j = (i % 128) / 32, l = i % 32;
        const int s = 8 * h + 2 * j + (l >= 16);
        const float expect = 1.0f * static_cast<float>(s % 16) * static_cast<float>((i / 3) & 3) -
                             0.5f * static_cast<float>(15 - s);
        EXPECT_EQ(out[i], expect) << "element " << i;
    }
    // Spot checks written out by hand.
    EXPECT_EQ(out[0], 0.0f - 7.5f);                  // scale 0, min 15
    EXPECT_EQ(out[128 + 64 + 17], 13.0f * 1 - 1.0f);  // h=1 j=2 l=17: scales[13], code (209/3)&3 = 1
    EXPECT_EQ(out[255], 15.0f * 1 - 0.0f);           // scales[15] = 15 | 0<<4, code (255/3)&3 = 1
}

// Q4_K: 6-bit scales/mins packed as in quants.md 5.3; low nibbles of qs[32g..] are
// elements 64g..64g+31 (sub-block 2g), high nibbles 64g+32.. (sub-block 2g+1).
TEST(Dequant, Q4_KBlock) {
    const int sc[8] = {1, 2, 3, 63, 33, 45, 17, 60};
    const int mn[8] = {0, 5, 63, 7, 48, 1, 31, 16};
    BlockQ4_K b{};
    b.d = f32_to_f16(0.25f);
    b.dmin = f32_to_f16(2.0f);
    for (int k = 0; k < 4; k++) {
        b.scales[k] = static_cast<uint8_t>(sc[k] | ((sc[k + 4] >> 4) << 6));
        b.scales[k + 4] = static_cast<uint8_t>(mn[k] | ((mn[k + 4] >> 4) << 6));
        b.scales[k + 8] = static_cast<uint8_t>((sc[k + 4] & 15) | ((mn[k + 4] & 15) << 4));
    }
    for (int i = 0; i < 128; i++) b.qs[i] = static_cast<uint8_t>((i % 16) | ((15 - i % 16) << 4));
    float out[256];
    dequantize_row(TensorType::Q4_K, &b, out, 256);
    for (int i = 0; i < 256; i++) {
        const int g = i / 64, u = i % 64;
        const int k = u < 32 ? 2 * g : 2 * g + 1;
        const int byte = b.qs[32 * g + u % 32];
        const int q = u < 32 ? (byte & 15) : (byte >> 4);
        const float expect = 0.25f * static_cast<float>(sc[k]) * static_cast<float>(q) -
                             2.0f * static_cast<float>(mn[k]);
        EXPECT_EQ(out[i], expect) << "element " << i;
    }
    EXPECT_EQ(out[0], 0.0f);                        // sc 1, q 0, min 0
    EXPECT_EQ(out[32 + 5], 0.5f * 10 - 10.0f);      // sub-block 1: high nibble of qs[5] = 10
    EXPECT_EQ(out[192 + 40], 15.0f * 7 - 32.0f);    // sub-block 7: sc 60, min 16, q = 15-8
}

// IQ2_XXS: group g = bytes 8g..8g+7 of qs: 4 grid indices, then a u32 with four 7-bit
// sign codes and the 4-bit scale; w = d*(0.5+ls)*0.25 * mag * sign.
TEST(Dequant, IQ2_XXSBlock) {
    BlockIQ2_XXS b{};
    b.d = f32_to_f16(1.0f);
    auto *bytes = reinterpret_cast<uint8_t *>(b.qs);
    // Group 3: grid entries 0 (all 8), 1 (43 then 8s), 255, 17; sign codes 0b0000001
    // (odd -> bit 7 implied), 0, 0b1111111 (odd -> all 8 negative), 0b0000011 (even);
    // scale 5 -> db = 1.375.
    uint8_t *g3 = bytes + 24;
    g3[0] = 0;
    g3[1] = 1;
    g3[2] = 255;
    g3[3] = 17;
    const uint32_t w = 0x01u | (0u << 7) | (0x7fu << 14) | (0x03u << 21) | (5u << 28);
    std::memcpy(g3 + 4, &w, 4);
    float out[256];
    dequantize_row(TensorType::IQ2_XXS, &b, out, 256);

    const float db = 1.375f;
    const float *o = out + 96;
    // Sub-group 0: all magnitude 8; element 0 negative and (implied) element 7 negative.
    EXPECT_EQ(o[0], -db * 8);
    for (int k = 1; k < 7; k++) EXPECT_EQ(o[k], db * 8) << k;
    EXPECT_EQ(o[7], -db * 8);
    // Sub-group 1: entry 1 = 0x080808080808082b, no signs.
    EXPECT_EQ(o[8], db * 43);
    for (int k = 9; k < 16; k++) EXPECT_EQ(o[k], db * 8);
    // Sub-group 2: entry 255 = 0x2b2b2b1908081908, all negative.
    const uint8_t mags255[8] = {8, 25, 8, 8, 25, 43, 43, 43};
    for (int k = 0; k < 8; k++) EXPECT_EQ(o[16 + k], -db * mags255[k]) << k;
    // Sub-group 3: elements 0, 1 negative, rest positive.
    for (int k = 0; k < 8; k++) {
        const float mag = static_cast<float>((kIq2xxsGrid[17] >> (8 * k)) & 0xff);
        EXPECT_EQ(o[24 + k], (k < 2 ? -1.0f : 1.0f) * db * mag) << k;
    }
    // Other groups: indices 0, codes 0, scale 0 -> +1.0 * 0.125 * 8.
    for (int i = 0; i < 96; i++) EXPECT_EQ(out[i], 1.0f) << i;
    for (int i = 128; i < 256; i++) EXPECT_EQ(out[i], 1.0f) << i;
}

TEST(Dequant, SupportedTypes) {
    for (auto t : {TensorType::F32, TensorType::F16, TensorType::BF16, TensorType::Q8_0,
                   TensorType::Q2_K, TensorType::Q4_K, TensorType::IQ2_XXS}) {
        EXPECT_TRUE(is_supported_weight_type(t)) << gguf::type_name(t);
    }
    for (auto t : {TensorType::I32, TensorType::Q4_0, TensorType::Q8_K, TensorType::Q6_K,
                   TensorType::IQ2_XS}) {
        EXPECT_FALSE(is_supported_weight_type(t)) << gguf::type_name(t);
    }
}

TEST(Dequant, RejectsUnsupportedTypesAndPartialBlocks) {
    uint8_t buf[512] = {};
    float out[512];
    EXPECT_THROW(dequantize_row(TensorType::Q4_0, buf, out, 32), Error);
    EXPECT_THROW(dequantize_row(TensorType::I32, buf, out, 4), Error);
    EXPECT_THROW(dequantize_row(TensorType::Q8_0, buf, out, 33), Error);
    EXPECT_THROW(dequantize_row(TensorType::Q2_K, buf, out, 128), Error);
    EXPECT_THROW(dequantize_row(TensorType::IQ2_XXS, buf, out, 300), Error);
    EXPECT_NO_THROW(dequantize_row(TensorType::Q8_0, buf, out, 0));
}

}  // namespace
}  // namespace dstar::quant
