// Helpers shared by the tests of several stages: a scratch folder removed at scope exit, and
// checks of dstar::Error messages.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>

#include "common/error.h"

namespace dstar::test {

// A fresh folder under the test temp dir (named after `tag`), removed with its contents at
// scope exit.
class ScratchDir {
public:
    explicit ScratchDir(const std::string &tag = "dstar") {
        std::string tmpl = ::testing::TempDir() + tag + "-XXXXXX";
        if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed for " + tmpl);
        path_ = tmpl;
    }
    ~ScratchDir() {
        std::error_code ec;
        // Tests that make the folder read-only (failed-write cases) get it removed too.
        std::filesystem::permissions(path_, std::filesystem::perms::owner_all, ec);
        std::filesystem::remove_all(path_, ec);
    }
    ScratchDir(const ScratchDir &) = delete;
    ScratchDir &operator=(const ScratchDir &) = delete;
    const std::string &path() const { return path_; }
    std::string file(const std::string &name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

// Runs `f`, which must throw dstar::Error; returns its message ("" and a test failure if it
// did not throw).  Any other exception escapes and fails the test.
inline std::string error_of(const std::function<void()> &f) {
    try {
        f();
    } catch (const Error &e) {
        return e.what();
    }
    ADD_FAILURE() << "expected dstar::Error, nothing was thrown";
    return "";
}

inline bool contains(const std::string &haystack, const std::string &needle) {
    return haystack.find(needle) != std::string::npos;
}

}  // namespace dstar::test

#define EXPECT_CONTAINS(haystack, needle)                                                  \
    EXPECT_TRUE(::dstar::test::contains((haystack), (needle)))                             \
        << "message: " << (haystack) << "\nexpected to contain: " << (needle)
