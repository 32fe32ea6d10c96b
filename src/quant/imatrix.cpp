// Importance-matrix files: llama.cpp legacy .dat (= ds4's format) and llama.cpp GGUF imatrix.
#include "quant/imatrix.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <utility>

#include "common/error.h"
#include "common/mapped_file.h"
#include "gguf/reader.h"

namespace dstar::quant {

namespace {

constexpr int32_t kMaxNameLen = 1 << 16;  // tensor names are short; more means corruption

// Bounds-checked little-endian cursor over the mapped legacy file.
class Cursor {
public:
    Cursor(const std::string &path, const uint8_t *data, uint64_t size) : path_(path), data_(data), size_(size) {}

    uint64_t left() const { return size_ - pos_; }
    uint64_t pos() const { return pos_; }

    int32_t i32(const char *what) {
        int32_t v;
        std::memcpy(&v, take(4, what), 4);
        return v;
    }
    const uint8_t *take(uint64_t n, const char *what) {
        if (n > left()) {
            fail("imatrix '%s': truncated: %s needs %llu bytes at offset %llu, only %llu left", path_.c_str(), what,
                 static_cast<unsigned long long>(n), static_cast<unsigned long long>(pos_),
                 static_cast<unsigned long long>(left()));
        }
        const uint8_t *p = data_ + pos_;
        pos_ += n;
        return p;
    }

private:
    const std::string &path_;
    const uint8_t *data_;
    uint64_t size_;
    uint64_t pos_ = 0;
};

}  // namespace

void ImportanceMatrix::add(const std::string &name, std::vector<float> values) {
    for (size_t i = 0; i < values.size(); i++) {
        if (!(std::isfinite(values[i]) && values[i] >= 0.0f)) {
            fail("imatrix '%s': entry '%s' value %zu is %g (must be finite and >= 0)", path_.c_str(), name.c_str(), i,
                 static_cast<double>(values[i]));
        }
    }
    if (!entries_.emplace(name, std::move(values)).second) {
        fail("imatrix '%s': duplicate entry '%s'", path_.c_str(), name.c_str());
    }
}

ImportanceMatrix ImportanceMatrix::load(const std::string &path) {
    MappedFile file(path);
    if (file.size() >= 4 && std::memcmp(file.data(), "GGUF", 4) == 0) return load_gguf(path);
    return load_legacy(path, file.data(), file.size());
}

ImportanceMatrix ImportanceMatrix::load_legacy(const std::string &path, const uint8_t *data, uint64_t size) {
    ImportanceMatrix m;
    m.path_ = path;
    Cursor in(path, data, size);
    const int32_t n_entries = in.i32("the entry count");
    if (n_entries < 1) fail("imatrix '%s': entry count is %d (must be >= 1)", path.c_str(), n_entries);
    for (int32_t e = 0; e < n_entries; e++) {
        const int32_t len = in.i32("an entry name length");
        if (len < 1 || len > kMaxNameLen) {
            fail("imatrix '%s': entry %d of %d: name length %d is out of range (1..%d)", path.c_str(), e, n_entries,
                 len, kMaxNameLen);
        }
        const auto *name_bytes = in.take(static_cast<uint64_t>(len), "an entry name");
        const std::string name(reinterpret_cast<const char *>(name_bytes), static_cast<size_t>(len));
        const int32_t ncall = in.i32("an entry call count");
        const int32_t nval = in.i32("an entry value count");
        if (nval < 1) fail("imatrix '%s': entry '%s': value count %d (must be >= 1)", path.c_str(), name.c_str(), nval);
        // Checked before allocating, so a corrupt count cannot ask for gigabytes.
        const auto *raw = in.take(4ull * static_cast<uint64_t>(nval), "entry values");
        std::vector<float> values(static_cast<size_t>(nval));
        std::memcpy(values.data(), raw, values.size() * sizeof(float));
        if (ncall > 0) {
            for (float &v : values) v /= static_cast<float>(ncall);
        }
        m.add(name, std::move(values));
    }
    if (in.left() > 0) {  // the optional trailer: chunk count and dataset name
        m.chunks_ = in.i32("the chunk count");
        const int32_t dlen = in.i32("the dataset name length");
        if (dlen < 0) fail("imatrix '%s': dataset name length %d is negative", path.c_str(), dlen);
        const auto *ds = in.take(static_cast<uint64_t>(dlen), "the dataset name");
        m.dataset_.assign(reinterpret_cast<const char *>(ds), static_cast<size_t>(dlen));
        if (in.left() > 0) {
            fail("imatrix '%s': %llu unexpected bytes after the dataset name at offset %llu", path.c_str(),
                 static_cast<unsigned long long>(in.left()), static_cast<unsigned long long>(in.pos()));
        }
    }
    return m;
}

ImportanceMatrix ImportanceMatrix::load_gguf(const std::string &path) {
    ImportanceMatrix m;
    m.path_ = path;
    const gguf::Reader r(path);
    static const std::string kSums = ".in_sum2", kCounts = ".counts";
    std::map<std::string, std::pair<const gguf::TensorInfo *, const gguf::TensorInfo *>> pairs;
    const auto ends_with = [](const std::string &s, const std::string &suffix) {
        return s.size() > suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    for (const auto &t : r.tensors()) {
        if (ends_with(t.name, kSums)) {
            pairs[t.name.substr(0, t.name.size() - kSums.size())].first = &t;
        } else if (ends_with(t.name, kCounts)) {
            pairs[t.name.substr(0, t.name.size() - kCounts.size())].second = &t;
        }
    }
    if (pairs.empty()) fail("imatrix '%s': GGUF file has no '*.in_sum2' / '*.counts' tensors", path.c_str());
    for (const auto &[name, p] : pairs) {
        const auto *sums = p.first;
        const auto *counts = p.second;
        if (!sums || !counts) {
            fail("imatrix '%s': tensor '%s%s' has no matching '%s'", path.c_str(), name.c_str(),
                 sums ? kSums.c_str() : kCounts.c_str(), sums ? kCounts.c_str() : kSums.c_str());
        }
        if (sums->type != gguf::TensorType::F32 || counts->type != gguf::TensorType::F32) {
            fail("imatrix '%s': '%s' sums/counts must be F32 (found %s, %s)", path.c_str(), name.c_str(),
                 gguf::type_name(sums->type).c_str(), gguf::type_name(counts->type).c_str());
        }
        const uint64_t ncol = sums->dim(0);
        const uint64_t nmat = sums->n_elements / ncol;
        if (counts->n_elements != nmat) {
            fail("imatrix '%s': '%s' has %llu matrices of sums but %llu counts", path.c_str(), name.c_str(),
                 static_cast<unsigned long long>(nmat), static_cast<unsigned long long>(counts->n_elements));
        }
        const auto *s = reinterpret_cast<const float *>(r.tensor_data(*sums));
        const auto *c = reinterpret_cast<const float *>(r.tensor_data(*counts));
        std::vector<float> values(sums->n_elements);
        for (uint64_t j = 0; j < nmat; j++) {
            float count;
            std::memcpy(&count, c + j, sizeof count);
            if (!(std::isfinite(count) && count >= 0.0f)) {
                fail("imatrix '%s': '%s' count %llu is %g", path.c_str(), name.c_str(),
                     static_cast<unsigned long long>(j), static_cast<double>(count));
            }
            for (uint64_t i = 0; i < ncol; i++) {
                float v;
                std::memcpy(&v, s + j * ncol + i, sizeof v);
                // A matrix that never saw input (count 0) gets neutral weights, as llama.cpp does.
                values[j * ncol + i] = count > 0.0f ? v / count : 1.0f;
            }
        }
        m.add(name, std::move(values));
    }
    if (const auto *v = r.find("imatrix.chunk_count")) {
        if (auto n = v->as_int()) m.chunks_ = *n;
    }
    if (const auto *v = r.find("imatrix.datasets")) {
        if (v->type == gguf::ValueType::ARRAY) {
            for (const auto &item : v->items) {
                if (item.type != gguf::ValueType::STRING) continue;
                if (!m.dataset_.empty()) m.dataset_ += ", ";
                m.dataset_ += item.str;
            }
        }
    }
    return m;
}

const float *ImportanceMatrix::find(const std::string &tensor_name, uint64_t row_len, int expert) const {
    if (row_len == 0) fail("imatrix '%s': lookup of '%s' with a row length of 0", path_.c_str(), tensor_name.c_str());
    if (expert >= 0) {
        for (const char *sep : {".expert.", ".expert_"}) {
            const std::string n = tensor_name + sep + std::to_string(expert);
            const auto it = entries_.find(n);
            if (it == entries_.end()) continue;
            if (it->second.size() != row_len) {
                fail("imatrix '%s': entry '%s' has %zu values, expected %llu (one per column)", path_.c_str(),
                     n.c_str(), it->second.size(), static_cast<unsigned long long>(row_len));
            }
            return it->second.data();
        }
    }
    const auto it = entries_.find(tensor_name);
    if (it == entries_.end()) return nullptr;
    const std::vector<float> &v = it->second;
    if (v.size() == row_len) return v.data();
    if (expert >= 0 && v.size() % row_len == 0) {
        const uint64_t n_experts = v.size() / row_len;
        if (static_cast<uint64_t>(expert) < n_experts) return v.data() + static_cast<uint64_t>(expert) * row_len;
        fail("imatrix '%s': entry '%s' holds %llu experts of %llu columns; expert %d is out of range", path_.c_str(),
             tensor_name.c_str(), static_cast<unsigned long long>(n_experts), static_cast<unsigned long long>(row_len),
             expert);
    }
    fail("imatrix '%s': entry '%s' has %zu values, which does not fit rows of %llu columns%s", path_.c_str(),
         tensor_name.c_str(), v.size(), static_cast<unsigned long long>(row_len),
         expert >= 0 ? " (nor a whole number of experts)" : "");
}

uint64_t ImportanceMatrix::entry_size(const std::string &name) const {
    const auto it = entries_.find(name);
    return it == entries_.end() ? 0 : it->second.size();
}

std::vector<std::string> ImportanceMatrix::names() const {
    std::vector<std::string> out;
    out.reserve(entries_.size());
    for (const auto &e : entries_) out.push_back(e.first);
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace dstar::quant
