// Safetensors checkpoints (Hugging Face's tensor files): zero-copy reading of a checkpoint
// folder (single file, index.json shards or a plain set of files) and a small writer.
//
// Format: u64 little-endian header length N, N bytes of JSON
//   {"<name>": {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"key": "value", ...}}
// then the data section; offsets are relative to the data section's start.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/mapped_file.h"

namespace dstar::convert {

enum class StDtype : uint8_t { F64, F32, F16, BF16, F8_E4M3, F8_E8M0, I64, I32, I16, I8, U8, BOOL };

// The header's spelling ("BF16", "F8_E4M3", ...).
const char *st_dtype_name(StDtype t);
// Bytes per element (1 for the 8-bit types and BOOL).
uint64_t st_dtype_size(StDtype t);
// Parses a header dtype string; false when it is not one of the names above.
bool st_dtype_from_name(std::string_view name, StDtype *out);

// One tensor of a checkpoint.  `data` points into the file's read-only mapping, which lives
// as long as the SafetensorsFile / Checkpoint that produced it; it may be unaligned for the
// element type (the format does not align tensors), so read elements with memcpy.
struct StTensor {
    std::string name;
    std::string file;  // path of the file holding it (for error messages)
    StDtype dtype = StDtype::F32;
    std::vector<uint64_t> shape;  // row-major, outermost first ([out, in] for a Linear)
    const uint8_t *data = nullptr;
    uint64_t n_bytes = 0;

    // Product of `shape` (1 for a scalar); the reader has checked it does not overflow.
    uint64_t n_elements() const;
};

// "[512, 64]" for error messages.
std::string shape_str(const std::vector<uint64_t> &shape);

// Headers larger than this are rejected as corrupt (the reference implementation's limit).
inline constexpr uint64_t kMaxHeaderBytes = 100'000'000;

// One mapped .safetensors file, header parsed and validated (dtype, shape, offsets inside
// the data section, byte sizes, no overlaps, no duplicate names).  Throws Error naming the
// file, the tensor and the problem.
class SafetensorsFile {
public:
    explicit SafetensorsFile(const std::string &path);

    const std::string &path() const { return file_.path(); }
    // In data-section order (ascending data_offsets), i.e. the order a sequential read visits.
    const std::vector<StTensor> &tensors() const { return tensors_; }
    const std::map<std::string, std::string> &metadata() const { return metadata_; }

private:
    MappedFile file_;
    std::vector<StTensor> tensors_;
    std::map<std::string, std::string> metadata_;
};

// A checkpoint folder.  Which files, first match wins (transformers' order):
//   1. `model.safetensors`;
//   2. the shards named by `model.safetensors.index.json` ("weight_map": tensor -> file), in
//      sorted file-name order; every listed tensor must be in its shard and every shard
//      tensor must be listed;
//   3. every `*.safetensors` in the folder, sorted by file name.
// Tensor names are unique across the whole checkpoint.
class Checkpoint {
public:
    explicit Checkpoint(const std::string &dir);
    Checkpoint(const Checkpoint &) = delete;
    Checkpoint &operator=(const Checkpoint &) = delete;
    Checkpoint(Checkpoint &&) = default;
    Checkpoint &operator=(Checkpoint &&) = default;

    // nullptr when absent.
    const StTensor *find(const std::string &name) const;
    // File by file (the order above), each in data-section order.
    const std::vector<StTensor> &tensors() const { return tensors_; }
    const std::string &dir() const { return dir_; }
    // Paths of the files opened, in the order above.
    std::vector<std::string> files() const;

private:
    void add_file(const std::string &path);

    std::string dir_;
    std::vector<std::unique_ptr<SafetensorsFile>> files_;
    std::vector<StTensor> tensors_;
    std::unordered_map<std::string, size_t> by_name_;
};

// Builds a safetensors file in memory (for tests and small tools: it copies every tensor).
// Tensors are laid out in `add` order; the header is padded with spaces so the data section
// starts 8-byte aligned.
class SafetensorsWriter {
public:
    // Throws Error if `name` is taken or reserved, or `bytes` != elements x dtype size.
    void add(const std::string &name, StDtype dtype, const std::vector<uint64_t> &shape,
             const void *data, uint64_t bytes);
    // Optional "__metadata__" entry (string -> string, as the format requires).
    void set_metadata(const std::string &key, const std::string &value);
    // Names in `add` order.
    std::vector<std::string> names() const;
    // Total tensor bytes (the index.json "total_size").
    uint64_t data_bytes() const { return data_.size(); }
    // The complete file image.
    std::string serialize() const;
    // Writes atomically (temp file + rename).  Throws Error.
    void write(const std::string &path) const;

private:
    struct Entry {
        std::string name;
        StDtype dtype;
        std::vector<uint64_t> shape;
        uint64_t begin, end;
    };
    std::vector<Entry> entries_;
    std::set<std::string> taken_;
    std::string data_;
    std::map<std::string, std::string> metadata_;
};

}  // namespace dstar::convert
