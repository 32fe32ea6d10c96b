// Test helper: copy a GGUF with edits (drop / retype / reshape a tensor, change metadata),
// to check that the loader names the problem.
#pragma once

#include <cstring>
#include <functional>
#include <string>
#include <unistd.h>
#include <vector>

#include "gguf/reader.h"
#include "gguf/writer.h"

namespace dstar::testing {

struct TensorEdit {
    std::string name;
    gguf::TensorType type;
    std::vector<uint64_t> dims;
    bool drop = false;
};

// Writes `out`: metadata of `in` passed through `kv_edit` (return false to drop a key),
// tensors through `tensor_edit`, then `extra_kv` appended.  Tensor bytes are copied when
// the size is unchanged (else zero-filled) and passed through `data_edit`.
inline void copy_gguf(const std::string &in, const std::string &out,
                      const std::function<bool(std::string &, gguf::Value &)> &kv_edit,
                      const std::function<void(TensorEdit &)> &tensor_edit,
                      const std::vector<std::pair<std::string, gguf::Value>> &extra_kv = {},
                      const std::function<void(const std::string &, std::vector<uint8_t> &)> &data_edit = nullptr) {
    gguf::Reader r(in);
    gguf::Writer w(out);
    for (auto [k, v] : r.metadata())
        if (!kv_edit || kv_edit(k, v)) w.add_kv(k, v);
    for (const auto &kv : extra_kv) w.add_kv(kv.first, kv.second);
    std::vector<std::pair<const gguf::TensorInfo *, TensorEdit>> kept;
    for (const auto &t : r.tensors()) {
        TensorEdit e{t.name, t.type, t.dims};
        if (tensor_edit) tensor_edit(e);
        if (e.drop) continue;
        w.add_tensor(e.name, e.type, e.dims);
        kept.push_back({&t, e});
    }
    w.begin_data();
    const auto &sizes = w.tensor_sizes();
    for (size_t i = 0; i < kept.size(); i++) {
        const uint64_t n = sizes[i].second;
        std::vector<uint8_t> bytes(n);
        if (n == kept[i].first->n_bytes) std::memcpy(bytes.data(), r.tensor_data(*kept[i].first), n);
        if (data_edit) data_edit(kept[i].second.name, bytes);
        w.write_data(bytes.data(), n);
    }
    w.finish();
}

inline std::string temp_file(const std::string &name) {
    return std::string(::testing::TempDir()) + "/dstar_" + std::to_string(::getpid()) + "_" + name;
}

}  // namespace dstar::testing
