// ImportanceMatrix: ds4's / llama.cpp's legacy .dat format written here byte by byte, the
// llama.cpp GGUF imatrix format, the lookups (shared, per-expert slices, per-expert names)
// and corrupt files.
#include "quant/imatrix.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "common/error.h"
#include "gguf/writer.h"

namespace dstar::quant {
namespace {

std::string temp_path(const std::string &name) {
    return std::string(::testing::TempDir()) + "/dstar_imatrix_" + std::to_string(::getpid()) + "_" + name;
}

void write_bytes(const std::string &path, const std::vector<uint8_t> &b) {
    FILE *f = std::fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    if (!b.empty()) {
        ASSERT_EQ(std::fwrite(b.data(), 1, b.size(), f), b.size());
    }
    std::fclose(f);
}

std::string error_of(const std::function<void()> &fn) {
    try {
        fn();
    } catch (const Error &e) {
        return e.what();
    }
    return "";
}

// Builds a legacy file the way ds4.c's imatrix_collector_save writes it: i32 entry count;
// per entry i32 name length, name, i32 ncall, i32 nval, nval f32; then i32 chunk count, i32
// dataset length, dataset bytes.
struct LegacyFile {
    std::vector<uint8_t> bytes;
    void i32(int32_t v) { raw(&v, 4); }
    void f32(float v) { raw(&v, 4); }
    void str(const std::string &s) { raw(s.data(), s.size()); }
    void raw(const void *p, size_t n) {
        const auto *c = static_cast<const uint8_t *>(p);
        bytes.insert(bytes.end(), c, c + n);
    }
    void entry(const std::string &name, int32_t ncall, const std::vector<float> &values) {
        i32(static_cast<int32_t>(name.size()));
        str(name);
        i32(ncall);
        i32(static_cast<int32_t>(values.size()));
        for (float v : values) f32(v);
    }
    void trailer(int32_t chunks, const std::string &dataset) {
        i32(chunks);
        i32(static_cast<int32_t>(dataset.size()));
        str(dataset);
    }
};

std::vector<float> ramp(size_t n, float start) {
    std::vector<float> v(n);
    for (size_t i = 0; i < n; i++) v[i] = start + static_cast<float>(i);
    return v;
}

constexpr int kExperts = 4, kCols = 8;

// What ds4 writes for one layer (gate, up, down packed by expert), plus a 2-D tensor in
// llama.cpp's convention (ncall = 3, values stored as mean * ncall) and per-expert names.
LegacyFile sample_file(size_t *entries_end = nullptr) {
    LegacyFile f;
    f.i32(5);
    f.entry("blk.0.ffn_gate_exps.weight", 1, ramp(kExperts * kCols, 1.0f));
    f.entry("blk.0.ffn_up_exps.weight", 1, ramp(kExperts * kCols, 1.0f));
    f.entry("blk.0.ffn_down_exps.weight", 1, ramp(kExperts * 2 * kCols, 100.0f));
    f.entry("blk.0.attn_q_a.weight", 3, std::vector<float>(16, 6.0f));
    f.entry("blk.1.ffn_gate_exps.weight.expert.2", 1, std::vector<float>(kCols, 0.5f));
    if (entries_end) *entries_end = f.bytes.size();
    f.trailer(42, "calibration.txt");
    return f;
}

TEST(ImatrixLegacy, ReadsDs4Layout) {
    const std::string path = temp_path("ds4.dat");
    write_bytes(path, sample_file().bytes);
    const auto m = ImportanceMatrix::load(path);
    EXPECT_EQ(m.size(), 5u);
    EXPECT_EQ(m.chunks(), 42);
    EXPECT_EQ(m.dataset(), "calibration.txt");
    EXPECT_EQ(m.path(), path);
    EXPECT_EQ(m.entry_size("blk.0.ffn_down_exps.weight"), 64u);
    EXPECT_EQ(m.names().front(), "blk.0.attn_q_a.weight");

    // Expert e of a packed entry is the slice [e * cols, (e + 1) * cols).
    for (int e = 0; e < kExperts; e++) {
        const float *v = m.find("blk.0.ffn_gate_exps.weight", kCols, e);
        ASSERT_NE(v, nullptr);
        for (int i = 0; i < kCols; i++) EXPECT_EQ(v[i], 1.0f + static_cast<float>(e * kCols + i));
        const float *d = m.find("blk.0.ffn_down_exps.weight", 2 * kCols, e);
        ASSERT_NE(d, nullptr);
        EXPECT_EQ(d[0], 100.0f + static_cast<float>(e * 2 * kCols));
    }
    // ncall = 3: the stored values are divided by it.
    const float *q = m.find("blk.0.attn_q_a.weight", 16);
    ASSERT_NE(q, nullptr);
    EXPECT_EQ(q[0], 2.0f);
    // A 2-D entry applies to every expert index too.
    EXPECT_EQ(m.find("blk.0.attn_q_a.weight", 16, 3), q);
    // Per-expert names are looked up first.
    const float *pe = m.find("blk.1.ffn_gate_exps.weight", kCols, 2);
    ASSERT_NE(pe, nullptr);
    EXPECT_EQ(pe[0], 0.5f);
    EXPECT_EQ(m.find("blk.1.ffn_gate_exps.weight", kCols, 1), nullptr);
    EXPECT_EQ(m.find("blk.7.ffn_gate_exps.weight", kCols, 0), nullptr);
    std::remove(path.c_str());
}

TEST(ImatrixLegacy, LookupErrorsNameFileAndTensor) {
    const std::string path = temp_path("lookup.dat");
    write_bytes(path, sample_file().bytes);
    const auto m = ImportanceMatrix::load(path);
    // A packed expert entry without an expert index, a wrong column count, an expert out of range.
    std::string err = error_of([&] { m.find("blk.0.ffn_gate_exps.weight", kCols); });
    EXPECT_NE(err.find(path), std::string::npos) << err;
    EXPECT_NE(err.find("blk.0.ffn_gate_exps.weight"), std::string::npos) << err;
    EXPECT_NE(error_of([&] { m.find("blk.0.attn_q_a.weight", 15); }).find("does not fit rows of 15"),
              std::string::npos);
    err = error_of([&] { m.find("blk.0.ffn_gate_exps.weight", kCols, kExperts); });
    EXPECT_NE(err.find("expert 4 is out of range"), std::string::npos) << err;
    err = error_of([&] { m.find("blk.0.ffn_gate_exps.weight", 5, 0); });
    EXPECT_NE(err.find("nor a whole number of experts"), std::string::npos) << err;
    err = error_of([&] { m.find("blk.1.ffn_gate_exps.weight", 4, 2); });
    EXPECT_NE(err.find("blk.1.ffn_gate_exps.weight.expert.2"), std::string::npos) << err;
    std::remove(path.c_str());
}

TEST(ImatrixLegacy, TrailerIsOptional) {
    size_t end = 0;
    auto f = sample_file(&end);
    f.bytes.resize(end);
    const std::string path = temp_path("notrailer.dat");
    write_bytes(path, f.bytes);
    const auto m = ImportanceMatrix::load(path);
    EXPECT_EQ(m.size(), 5u);
    EXPECT_EQ(m.chunks(), -1);
    EXPECT_EQ(m.dataset(), "");
    std::remove(path.c_str());
}

// Every truncation of the file is an error naming the file, except the one that drops
// exactly the optional trailer.
TEST(ImatrixLegacy, EveryTruncationIsAnError) {
    size_t end = 0;
    const auto full = sample_file(&end).bytes;
    const std::string path = temp_path("trunc.dat");
    for (size_t n = 0; n < full.size(); n++) {
        write_bytes(path, std::vector<uint8_t>(full.begin(), full.begin() + static_cast<long>(n)));
        const std::string err = error_of([&] { ImportanceMatrix::load(path); });
        if (n == end) {
            EXPECT_EQ(err, "") << n;
        } else {
            EXPECT_NE(err.find(path), std::string::npos) << n << ": " << err;
        }
    }
    write_bytes(path, std::vector<uint8_t>(full.begin(), full.begin() + static_cast<long>(end) + 6));
    EXPECT_NE(error_of([&] { ImportanceMatrix::load(path); }).find("truncated"), std::string::npos);
    std::remove(path.c_str());
}

TEST(ImatrixLegacy, CorruptFields) {
    const std::string path = temp_path("corrupt.dat");
    const auto expect_error = [&](const LegacyFile &f, const std::string &what) {
        write_bytes(path, f.bytes);
        const std::string err = error_of([&] { ImportanceMatrix::load(path); });
        EXPECT_NE(err.find(path), std::string::npos) << err;
        EXPECT_NE(err.find(what), std::string::npos) << "expected '" << what << "' in: " << err;
    };
    {
        LegacyFile f;
        f.i32(0);
        expect_error(f, "entry count is 0");
    }
    {
        LegacyFile f;
        f.i32(1);
        f.i32(-5);
        expect_error(f, "name length -5");
    }
    {
        LegacyFile f;
        f.i32(1);
        f.entry("a", 1, {});
        expect_error(f, "value count 0");
    }
    {
        LegacyFile f;
        f.i32(1);
        f.i32(1);
        f.str("a");
        f.i32(1);
        f.i32(1 << 30);  // claims 4 GiB of values
        f.f32(1.0f);
        expect_error(f, "truncated");
    }
    {
        LegacyFile f;
        f.i32(1);
        f.entry("a", 1, {1.0f, std::numeric_limits<float>::quiet_NaN()});
        expect_error(f, "entry 'a' value 1 is nan");
    }
    {
        LegacyFile f;
        f.i32(1);
        f.entry("a", 1, {-1.0f});
        expect_error(f, "must be finite and >= 0");
    }
    {
        LegacyFile f;
        f.i32(2);
        f.entry("a", 1, {1.0f});
        f.entry("a", 1, {2.0f});
        expect_error(f, "duplicate entry 'a'");
    }
    {
        LegacyFile f;
        f.i32(1);
        f.entry("a", 1, {1.0f});
        f.trailer(1, "x");
        f.i32(7);
        expect_error(f, "unexpected bytes after the dataset name");
    }
    {
        LegacyFile f;
        f.i32(1);
        f.entry("a", 1, {1.0f});
        f.i32(1);
        f.i32(-2);
        expect_error(f, "dataset name length -2");
    }
    const std::string missing = temp_path("does_not_exist.dat");
    EXPECT_NE(error_of([&] { ImportanceMatrix::load(missing); }).find(missing), std::string::npos);
    std::remove(path.c_str());
}

// llama.cpp's GGUF imatrix: <name>.in_sum2 [cols, matrices] and <name>.counts [1, matrices].
void write_gguf_imatrix(const std::string &path, bool with_counts) {
    gguf::Writer w(path);
    w.add_kv("imatrix.chunk_count", gguf::Value::make_u32(9));
    w.add_kv("imatrix.datasets", gguf::Value::make_string_array({"a.txt", "b.txt"}));
    const std::vector<float> sums = {4, 8, 12, 16, 1, 2, 3, 4};  // 2 experts x 4 columns
    const std::vector<float> counts = {4, 0};                    // expert 1 never routed
    w.add_tensor("blk.2.ffn_up_exps.weight.in_sum2", gguf::TensorType::F32, {4, 2});
    if (with_counts) w.add_tensor("blk.2.ffn_up_exps.weight.counts", gguf::TensorType::F32, {1, 2});
    w.begin_data();
    w.write_data(sums.data(), sums.size() * 4);
    if (with_counts) w.write_data(counts.data(), counts.size() * 4);
    w.finish();
}

TEST(ImatrixGguf, ReadsSumsOverCounts) {
    const std::string path = temp_path("imatrix.gguf");
    write_gguf_imatrix(path, true);
    const auto m = ImportanceMatrix::load(path);
    EXPECT_EQ(m.size(), 1u);
    EXPECT_EQ(m.chunks(), 9);
    EXPECT_EQ(m.dataset(), "a.txt, b.txt");
    const float *e0 = m.find("blk.2.ffn_up_exps.weight", 4, 0);
    const float *e1 = m.find("blk.2.ffn_up_exps.weight", 4, 1);
    ASSERT_TRUE(e0 && e1);
    EXPECT_EQ(e0[0], 1.0f);
    EXPECT_EQ(e0[3], 4.0f);
    for (int i = 0; i < 4; i++) EXPECT_EQ(e1[i], 1.0f);  // count 0: neutral weights
    std::remove(path.c_str());
}

TEST(ImatrixGguf, SumsWithoutCountsIsAnError) {
    const std::string path = temp_path("nocounts.gguf");
    write_gguf_imatrix(path, false);
    const std::string err = error_of([&] { ImportanceMatrix::load(path); });
    EXPECT_NE(err.find("has no matching '.counts'"), std::string::npos) << err;
    std::remove(path.c_str());
}

}  // namespace
}  // namespace dstar::quant
