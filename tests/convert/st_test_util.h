// Shared helpers for the convert tests: scratch folders, error checks, and writers for
// well-formed (SafetensorsWriter), sharded (index.json) and deliberately corrupt checkpoints.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "common/error.h"
#include "common/test_util.h"
#include "common/mapped_file.h"
#include "convert/safetensors.h"

namespace dstar::convert::test {

// A scratch folder named after the convert tests.
class ScratchDir : public ::dstar::test::ScratchDir {
public:
    ScratchDir() : ::dstar::test::ScratchDir("dstar-convert") {}
};
using ::dstar::test::contains;
using ::dstar::test::error_of;

inline void write_text(const std::string &path, const std::string &text) {
    write_file_atomic(path, text.data(), text.size());
}

// A safetensors file with exactly this header text and data section (for corrupt cases).
inline void write_raw_safetensors(const std::string &path, const std::string &header, const std::string &data) {
    std::string image(8, '\0');
    const uint64_t n = header.size();
    std::memcpy(image.data(), &n, 8);
    image += header;
    image += data;
    write_text(path, image);
}

// Writes each shard (file name, contents) into `dir` plus a model.safetensors.index.json
// whose weight_map lists every tensor of every shard, as transformers saves it.
inline void write_sharded_checkpoint(const std::string &dir,
                                     const std::vector<std::pair<std::string, const SafetensorsWriter *>> &shards) {
    nlohmann::json weight_map = nlohmann::json::object();
    uint64_t total = 0;
    for (const auto &[file, writer] : shards) {
        writer->write(dir + "/" + file);
        for (const std::string &name : writer->names()) weight_map[name] = file;
        total += writer->data_bytes();
    }
    const nlohmann::json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
    write_text(dir + "/model.safetensors.index.json", index.dump(2));
}

// Raw little-endian bytes of a vector (the host is little-endian, as the reader asserts).
template <typename T>
std::vector<uint8_t> bytes_of(const std::vector<T> &v) {
    std::vector<uint8_t> b(v.size() * sizeof(T));
    if (!v.empty()) std::memcpy(b.data(), v.data(), b.size());
    return b;
}

// Adds `v` as tensor `name` of `dtype` (T must have the dtype's element size).
template <typename T>
void add_vec(SafetensorsWriter &w, const std::string &name, StDtype dtype, const std::vector<uint64_t> &shape,
             const std::vector<T> &v) {
    w.add(name, dtype, shape, v.data(), v.size() * sizeof(T));
}

}  // namespace dstar::convert::test
