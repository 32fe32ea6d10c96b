// Read-only memory map of a whole file (zero-copy access to GGUF tensor data).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace dstar {

class MappedFile {
public:
    MappedFile() = default;
    // Maps `path` read-only.  Throws Error naming the path and the system error.
    explicit MappedFile(const std::string &path);
    ~MappedFile();
    MappedFile(const MappedFile &) = delete;
    MappedFile &operator=(const MappedFile &) = delete;
    MappedFile(MappedFile &&other) noexcept;
    MappedFile &operator=(MappedFile &&other) noexcept;

    const uint8_t *data() const { return data_; }
    uint64_t size() const { return size_; }
    const std::string &path() const { return path_; }

    // Ask the kernel to read [offset, offset+len) ahead of use (best effort).
    void prefetch(uint64_t offset, uint64_t len) const;

private:
    void reset();
    std::string path_;
    const uint8_t *data_ = nullptr;
    uint64_t size_ = 0;
};

// Read a whole file into a string (small text/binary files).  Throws Error.
std::string read_file(const std::string &path);

// Write `data` to `path` atomically: temp file in the same folder, fsync, rename.
// Throws Error (and leaves any previous file untouched) on failure, e.g. a full disk.
void write_file_atomic(const std::string &path, const void *data, size_t size);

}  // namespace dstar
