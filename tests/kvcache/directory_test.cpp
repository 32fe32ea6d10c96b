#include "kvcache/directory.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "kvcache/stub_file.h"
#include "kvcache/temp_dir.h"

namespace dstar::kvcache {
namespace {

using testing::stub_header;
using testing::TempDir;
using testing::write_stub;

bool exists(const std::string &path) { return ::access(path.c_str(), F_OK) == 0; }

TEST(Directory, ListsOnlyWellFormedCacheFiles) {
    TempDir dir;
    write_stub(dir.path(), stub_header(600, 4096), "beta");
    write_stub(dir.path(), stub_header(700, 100), "alpha", "", 17);  // a trailer after the payload is fine
    const std::string upper = sha1_hex("gamma");
    std::string upper_name = upper;
    for (char &c : upper_name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    write_stub(dir.path(), stub_header(800, 10), "gamma", upper_name + ".kv");
    // Skipped: truncated payload, zero tokens, bad quant, bad names, a non-cache file.
    write_stub(dir.path(), stub_header(500, 4096), "truncated", "", -1);
    write_stub(dir.path(), stub_header(0, 10), "no tokens");
    FileHeader q3 = stub_header(500, 10);
    q3.quant_bits = 3;
    write_stub(dir.path(), q3, "three bits");
    write_stub(dir.path(), stub_header(500, 10), "temp", sha1_hex("temp") + ".kv.tmp.123");
    write_stub(dir.path(), stub_header(500, 10), "bad", sha1_hex("bad") + ".kv.bad");
    write_stub(dir.path(), stub_header(500, 10), "named", "sysprompt.kv");
    std::ofstream(dir.file(sha1_hex("short") + ".kv")) << "KVC";
    ::mkdir(dir.file(sha1_hex("dir") + ".kv").c_str(), 0700);

    const std::vector<CacheFile> files = list_cache_files(dir.path());
    ASSERT_EQ(files.size(), 3u);
    std::vector<std::string> shas;
    for (const CacheFile &f : files) shas.push_back(f.sha);
    std::vector<std::string> want = {sha1_hex("alpha"), sha1_hex("beta"), upper};
    std::sort(want.begin(), want.end());
    std::vector<std::string> got = shas;
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, want);
    for (const CacheFile &f : files) {
        if (f.sha == sha1_hex("alpha")) {
            EXPECT_EQ(f.header.tokens, 700u);
            EXPECT_EQ(f.file_size, kPrefixBytes + 5 + 100 + 17);
        }
        if (f.sha == upper) {
            EXPECT_EQ(f.path, dir.file(upper_name + ".kv"));
        }
    }
    std::string why;
    EXPECT_FALSE(read_cache_file(dir.path(), cache_file_name(sha1_hex("truncated")), &why));
    EXPECT_NE(why.find("need"), std::string::npos) << why;
    EXPECT_FALSE(read_cache_file(dir.path(), "sysprompt.kv", &why));
    EXPECT_TRUE(list_cache_files(dir.file("missing")).empty());
}

TEST(Directory, RemovesOnlyStaleTempFiles) {
    TempDir dir;
    const pid_t child = ::fork();
    if (child == 0) ::_exit(0);
    ASSERT_GT(child, 0);
    ::waitpid(child, nullptr, 0);  // now a pid that runs nothing
    const std::string kv = cache_file_name(sha1_hex("x"));
    const std::string dead = kv + ".tmp." + std::to_string(child);
    const std::string mine = kv + ".tmp." + std::to_string(::getpid());
    const std::string alive = kv + ".tmp." + std::to_string(::getppid());
    const std::string foreign = "notes.txt.tmp." + std::to_string(child);
    const std::string odd = kv + ".tmp.12ab";
    for (const std::string &n : {dead, mine, alive, foreign, odd}) std::ofstream(dir.file(n)) << "partial";
    EXPECT_EQ(temp_file_path(dir.file(kv), 42), dir.file(kv) + ".tmp.42");

    std::vector<std::string> removed = remove_stale_temp_files(dir.path());
    std::sort(removed.begin(), removed.end());
    std::vector<std::string> want = {dead, mine};
    std::sort(want.begin(), want.end());
    EXPECT_EQ(removed, want);
    EXPECT_FALSE(exists(dir.file(dead)));
    EXPECT_FALSE(exists(dir.file(mine)));
    EXPECT_TRUE(exists(dir.file(alive)));  // its writer (our parent) still runs
    EXPECT_TRUE(exists(dir.file(foreign)));
    EXPECT_TRUE(exists(dir.file(odd)));
}

}  // namespace
}  // namespace dstar::kvcache
