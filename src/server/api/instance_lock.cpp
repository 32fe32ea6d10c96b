#include "server/api/instance_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace dstar::server::api {

InstanceLock::InstanceLock(const std::string &path) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) {
        error_ = "cannot open lock file " + path + ": " + std::strerror(errno);
        return;
    }
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) {
            status_ = Status::Busy;
            char buf[32] = {};
            const ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
            if (n > 0) holder_pid_ = std::strtol(buf, nullptr, 10);
        } else {
            error_ = "cannot lock " + path + ": " + std::strerror(errno);
        }
        ::close(fd_);
        fd_ = -1;
        return;
    }
    status_ = Status::Acquired;
    const std::string pid = std::to_string(::getpid()) + "\n";
    // The pid only makes a second instance's message more precise; the lock is held either way.
    const bool pid_written =
        ::ftruncate(fd_, 0) == 0 && ::pwrite(fd_, pid.data(), pid.size(), 0) == static_cast<ssize_t>(pid.size());
    (void)pid_written;
}

InstanceLock::~InstanceLock() {
    if (fd_ >= 0) ::close(fd_);  // closing drops the flock
}

std::string InstanceLock::default_path() {
    if (const char *p = std::getenv("DSTAR_LOCK_FILE"); p && *p) return p;
    const char *tmp = std::getenv("TMPDIR");
    std::string dir = tmp && *tmp ? tmp : "/tmp";
    if (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    return dir + "/dstar.lock";
}

}  // namespace dstar::server::api
