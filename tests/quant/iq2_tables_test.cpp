// The compiled-in IQ2_XXS tables must equal shared/spec/data/*.txt and obey the format rules.
#include <gtest/gtest.h>

#include <bit>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "quant/dequant.h"

namespace dstar::quant {
namespace {

std::vector<std::string> read_lines(const std::string &name) {
    const std::string path = std::string(DSTAR_SHARED_DIR) + "/spec/data/" + name;
    std::ifstream in(path);
    EXPECT_TRUE(in) << "cannot open " << path;
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) {
        if (!line.empty()) lines.push_back(line);
    }
    return lines;
}

TEST(Iq2Tables, GridMatchesDataFile) {
    const auto lines = read_lines("iq2xxs_grid.txt");
    ASSERT_EQ(lines.size(), 256u);
    for (size_t i = 0; i < 256; i++) {
        EXPECT_EQ(kIq2xxsGrid[i], std::strtoull(lines[i].c_str(), nullptr, 16)) << "entry " << i;
    }
}

TEST(Iq2Tables, GridBytesMatchDataFile) {
    const auto lines = read_lines("iq2xxs_grid_bytes.txt");
    ASSERT_EQ(lines.size(), 256u);
    for (size_t i = 0; i < 256; i++) {
        std::istringstream in(lines[i]);
        for (int k = 0; k < 8; k++) {
            unsigned v = 0;
            in >> v;
            EXPECT_EQ((kIq2xxsGrid[i] >> (8 * k)) & 0xff, v) << "entry " << i << " byte " << k;
        }
    }
}

TEST(Iq2Tables, SignsMatchDataFile) {
    const auto lines = read_lines("ksigns_iq2xs.txt");
    ASSERT_EQ(lines.size(), 128u);
    for (size_t c = 0; c < 128; c++) EXPECT_EQ(kIq2xsSigns[c], std::stoul(lines[c])) << "code " << c;
}

TEST(Iq2Tables, GridIsSortedDistinctAndUsesThreeMagnitudes) {
    for (int i = 1; i < 256; i++) EXPECT_LT(kIq2xxsGrid[i - 1], kIq2xxsGrid[i]);
    for (int i = 0; i < 256; i++) {
        for (int k = 0; k < 8; k++) {
            const unsigned b = (kIq2xxsGrid[i] >> (8 * k)) & 0xff;
            EXPECT_TRUE(b == 8 || b == 25 || b == 43) << "entry " << i;
        }
    }
}

// The 8th sign is implied: every mask has an even number of set bits.
TEST(Iq2Tables, SignsAddParityBit) {
    for (unsigned c = 0; c < 128; c++) {
        EXPECT_EQ(kIq2xsSigns[c], c | (std::popcount(c) % 2 ? 0x80u : 0u));
        EXPECT_EQ(std::popcount(static_cast<unsigned>(kIq2xsSigns[c])) % 2, 0);
    }
}

}  // namespace
}  // namespace dstar::quant
