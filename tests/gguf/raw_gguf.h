// Test helper: builds GGUF images byte by byte, so tests can write files that the Writer
// (which validates everything) refuses to produce: bad magic, bad counts, bad dims...
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "gguf/reader.h"

namespace dstar::gguf::test {

inline void put_le(std::string &out, uint64_t v, unsigned bytes) {
    for (unsigned k = 0; k < bytes; k++) out += static_cast<char>((v >> (8 * k)) & 0xff);
}
inline std::string le32(uint32_t v) {
    std::string s;
    put_le(s, v, 4);
    return s;
}
inline std::string le64(uint64_t v) {
    std::string s;
    put_le(s, v, 8);
    return s;
}
inline std::string gstr(const std::string &s) { return le64(s.size()) + s; }

// One metadata record: key, value type, encoded value (payload is taken as is).
inline std::string kv_raw(const std::string &key, uint32_t type, const std::string &payload) {
    return gstr(key) + le32(type) + payload;
}
inline std::string kv_u32(const std::string &key, uint32_t v) { return kv_raw(key, 4, le32(v)); }
inline std::string kv_str(const std::string &key, const std::string &v) { return kv_raw(key, 8, gstr(v)); }

struct RawTensor {
    std::string name;
    std::vector<uint64_t> dims;
    uint32_t type = 0;  // F32
    uint64_t offset = 0;
    std::optional<uint32_t> n_dims;  // stored n_dims if it must differ from dims.size()
};

struct RawGguf {
    uint32_t magic = kMagic;
    uint32_t version = kVersion;
    std::optional<uint64_t> tensor_count;  // stored counts if they must differ from the lists
    std::optional<uint64_t> kv_count;
    std::vector<std::string> kvs;  // encoded records (kv_raw, kv_u32, ...)
    std::vector<RawTensor> tensors;
    uint32_t pad_alignment = kDefaultAlignment;  // padding written after the directory
    uint64_t data_bytes = 0;                      // bytes of data section (a byte pattern)

    std::string build() const {
        std::string out = le32(magic) + le32(version);
        put_le(out, tensor_count ? *tensor_count : tensors.size(), 8);
        put_le(out, kv_count ? *kv_count : kvs.size(), 8);
        for (const auto &kv : kvs) out += kv;
        for (const auto &t : tensors) {
            out += gstr(t.name);
            put_le(out, t.n_dims ? *t.n_dims : static_cast<uint32_t>(t.dims.size()), 4);
            for (uint64_t d : t.dims) put_le(out, d, 8);
            put_le(out, t.type, 4);
            put_le(out, t.offset, 8);
        }
        while (out.size() % pad_alignment) out += '\0';
        for (uint64_t k = 0; k < data_bytes; k++) out += static_cast<char>(k * 7 + 1);
        return out;
    }
};

inline Parsed parse_string(const std::string &image, const std::string &what = "t.gguf") {
    return parse(reinterpret_cast<const uint8_t *>(image.data()), image.size(), what);
}

}  // namespace dstar::gguf::test
