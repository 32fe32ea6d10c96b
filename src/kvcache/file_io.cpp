#include "kvcache/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/error.h"

namespace dstar::kvcache {

namespace {

constexpr size_t kWriteBuffer = size_t(8) << 20;  // few syscalls for multi-GB payloads

[[noreturn]] void fail_errno(const char *what, const std::string &path, int err) {
    fail("cannot %s '%s': %s", what, path.c_str(), std::strerror(err));
}

void pwrite_all(int fd, const std::string &path, uint64_t offset, const void *data, size_t n) {
    const auto *p = static_cast<const uint8_t *>(data);
    while (n > 0) {
        const ssize_t got = ::pwrite(fd, p, n, static_cast<off_t>(offset));
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) fail_errno("write", path, errno);
        p += got;
        n -= static_cast<size_t>(got);
        offset += static_cast<uint64_t>(got);
    }
}

// An fd closed on every path, so that the helpers below can throw freely.
struct Fd {
    int fd;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

}  // namespace

FileWriter::FileWriter(std::string path, mode_t mode) : path_(std::move(path)) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd_ < 0) fail_errno("create", path_, errno);
    buf_.resize(kWriteBuffer);
}

FileWriter::~FileWriter() {
    if (fd_ >= 0) ::close(fd_);
}

void FileWriter::drain() {
    const uint8_t *p = buf_.data();
    size_t left = used_;
    while (left > 0) {
        const ssize_t n = ::write(fd_, p, left);
        if (n < 0) {
            if (errno == EINTR) continue;
            fail_errno("write", path_, errno);
        }
        p += n;
        left -= static_cast<size_t>(n);
    }
    used_ = 0;
}

void FileWriter::write(const void *data, size_t n) {
    const auto *p = static_cast<const uint8_t *>(data);
    bytes_ += n;
    while (n > 0) {
        const size_t m = std::min(n, buf_.size() - used_);
        std::memcpy(buf_.data() + used_, p, m);
        used_ += m;
        p += m;
        n -= m;
        if (used_ == buf_.size()) drain();
    }
}

void FileWriter::patch(uint64_t offset, const void *data, size_t n) {
    if (offset + n > bytes_) fail("internal error: patch past the written end of '%s'", path_.c_str());
    drain();
    pwrite_all(fd_, path_, offset, data, n);
}

void FileWriter::commit() {
    drain();
    if (::fsync(fd_) != 0) fail_errno("sync", path_, errno);
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) fail_errno("close", path_, errno);
}

FileReader::FileReader(std::string path) : path_(std::move(path)) {
    fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) fail_errno("open", path_, errno);
    struct stat st;
    if (::fstat(fd_, &st) != 0) {
        const int e = errno;
        ::close(fd_);
        fd_ = -1;
        fail_errno("stat", path_, e);
    }
    size_ = static_cast<uint64_t>(st.st_size);
}

FileReader::~FileReader() {
    if (fd_ >= 0) ::close(fd_);
}

void FileReader::seek(uint64_t offset) { offset_ = offset; }

bool FileReader::try_read(void *dst, size_t n) {
    auto *p = static_cast<uint8_t *>(dst);
    while (n > 0) {
        const ssize_t got = ::pread(fd_, p, n, static_cast<off_t>(offset_));
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return false;
        p += got;
        n -= static_cast<size_t>(got);
        offset_ += static_cast<uint64_t>(got);
    }
    return true;
}

void FileReader::read(void *dst, size_t n, const char *what) {
    const uint64_t end = offset_ + n;
    if (!try_read(dst, n))
        fail("'%s' ends before byte %llu (reading %s)", path_.c_str(), static_cast<unsigned long long>(end), what);
}

std::string join_path(const std::string &dir, const std::string &name) {
    if (dir.empty() || dir.back() == '/') return dir + name;
    return dir + "/" + name;
}

bool make_directories(const std::string &path, mode_t mode, std::string *err) {
    if (path.empty()) {
        if (err) *err = "empty path";
        return false;
    }
    for (size_t i = 1; i <= path.size(); i++) {
        if (i < path.size() && path[i] != '/') continue;
        const std::string part = path.substr(0, i);
        if (::mkdir(part.c_str(), mode) != 0 && errno != EEXIST) {
            if (err) *err = std::strerror(errno);
            return false;
        }
    }
    struct stat st;
    if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
        if (err) *err = "exists and is not a directory";
        return false;
    }
    return true;
}

void sync_directory(const std::string &dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) fail_errno("open directory", dir, errno);
    const int rc = ::fsync(fd);
    const int e = errno;
    ::close(fd);
    if (rc != 0) fail_errno("sync directory", dir, e);
}

void write_at(const std::string &path, uint64_t offset, const void *data, size_t n, bool sync) {
    Fd f{::open(path.c_str(), O_WRONLY | O_CLOEXEC)};
    if (f.fd < 0) fail_errno("open", path, errno);
    pwrite_all(f.fd, path, offset, data, n);
    if (sync && ::fsync(f.fd) != 0) fail_errno("sync", path, errno);
}

void replace_tail(const std::string &path, uint64_t keep, const std::vector<uint8_t> &tail) {
    Fd f{::open(path.c_str(), O_WRONLY | O_CLOEXEC)};
    if (f.fd < 0) fail_errno("open", path, errno);
    if (::ftruncate(f.fd, static_cast<off_t>(keep)) != 0) fail_errno("truncate", path, errno);
    pwrite_all(f.fd, path, keep, tail.data(), tail.size());
    if (::fsync(f.fd) != 0) fail_errno("sync", path, errno);
}

}  // namespace dstar::kvcache
