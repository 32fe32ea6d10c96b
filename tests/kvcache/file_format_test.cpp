#include "kvcache/file_format.h"

#include <gtest/gtest.h>

#include <cstring>

#include "common/error.h"

namespace dstar::kvcache {
namespace {

FileHeader sample_header() {
    FileHeader h;
    h.quant_bits = 4;
    h.reason = 2;
    h.flags = kFlagToolMap | kFlagResponsesVisible;
    h.tokens = 30123;
    h.hits = 7;
    h.ctx = 65536;
    h.created = 1700000000;
    h.last_used = 1700000123;
    h.payload_bytes = 0x1'2345'6789ull;
    h.text_bytes = 98765;
    h.payload_crc = 0xDEADBEEF;
    return h;
}

std::optional<FileHeader> decode(const std::array<uint8_t, kPrefixBytes> &b, std::string *why = nullptr) {
    return decode_header(std::span<const uint8_t>(b.data(), b.size()), why);
}

TEST(FileFormat, HeaderBytesAreDs4Layout) {
    const auto b = encode_header(sample_header());
    auto u32 = [&](size_t at) { return uint32_t(b[at]) | uint32_t(b[at + 1]) << 8 | uint32_t(b[at + 2]) << 16 | uint32_t(b[at + 3]) << 24; };
    auto u64 = [&](size_t at) { return uint64_t(u32(at)) | uint64_t(u32(at + 4)) << 32; };
    EXPECT_EQ(std::string(reinterpret_cast<const char *>(b.data()), 3), "KVC");
    EXPECT_EQ(b[3], 1);
    EXPECT_EQ(b[4], 4);
    EXPECT_EQ(b[5], 2);
    EXPECT_EQ(b[6], kFlagToolMap | kFlagResponsesVisible);
    EXPECT_EQ(b[7], kIntegrityCrc32c);
    EXPECT_EQ(u32(8), 30123u);
    EXPECT_EQ(u32(12), 7u);
    EXPECT_EQ(u32(16), 65536u);
    EXPECT_EQ(u32(20), 0xDEADBEEFu);
    EXPECT_EQ(u64(24), 1700000000u);
    EXPECT_EQ(u64(32), 1700000123u);
    EXPECT_EQ(u64(40), 0x1'2345'6789ull);
    EXPECT_EQ(u32(48), 98765u);
}

TEST(FileFormat, HeaderRoundTrips) {
    const FileHeader h = sample_header();
    const std::optional<FileHeader> d = decode(encode_header(h));
    ASSERT_TRUE(d);
    EXPECT_EQ(d->quant_bits, h.quant_bits);
    EXPECT_EQ(d->reason, h.reason);
    EXPECT_EQ(d->flags, h.flags);
    EXPECT_EQ(d->tokens, h.tokens);
    EXPECT_EQ(d->hits, h.hits);
    EXPECT_EQ(d->ctx, h.ctx);
    EXPECT_EQ(d->created, h.created);
    EXPECT_EQ(d->last_used, h.last_used);
    EXPECT_EQ(d->payload_bytes, h.payload_bytes);
    EXPECT_EQ(d->text_bytes, h.text_bytes);
    EXPECT_EQ(d->payload_crc, h.payload_crc);
    EXPECT_EQ(d->payload_end(), kPrefixBytes + h.text_bytes + h.payload_bytes);
}

TEST(FileFormat, Ds4HeaderWithoutChecksumDecodes) {
    FileHeader h = sample_header();
    h.payload_crc.reset();
    const auto b = encode_header(h);
    EXPECT_EQ(b[7], 0);
    EXPECT_EQ(b[20] | b[21] | b[22] | b[23], 0);  // reserved bytes stay zero, as ds4 writes them
    const std::optional<FileHeader> d = decode(b);
    ASSERT_TRUE(d);
    EXPECT_FALSE(d->payload_crc);
}

TEST(FileFormat, UnknownReasonReadsAsZero) {
    auto b = encode_header(sample_header());
    b[5] = 6;  // ds4-agent's agent-session
    EXPECT_EQ(decode(b)->reason, 6);
    b[5] = 7;
    EXPECT_EQ(decode(b)->reason, 0);
}

TEST(FileFormat, EachMalformedHeaderFieldIsRejectedByName) {
    const auto good = encode_header(sample_header());
    struct Case {
        size_t at;
        uint8_t value;
        const char *why;
    };
    for (const Case &c : {Case{0, 'X', "magic"}, Case{1, 'v', "magic"}, Case{2, 'c', "magic"}, Case{3, 2, "version"},
                          Case{3, 0, "version"}, Case{4, 3, "quant bits 3"}, Case{4, 8, "quant bits 8"},
                          Case{4, 0, "quant bits 0"}}) {
        auto b = good;
        b[c.at] = c.value;
        std::string why;
        EXPECT_FALSE(decode(b, &why)) << c.why;
        EXPECT_NE(why.find(c.why), std::string::npos) << why;
    }
    auto zero_tokens = good;
    std::memset(&zero_tokens[8], 0, 4);
    std::string why;
    EXPECT_FALSE(decode(zero_tokens, &why));
    EXPECT_NE(why.find("zero tokens"), std::string::npos) << why;
    auto huge = good;
    std::memset(&huge[40], 0xFF, 8);
    EXPECT_FALSE(decode(huge, &why));
    EXPECT_NE(why.find("overflow"), std::string::npos) << why;
    for (size_t n = 0; n < kPrefixBytes; n++) {
        EXPECT_FALSE(decode_header(std::span<const uint8_t>(good.data(), n), &why)) << n;
        EXPECT_NE(why.find("truncated"), std::string::npos) << why;
    }
}

// ---- trailer ----

ToolEntries sample_entries() {
    const std::string block = "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"bash\">\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>";
    return {{"call_a", block}, {"call_b", block}, {"toolu_01", "<tool_calls><invoke name=\"x\"></invoke></tool_calls>"}};
}

ToolEntries decode_bytes(const std::vector<uint8_t> &b, uint64_t max_count = 1000,
                         const std::function<bool(std::string_view)> &keep = {}, uint64_t available = UINT64_MAX) {
    size_t at = 0;
    auto read = [&](void *dst, size_t n) {
        if (n > b.size() - at) return false;
        std::memcpy(dst, b.data() + at, n);
        at += n;
        return true;
    };
    return decode_trailer(read, std::min<uint64_t>(available, b.size()), max_count, keep);
}

TEST(FileFormat, TrailerLayoutAndRoundTrip) {
    const ToolEntries e = sample_entries();
    const std::vector<uint8_t> b = encode_trailer(e);
    ASSERT_EQ(b.size(), trailer_bytes(e));
    EXPECT_EQ(std::string(reinterpret_cast<const char *>(b.data()), 4), "KTM\x01");
    EXPECT_EQ(b[4], 3);
    EXPECT_EQ(b[8], 6);  // id length of "call_a", then the DSML length, then the bytes
    EXPECT_EQ(std::string(reinterpret_cast<const char *>(&b[16]), 6), "call_a");
    EXPECT_EQ(decode_bytes(b), e);
    EXPECT_EQ(trailer_bytes({}), 0u);
    EXPECT_TRUE(encode_trailer({}).empty());
    const ToolEntries only_b = decode_bytes(b, 1000, [](std::string_view id) { return id == "call_b"; });
    ASSERT_EQ(only_b.size(), 1u);
    EXPECT_EQ(only_b[0].first, "call_b");
}

TEST(FileFormat, MalformedTrailersFollowDs4Tolerance) {
    const ToolEntries e = sample_entries();
    const std::vector<uint8_t> good = encode_trailer(e);
    auto with = [&](size_t at, uint32_t v) {
        std::vector<uint8_t> b = good;
        std::memcpy(&b[at], &v, 4);
        return b;
    };
    std::vector<uint8_t> bad_magic = good;
    bad_magic[1] = 'X';
    EXPECT_TRUE(decode_bytes(bad_magic).empty());
    std::vector<uint8_t> bad_version = good;
    bad_version[3] = 2;
    EXPECT_TRUE(decode_bytes(bad_version).empty());
    EXPECT_TRUE(decode_bytes(good, 2).empty());  // count above the limit: ignored whole
    const size_t second = 8 + 8 + e[0].first.size() + e[0].second.size();
    // A bad second entry stops reading; the first one is kept.
    for (const auto &b : {with(second, 0), with(second, 257), with(second + 4, 0),
                          with(second + 4, static_cast<uint32_t>(kMaxDsmlBytes + 1)), with(second + 4, 1u << 28)}) {
        const ToolEntries got = decode_bytes(b);
        ASSERT_EQ(got.size(), 1u);
        EXPECT_EQ(got[0], e[0]);
    }
    for (size_t n = 0; n < good.size(); n++) {  // every truncation: a prefix of the entries
        const ToolEntries got = decode_bytes(std::vector<uint8_t>(good.begin(), good.begin() + n));
        ASSERT_LE(got.size(), e.size());
        for (size_t i = 0; i < got.size(); i++) EXPECT_EQ(got[i], e[i]);
    }
    EXPECT_EQ(decode_bytes(good, 1000, {}, good.size() - 1).size(), 2u);  // `available` bounds reads
    EXPECT_THROW(encode_trailer({{std::string(257, 'x'), "b"}}), Error);
}

}  // namespace
}  // namespace dstar::kvcache
