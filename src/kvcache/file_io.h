// Small POSIX file helpers for the disk KV cache: buffered reads and writes that report
// every failure (a full disk, a vanished file) as an Error naming the path and the reason,
// so that callers can clean up and carry on instead of crashing.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace dstar::kvcache {

class FileWriter {
public:
    // Creates (or truncates) `path` with `mode`.  Throws Error.
    FileWriter(std::string path, mode_t mode);
    ~FileWriter();  // closes without reporting (after an error has already been thrown)
    FileWriter(const FileWriter &) = delete;
    FileWriter &operator=(const FileWriter &) = delete;

    void write(const void *data, size_t n);
    // Overwrites already written bytes at `offset` (a header completed after the body).
    void patch(uint64_t offset, const void *data, size_t n);
    // Writes out the buffer, fsyncs and closes.  Throws Error.
    void commit();
    uint64_t bytes() const { return bytes_; }

private:
    void drain();
    std::string path_;
    int fd_ = -1;
    std::vector<uint8_t> buf_;
    size_t used_ = 0;
    uint64_t bytes_ = 0;
};

class FileReader {
public:
    // Opens `path` read-only.  Throws Error.
    explicit FileReader(std::string path);
    ~FileReader();
    FileReader(const FileReader &) = delete;
    FileReader &operator=(const FileReader &) = delete;

    uint64_t size() const { return size_; }  // at open time
    uint64_t offset() const { return offset_; }
    void seek(uint64_t offset);
    // Fills n bytes; false (offset unspecified) when the file ends first or a read fails.
    bool try_read(void *dst, size_t n);
    // Fills n bytes or throws Error "'path' ends before byte N (reading WHAT)".
    void read(void *dst, size_t n, const char *what);

private:
    std::string path_;
    int fd_ = -1;
    uint64_t size_ = 0;
    uint64_t offset_ = 0;
};

std::string join_path(const std::string &dir, const std::string &name);
// mkdir -p with `mode` for the created components; false with *err set on failure (including
// an existing non-directory).
bool make_directories(const std::string &path, mode_t mode, std::string *err);
// fsync of a directory, so that a rename in it survives a crash.  Throws Error.
void sync_directory(const std::string &dir);
// Overwrites bytes at `offset` of an existing file; with `sync`, fsyncs it.  Throws Error.
void write_at(const std::string &path, uint64_t offset, const void *data, size_t n, bool sync = false);
// Cuts an existing file to `keep` bytes, appends `tail` and fsyncs.  Throws Error.
void replace_tail(const std::string &path, uint64_t keep, const std::vector<uint8_t> &tail);

}  // namespace dstar::kvcache
