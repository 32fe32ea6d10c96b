// The single-instance lock (spec server.md §1).
#include "server/api/instance_lock.h"

#include <unistd.h>

#include <cstdlib>
#include <gtest/gtest.h>
#include <memory>

namespace dstar::server::api {
namespace {

TEST(InstanceLock, SecondHolderIsRefusedWithTheFirstPid) {
    const std::string path = std::string(::testing::TempDir()) + "/dstar_lock_test_" + std::to_string(::getpid());
    {
        auto first = std::make_unique<InstanceLock>(path);
        ASSERT_EQ(first->status(), InstanceLock::Status::Acquired);
        // flock locks belong to open files, so a second open in the same process conflicts too.
        InstanceLock second(path);
        EXPECT_EQ(second.status(), InstanceLock::Status::Busy);
        EXPECT_EQ(second.holder_pid(), static_cast<long>(::getpid()));
        first.reset();
        InstanceLock third(path);
        EXPECT_EQ(third.status(), InstanceLock::Status::Acquired) << "released with its holder";
    }
    std::remove(path.c_str());
}

TEST(InstanceLock, UnusableDirectoryIsAFailureNamingThePath) {
    InstanceLock lock("/nonexistent-dir-for-dstar/lock");
    EXPECT_EQ(lock.status(), InstanceLock::Status::Failed);
    EXPECT_NE(lock.error().find("/nonexistent-dir-for-dstar/lock"), std::string::npos);
}

TEST(InstanceLock, DefaultPathFollowsTheEnvironment) {
    ::setenv("DSTAR_LOCK_FILE", "/x/my.lock", 1);
    EXPECT_EQ(InstanceLock::default_path(), "/x/my.lock");
    ::unsetenv("DSTAR_LOCK_FILE");
    ::setenv("TMPDIR", "/var/tmp/", 1);
    EXPECT_EQ(InstanceLock::default_path(), "/var/tmp/dstar.lock");
    ::unsetenv("TMPDIR");
    EXPECT_EQ(InstanceLock::default_path(), "/tmp/dstar.lock");
}

}  // namespace
}  // namespace dstar::server::api
