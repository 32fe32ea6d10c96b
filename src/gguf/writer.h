// Streaming GGUF v3 writer: metadata and tensor directory first, then tensor data in
// declaration order, so multi-GB files are written with bounded memory.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "gguf/types.h"
#include "gguf/value.h"

namespace dstar::gguf {

class Writer {
public:
    // The file is written to "<path>.partial" and renamed to `path` by finish(), so a
    // crash or error never leaves a truncated file under the final name.
    explicit Writer(std::string path);
    ~Writer();  // removes the partial file if finish() was not reached
    Writer(const Writer &) = delete;
    Writer &operator=(const Writer &) = delete;

    // Power of two; default 32.  A non-default alignment is recorded as the u32 key
    // `general.alignment` (added by begin_data() unless add_kv() supplied it).
    void set_alignment(uint32_t alignment);
    // Throws Error on a duplicate key, an array item whose type is not the array's element
    // type, an integer out of its type's range, arrays nested deeper than 8, or a
    // `general.alignment` that is not a u32 power of two (which also sets the alignment).
    void add_kv(const std::string &key, Value value);
    // Declares a tensor.  Throws Error on a duplicate name or a row that is not whole blocks.
    void add_tensor(const std::string &name, TensorType type, std::vector<uint64_t> dims);

    // Writes header, metadata and directory.  No more add_* calls after this.
    void begin_data();
    // Appends bytes of the current tensor (tensors are filled in declaration order, each
    // exactly n_bytes long, possibly over several calls).
    void write_data(const void *bytes, uint64_t size);
    // Like write_data, but leaves the bytes as a file hole (reads as zeros, takes no disk
    // space): layout-only files such as `dstar-gguf synth --sparse`.
    void skip_data(uint64_t size);
    // Pads, flushes, fsyncs and renames.  Throws Error if a tensor is short.  Calls
    // begin_data() first if it was not called (a file with metadata only).
    void finish();

    uint64_t total_tensor_bytes() const;  // sum of declared tensor sizes
    uint64_t file_size() const { return pos_; }  // bytes written (or skipped) so far
    const std::vector<std::pair<std::string, uint64_t>> &tensor_sizes() const { return sizes_; }

private:
    struct Pending {
        std::string name;
        TensorType type;
        std::vector<uint64_t> dims;
        uint64_t n_bytes;
        uint64_t offset;  // relative to the data section; assigned by begin_data()
    };
    void put(const void *p, uint64_t n);
    void pad_to(uint64_t alignment);

    std::string path_, tmp_path_;
    FILE *fp_ = nullptr;
    uint32_t alignment_ = 32;
    std::vector<std::pair<std::string, Value>> kv_;
    std::vector<Pending> tensors_;
    std::vector<std::pair<std::string, uint64_t>> sizes_;
    bool data_started_ = false, finished_ = false;
    bool failed_ = false;     // a write to the file failed; the file is unusable
    size_t cur_ = 0;          // index of the tensor being filled
    uint64_t cur_written_ = 0;
    uint64_t pos_ = 0;        // bytes written to the file so far
    uint64_t data_start_ = 0; // file position of the data section (set by begin_data)
};

}  // namespace dstar::gguf
