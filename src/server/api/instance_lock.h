// The single-instance lock (spec server.md §1): two processes that each map an 81 GB model
// would exhaust memory, so dstar-server refuses to start while another dstar process holds an
// exclusive flock on the lock file.  The holder writes its pid into the file.
#pragma once

#include <string>

namespace dstar::server::api {

class InstanceLock {
public:
    enum class Status { Acquired, Busy, Failed };

    // Tries to take the lock (never blocks).
    explicit InstanceLock(const std::string &path);
    ~InstanceLock();  // releases it
    InstanceLock(const InstanceLock &) = delete;
    InstanceLock &operator=(const InstanceLock &) = delete;

    Status status() const { return status_; }
    long holder_pid() const { return holder_pid_; }  // Busy: pid found in the file (0 if none)
    const std::string &error() const { return error_; }  // Failed: why

    // env DSTAR_LOCK_FILE, else "dstar.lock" in $TMPDIR (or /tmp).
    static std::string default_path();

private:
    int fd_ = -1;
    Status status_ = Status::Failed;
    long holder_pid_ = 0;
    std::string error_;
};

}  // namespace dstar::server::api
