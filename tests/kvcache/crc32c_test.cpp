#include "kvcache/crc32c.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace dstar::kvcache {
namespace {

TEST(Crc32c, KnownVectors) {
    // The CRC-32C check value (RFC 3720 / iSCSI) and two of its test patterns.
    EXPECT_EQ(crc32c(0, "123456789", 9), 0xE3069283u);
    EXPECT_EQ(crc32c(0, "", 0), 0u);
    const std::vector<uint8_t> zeros(32, 0), ones(32, 0xFF);
    EXPECT_EQ(crc32c(0, zeros.data(), zeros.size()), 0x8A9136AAu);
    EXPECT_EQ(crc32c(0, ones.data(), ones.size()), 0x62A8AB43u);
}

TEST(Crc32c, IncrementalEqualsOneShotAtEverySplit) {
    std::mt19937 rng(3);
    std::vector<uint8_t> data(301);
    for (uint8_t &b : data) b = static_cast<uint8_t>(rng());
    const uint32_t whole = crc32c(0, data.data(), data.size());
    for (size_t cut = 0; cut <= data.size(); cut++)
        ASSERT_EQ(crc32c(crc32c(0, data.data(), cut), data.data() + cut, data.size() - cut), whole) << cut;
}

TEST(Crc32c, EveryBitFlipChangesTheValue) {
    std::vector<uint8_t> data(64, 0x5A);
    const uint32_t base = crc32c(0, data.data(), data.size());
    for (size_t bit = 0; bit < data.size() * 8; bit++) {
        data[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
        EXPECT_NE(crc32c(0, data.data(), data.size()), base) << bit;
        data[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    }
}

}  // namespace
}  // namespace dstar::kvcache
