#include "common/mapped_file.h"

#include <cstdio>
#include <gtest/gtest.h>
#include <string>
#include <unistd.h>

#include "common/error.h"

namespace dstar {
namespace {

std::string temp_path(const char *name) {
    return std::string(::testing::TempDir()) + "/dstar_" + name + "_" + std::to_string(::getpid());
}

TEST(MappedFile, MapsContents) {
    const std::string p = temp_path("map");
    write_file_atomic(p, "hello", 5);
    MappedFile f(p);
    ASSERT_EQ(f.size(), 5u);
    EXPECT_EQ(std::string(reinterpret_cast<const char *>(f.data()), 5), "hello");
    EXPECT_EQ(read_file(p), "hello");
    std::remove(p.c_str());
}

TEST(MappedFile, MissingFileNamesPath) {
    try {
        MappedFile f("/nonexistent/dstar.gguf");
        FAIL() << "expected an error";
    } catch (const Error &e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent/dstar.gguf"), std::string::npos);
    }
}

TEST(MappedFile, AtomicWriteReplacesWholeFile) {
    const std::string p = temp_path("atomic");
    write_file_atomic(p, "first version", 13);
    write_file_atomic(p, "2nd", 3);
    EXPECT_EQ(read_file(p), "2nd");
    std::remove(p.c_str());
}

TEST(MappedFile, AtomicWriteFailureKeepsOldFile) {
    // Writing into a folder that does not exist fails before touching anything.
    EXPECT_THROW(write_file_atomic("/nonexistent-dir/x.bin", "x", 1), Error);
}

}  // namespace
}  // namespace dstar
