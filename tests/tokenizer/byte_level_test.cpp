// GPT-2 byte-to-unicode mapping (tokenizer.md §7) and the lenient decoding of §8.
#include "test_support.h"
#include "tokenizer/byte_level.h"

#include "common/mapped_file.h"

#include <gtest/gtest.h>
#include <sstream>

namespace dstar::tok {
namespace {

TEST(ByteLevel, MatchesTheSpecTable) {
    std::istringstream in(read_file(test::spec_data("gpt2_byte_to_unicode.tsv")));
    std::string line;
    std::getline(in, line);  // header
    int rows = 0;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        std::istringstream f(line);
        int byte;
        std::string cp, hex_utf8;
        f >> byte >> cp >> hex_utf8;
        ASSERT_EQ(byte, rows);
        EXPECT_EQ(byte_to_codepoint(static_cast<uint8_t>(byte)), std::stoul(cp.substr(2), nullptr, 16)) << line;
        std::string utf8;
        for (size_t i = 0; i < hex_utf8.size(); i += 2) utf8 += static_cast<char>(std::stoi(hex_utf8.substr(i, 2), nullptr, 16));
        EXPECT_EQ(byte_symbol(static_cast<uint8_t>(byte)), utf8) << line;
        EXPECT_EQ(codepoint_to_byte(byte_to_codepoint(static_cast<uint8_t>(byte))), byte);
        rows++;
    }
    EXPECT_EQ(rows, 256);
}

TEST(ByteLevel, WellKnownSymbols) {
    EXPECT_EQ(byte_symbol(' '), "\xC4\xA0");    // Ġ
    EXPECT_EQ(byte_symbol('\n'), "\xC4\x8A");   // Ċ
    EXPECT_EQ(byte_symbol('\t'), "\xC4\x89");   // ĉ
    EXPECT_EQ(byte_symbol(0x00), "\xC4\x80");   // Ā
    EXPECT_EQ(byte_symbol(0xAD), "\xC5\x83");   // Ń
    EXPECT_EQ(byte_symbol('A'), "A");
    EXPECT_EQ(byte_symbol(0xE9), "\xC3\xA9");   // é maps to itself
    EXPECT_EQ(codepoint_to_byte(0x144), -1);
    EXPECT_EQ(codepoint_to_byte(' '), -1);      // raw space is not in the alphabet
    EXPECT_EQ(codepoint_to_byte(0xFF5C), -1);
}

TEST(ByteLevel, RoundTripOfEveryByteString) {
    std::string all;
    for (int b = 0; b < 256; b++) all += static_cast<char>(b);
    EXPECT_EQ(symbols_to_bytes(bytes_to_symbols(all)), all);
    EXPECT_EQ(bytes_to_symbols(" world"), "\xC4\xA0world");
}

TEST(ByteLevel, LenientDecodingLikeDs4) {
    // Code points without an inverse are dropped (a raw ASCII space, CJK, U+FF5C).
    EXPECT_EQ(symbols_to_bytes("a b"), "ab");
    EXPECT_EQ(symbols_to_bytes("x\xE4\xB8\xADy"), "xy");
    // A lead byte cut off by the end decodes as the code point of its own value: 0xC4 is
    // the symbol of byte 0xC4.
    EXPECT_EQ(symbols_to_bytes("a\xC4"), "a\xC4");
    // Continuation bytes are not checked: C4 41 reads as U+0101 (byte 0x01).
    EXPECT_EQ(symbols_to_bytes("\xC4\x41"), std::string("\x01", 1));
    EXPECT_EQ(symbols_to_bytes(""), "");
}

}  // namespace
}  // namespace dstar::tok
