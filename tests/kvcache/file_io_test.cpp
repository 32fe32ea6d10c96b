#include "kvcache/file_io.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "common/error.h"
#include "kvcache/temp_dir.h"

namespace dstar::kvcache {
namespace {

using testing::TempDir;

std::string slurp(const std::string &path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

TEST(FileIo, WriterBuffersPatchesAndCommits) {
    TempDir dir;
    const std::string path = dir.file("out.bin");
    FileWriter w(path, 0600);
    const std::string big(9u << 20, 'x');  // more than the write buffer
    w.write("HEAD", 4);
    w.write(big.data(), big.size());
    w.write("TAIL", 4);
    w.patch(0, "head", 4);
    EXPECT_EQ(w.bytes(), big.size() + 8);
    w.commit();
    const std::string got = slurp(path);
    EXPECT_EQ(got, "head" + big + "TAIL");
    struct stat st;
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(FileIo, FailuresNameThePath) {
    TempDir dir;
    ::mkdir(dir.file("a_directory").c_str(), 0700);
    try {
        FileWriter w(dir.file("a_directory"), 0600);
        FAIL() << "opened a directory for writing";
    } catch (const Error &e) {
        EXPECT_NE(std::string(e.what()).find("a_directory"), std::string::npos) << e.what();
    }
    EXPECT_THROW(FileReader(dir.file("missing")), Error);
    std::string why;
    std::ofstream(dir.file("plain")) << "x";
    EXPECT_FALSE(make_directories(dir.file("plain/sub"), 0700, &why));
    EXPECT_FALSE(why.empty());
    EXPECT_FALSE(make_directories(dir.file("plain"), 0700, &why));
    EXPECT_NE(why.find("not a directory"), std::string::npos) << why;
}

TEST(FileIo, ReaderReadsAtOffsetsAndReportsShortReads) {
    TempDir dir;
    std::ofstream(dir.file("f"), std::ios::binary) << "0123456789";
    FileReader r(dir.file("f"));
    EXPECT_EQ(r.size(), 10u);
    char buf[4];
    r.seek(6);
    ASSERT_TRUE(r.try_read(buf, 4));
    EXPECT_EQ(std::string(buf, 4), "6789");
    EXPECT_EQ(r.offset(), 10u);
    EXPECT_FALSE(r.try_read(buf, 1));
    r.seek(8);
    try {
        r.read(buf, 4, "the payload");
        FAIL() << "short read accepted";
    } catch (const Error &e) {
        EXPECT_NE(std::string(e.what()).find("the payload"), std::string::npos) << e.what();
    }
}

TEST(FileIo, DirectoriesTailsAndInPlaceWrites) {
    TempDir dir;
    std::string why;
    ASSERT_TRUE(make_directories(dir.file("a/b/c"), 0700, &why)) << why;
    ASSERT_TRUE(make_directories(dir.file("a/b/c"), 0700, &why)) << why;  // already there: fine
    struct stat st;
    ASSERT_EQ(::stat(dir.file("a/b/c").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);
    EXPECT_NO_THROW(sync_directory(dir.file("a/b/c")));
    EXPECT_EQ(join_path("d", "n"), "d/n");
    EXPECT_EQ(join_path("d/", "n"), "d/n");

    std::ofstream(dir.file("f"), std::ios::binary) << "headerPAYLOADold-trailer";
    replace_tail(dir.file("f"), 13, {'n', 'e', 'w'});
    EXPECT_EQ(slurp(dir.file("f")), "headerPAYLOADnew");
    write_at(dir.file("f"), 0, "HEADER", 6);
    EXPECT_EQ(slurp(dir.file("f")), "HEADERPAYLOADnew");
    EXPECT_THROW(write_at(dir.file("missing"), 0, "x", 1), Error);
}

}  // namespace
}  // namespace dstar::kvcache
