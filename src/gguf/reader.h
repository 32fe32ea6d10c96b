// GGUF v3 reader: parses the header, metadata and tensor directory, and gives
// zero-copy views of tensor data in a memory-mapped file.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/mapped_file.h"
#include "gguf/types.h"
#include "gguf/value.h"

namespace dstar::gguf {

constexpr uint32_t kMagic = 0x46554747u;  // "GGUF" little-endian
constexpr uint32_t kVersion = 3;
constexpr uint32_t kDefaultAlignment = 32;
constexpr uint32_t kMaxDims = 8;

struct TensorInfo {
    std::string name;
    TensorType type = TensorType::F32;
    std::vector<uint64_t> dims;  // ne0 first (fastest varying)
    uint64_t offset = 0;         // relative to the data section, as stored
    uint64_t file_offset = 0;    // absolute position in the file
    uint64_t n_elements = 0;
    uint64_t n_bytes = 0;

    uint64_t dim(size_t i) const { return i < dims.size() ? dims[i] : 1; }
    std::string shape_string() const;  // "[4096, 1024]"
};

// Result of parsing a GGUF image.  Every count, length and offset is checked against the
// image size before use; any inconsistency throws Error with a message naming the problem
// (and the key or tensor concerned).
struct Parsed {
    uint32_t version = 0;
    uint32_t alignment = kDefaultAlignment;
    uint64_t data_offset = 0;  // start of the tensor data section
    std::vector<std::pair<std::string, Value>> metadata;  // file order
    std::vector<TensorInfo> tensors;                      // file order
    std::unordered_map<std::string, size_t> key_index;
    std::unordered_map<std::string, size_t> tensor_index;
};

// Parses a GGUF image held in memory.  `what` names the source in error messages.
// Checks: size >= header, magic, version 3, absurd key/tensor counts, string and array
// lengths past the end, unknown value types, nesting depth, duplicate keys, n_dims in
// 1..8, zero or overflowing dimensions, unknown tensor types, rows that are not whole
// quant blocks, misaligned offsets, tensor data outside the image, overlapping tensors,
// duplicate tensor names, and a `general.alignment` that is not a u32 nonzero power of two.
// Also rejected: bool values other than 0 and 1 (ds4 reads any nonzero byte as true; the
// spec defines only 0/1, so another byte means corruption), arrays nested deeper than 8,
// more than 2^20 keys or tensors, and more than 2^24 array items in all (a decoded Value is
// ~100 bytes, so these caps bound memory whatever the file claims).
Parsed parse(const uint8_t *data, uint64_t size, const std::string &what);

class Reader {
public:
    // Maps and parses `path`.  Throws Error.
    explicit Reader(const std::string &path);

    const std::string &path() const { return file_.path(); }
    uint64_t file_size() const { return file_.size(); }
    uint32_t version() const { return parsed_.version; }
    uint32_t alignment() const { return parsed_.alignment; }
    uint64_t data_offset() const { return parsed_.data_offset; }

    const std::vector<std::pair<std::string, Value>> &metadata() const { return parsed_.metadata; }
    const Value *find(const std::string &key) const;

    const std::vector<TensorInfo> &tensors() const { return parsed_.tensors; }
    const TensorInfo *find_tensor(const std::string &name) const;
    // Pointer to the tensor's first byte inside the mapping (valid while the Reader lives).
    const uint8_t *tensor_data(const TensorInfo &t) const { return file_.data() + t.file_offset; }

    const MappedFile &file() const { return file_; }

private:
    MappedFile file_;
    Parsed parsed_;
};

}  // namespace dstar::gguf
