#include "convert/safetensors.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/error.h"

namespace dstar::convert {

// The format is little-endian and tensor data is handed out as mapped bytes.
static_assert(std::endian::native == std::endian::little, "safetensors reading assumes a little-endian host");

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

unsigned long long ull(uint64_t v) { return static_cast<unsigned long long>(v); }

struct DtypeInfo {
    StDtype type;
    const char *name;
    uint64_t size;
};

constexpr DtypeInfo kDtypes[] = {
    {StDtype::F64, "F64", 8},         {StDtype::F32, "F32", 4},         {StDtype::F16, "F16", 2},
    {StDtype::BF16, "BF16", 2},       {StDtype::F8_E4M3, "F8_E4M3", 1}, {StDtype::F8_E8M0, "F8_E8M0", 1},
    {StDtype::I64, "I64", 8},         {StDtype::I32, "I32", 4},         {StDtype::I16, "I16", 2},
    {StDtype::I8, "I8", 1},           {StDtype::U8, "U8", 1},           {StDtype::BOOL, "BOOL", 1},
};

const DtypeInfo &info(StDtype t) {
    for (const DtypeInfo &d : kDtypes)
        if (d.type == t) return d;
    fail("invalid StDtype value %d", static_cast<int>(t));
}

// Product of `shape`; false on u64 overflow.
bool checked_elements(const std::vector<uint64_t> &shape, uint64_t *out) {
    uint64_t n = 1;
    for (uint64_t d : shape)
        if (__builtin_mul_overflow(n, d, &n)) return false;
    *out = n;
    return true;
}

constexpr const char *kMetadataKey = "__metadata__";
constexpr const char *kSingleFile = "model.safetensors";
constexpr const char *kIndexFile = "model.safetensors.index.json";

// Reads a non-negative JSON integer (nlohmann parses those as unsigned); fails otherwise.
uint64_t json_u64(const json &v, const std::string &file, const std::string &tensor, const char *what) {
    if (v.is_number_unsigned()) return v.get<uint64_t>();
    if (v.is_number_integer())
        fail("'%s': tensor '%s': %s has a negative value %lld", file.c_str(), tensor.c_str(), what,
             static_cast<long long>(v.get<int64_t>()));
    // Integers beyond u64 parse as floating point.
    fail("'%s': tensor '%s': %s has a value that is not an integer in 0..2^64-1: %s", file.c_str(),
         tensor.c_str(), what, v.dump().c_str());
}

// Parses the JSON header, failing on duplicate top-level keys (nlohmann would silently keep
// the last one, hiding a corrupt or hand-edited header).
json parse_header(const char *begin, const char *end, const std::string &file) {
    std::string duplicate;
    std::set<std::string> seen;
    json::parser_callback_t cb = [&](int depth, json::parse_event_t event, json &parsed) {
        if (depth == 1 && event == json::parse_event_t::key && parsed.is_string()) {
            const std::string &k = parsed.get_ref<const std::string &>();
            if (!seen.insert(k).second && duplicate.empty()) duplicate = k;
        }
        return true;
    };
    json header;
    try {
        header = json::parse(begin, end, cb);
    } catch (const json::exception &e) {
        fail("'%s': malformed JSON header: %s", file.c_str(), e.what());
    }
    if (!duplicate.empty()) fail("'%s': header names tensor '%s' twice", file.c_str(), duplicate.c_str());
    if (!header.is_object()) fail("'%s': JSON header is not an object", file.c_str());
    return header;
}

StTensor parse_entry(const std::string &file, const std::string &name, const json &e, const uint8_t *data,
                     uint64_t data_size) {
    const char *f = file.c_str();
    const char *n = name.c_str();
    if (name.empty()) fail("'%s': header has a tensor with an empty name", f);
    if (!e.is_object()) fail("'%s': tensor '%s': entry is not a JSON object", f, n);
    for (const char *key : {"dtype", "shape", "data_offsets"})
        if (!e.contains(key)) fail("'%s': tensor '%s': no \"%s\"", f, n, key);

    StTensor t;
    t.name = name;
    t.file = file;

    const json &dt = e["dtype"];
    if (!dt.is_string()) fail("'%s': tensor '%s': dtype is not a string", f, n);
    if (!st_dtype_from_name(dt.get_ref<const std::string &>(), &t.dtype))
        fail("'%s': tensor '%s': unknown dtype '%s'", f, n, dt.get_ref<const std::string &>().c_str());

    const json &sh = e["shape"];
    if (!sh.is_array()) fail("'%s': tensor '%s': shape is not an array", f, n);
    for (const json &d : sh) t.shape.push_back(json_u64(d, file, name, "shape"));
    uint64_t elements = 0, bytes = 0;
    if (!checked_elements(t.shape, &elements) ||
        __builtin_mul_overflow(elements, st_dtype_size(t.dtype), &bytes))
        fail("'%s': tensor '%s': shape %s overflows 64 bits", f, n, shape_str(t.shape).c_str());

    const json &off = e["data_offsets"];
    if (!off.is_array() || off.size() != 2) fail("'%s': tensor '%s': data_offsets is not [begin, end]", f, n);
    const uint64_t begin = json_u64(off[0], file, name, "data_offsets");
    const uint64_t end = json_u64(off[1], file, name, "data_offsets");
    if (end < begin)
        fail("'%s': tensor '%s': data_offsets [%llu, %llu] end before begin", f, n, ull(begin), ull(end));
    if (end > data_size)
        fail("'%s': tensor '%s': data_offsets [%llu, %llu] outside the data section (%llu bytes)", f, n,
             ull(begin), ull(end), ull(data_size));
    t.n_bytes = end - begin;
    if (t.n_bytes != bytes)
        fail("'%s': tensor '%s': %llu data bytes, but %s %s needs %llu", f, n, ull(t.n_bytes),
             st_dtype_name(t.dtype), shape_str(t.shape).c_str(), ull(bytes));
    t.data = data + begin;
    return t;
}

}  // namespace

const char *st_dtype_name(StDtype t) { return info(t).name; }
uint64_t st_dtype_size(StDtype t) { return info(t).size; }

bool st_dtype_from_name(std::string_view name, StDtype *out) {
    for (const DtypeInfo &d : kDtypes) {
        if (name == d.name) {
            *out = d.type;
            return true;
        }
    }
    return false;
}

uint64_t StTensor::n_elements() const {
    uint64_t n = 0;
    if (!checked_elements(shape, &n)) fail("tensor '%s': shape %s overflows 64 bits", name.c_str(), shape_str(shape).c_str());
    return n;
}

std::string shape_str(const std::vector<uint64_t> &shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); i++) {
        if (i) s += ", ";
        s += std::to_string(shape[i]);
    }
    return s + "]";
}

// ---- one file ----

SafetensorsFile::SafetensorsFile(const std::string &path) : file_(path) {
    const char *f = path.c_str();
    const uint64_t size = file_.size();
    if (size < 8) fail("'%s': %llu bytes, too short for a safetensors header length", f, ull(size));
    uint64_t header_len = 0;
    std::memcpy(&header_len, file_.data(), 8);
    if (header_len > kMaxHeaderBytes)
        fail("'%s': header length %llu is absurd (limit %llu bytes); not a safetensors file?", f, ull(header_len),
             ull(kMaxHeaderBytes));
    if (header_len > size - 8)
        fail("'%s': header length %llu runs past the end of the file (%llu bytes)", f, ull(header_len), ull(size));

    const char *hdr = reinterpret_cast<const char *>(file_.data() + 8);
    const json header = parse_header(hdr, hdr + header_len, path);
    const uint8_t *data = file_.data() + 8 + header_len;
    const uint64_t data_size = size - 8 - header_len;

    for (const auto &[name, entry] : header.items()) {
        if (name == kMetadataKey) {
            if (!entry.is_object()) fail("'%s': __metadata__ is not a JSON object", f);
            for (const auto &[k, v] : entry.items()) {
                if (!v.is_string()) fail("'%s': __metadata__ value for '%s' is not a string", f, k.c_str());
                metadata_[k] = v.get<std::string>();
            }
            continue;
        }
        tensors_.push_back(parse_entry(path, name, entry, data, data_size));
    }

    // Data-section order; then no two non-empty tensors may share a byte.  (Holes between
    // tensors are harmless and allowed; empty tensors occupy nothing.)
    std::sort(tensors_.begin(), tensors_.end(), [](const StTensor &a, const StTensor &b) {
        return a.data != b.data ? a.data < b.data : a.n_bytes < b.n_bytes;
    });
    const StTensor *last = nullptr;  // the non-empty tensor reaching furthest so far
    for (const StTensor &t : tensors_) {
        if (t.n_bytes == 0) continue;
        if (last && t.data < last->data + last->n_bytes)
            fail("'%s': tensors '%s' (bytes %llu..%llu) and '%s' (bytes %llu..%llu) overlap", f, last->name.c_str(),
                 ull(last->data - data), ull(last->data - data + last->n_bytes), t.name.c_str(), ull(t.data - data),
                 ull(t.data - data + t.n_bytes));
        if (!last || t.data + t.n_bytes > last->data + last->n_bytes) last = &t;
    }
}

// ---- a checkpoint folder ----

Checkpoint::Checkpoint(const std::string &dir) : dir_(dir) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) fail("checkpoint folder '%s' does not exist or is not a folder", dir.c_str());
    const fs::path root(dir);

    if (fs::is_regular_file(root / kSingleFile, ec)) {
        add_file((root / kSingleFile).string());
        return;
    }

    const fs::path index_path = root / kIndexFile;
    if (fs::is_regular_file(index_path, ec)) {
        const std::string ip = index_path.string();
        json index;
        try {
            index = json::parse(read_file(ip));
        } catch (const json::exception &e) {
            fail("'%s': malformed JSON: %s", ip.c_str(), e.what());
        }
        if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object())
            fail("'%s': no \"weight_map\" object", ip.c_str());
        const json &wm = index["weight_map"];

        // Shards in sorted name order, each with one tensor it should hold (for the message
        // if the file is missing).
        std::map<std::string, std::string> shards;
        for (const auto &[tensor, shard] : wm.items()) {
            if (!shard.is_string())
                fail("'%s': weight_map entry for '%s' is not a file name", ip.c_str(), tensor.c_str());
            const std::string &s = shard.get_ref<const std::string &>();
            // Shards are plain names in the same folder; anything else could escape it.
            if (s.empty() || s == "." || s == ".." || s.find('/') != std::string::npos)
                fail("'%s': weight_map puts '%s' in '%s', which is not a plain file name", ip.c_str(), tensor.c_str(),
                     s.c_str());
            shards.emplace(s, tensor);
        }
        for (const auto &[shard, tensor] : shards)
            if (!fs::is_regular_file(root / shard, ec))
                fail("'%s': shard '%s' (listed for tensor '%s') does not exist in '%s'", ip.c_str(), shard.c_str(),
                     tensor.c_str(), dir.c_str());
        for (const auto &[shard, tensor] : shards) add_file((root / shard).string());

        // The index and the shards must agree exactly: a disagreement means a partial or mixed
        // download, and converting it would silently drop or misplace weights.
        for (const auto &[tensor, shard] : wm.items()) {
            const std::string &s = shard.get_ref<const std::string &>();
            const StTensor *t = find(tensor);
            const std::string want = (root / s).string();
            if (!t || t->file != want)
                fail("'%s': tensor '%s' is listed in shard '%s' but absent from it%s%s", ip.c_str(), tensor.c_str(),
                     s.c_str(), t ? "; it is in " : "", t ? t->file.c_str() : "");
        }
        for (const StTensor &t : tensors_)
            if (!wm.contains(t.name))
                fail("'%s': tensor '%s' in '%s' is not listed in weight_map", ip.c_str(), t.name.c_str(),
                     t.file.c_str());
        return;
    }

    std::vector<std::string> names;
    for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
        const fs::path &p = it->path();
        if (p.extension() == ".safetensors" && fs::is_regular_file(p, ec)) names.push_back(p.filename().string());
    }
    if (ec) fail("cannot list checkpoint folder '%s': %s", dir.c_str(), ec.message().c_str());
    if (names.empty())
        fail("checkpoint folder '%s' has no %s, %s or *.safetensors files", dir.c_str(), kSingleFile, kIndexFile);
    std::sort(names.begin(), names.end());
    for (const std::string &n : names) add_file((root / n).string());
}

void Checkpoint::add_file(const std::string &path) {
    auto file = std::make_unique<SafetensorsFile>(path);
    for (const StTensor &t : file->tensors()) {
        if (const StTensor *prev = find(t.name))
            fail("tensor '%s' is in both '%s' and '%s'", t.name.c_str(), prev->file.c_str(), path.c_str());
        by_name_.emplace(t.name, tensors_.size());
        tensors_.push_back(t);
    }
    files_.push_back(std::move(file));
}

const StTensor *Checkpoint::find(const std::string &name) const {
    const auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : &tensors_[it->second];
}

std::vector<std::string> Checkpoint::files() const {
    std::vector<std::string> out;
    for (const auto &f : files_) out.push_back(f->path());
    return out;
}

// ---- writing ----

void SafetensorsWriter::add(const std::string &name, StDtype dtype, const std::vector<uint64_t> &shape,
                            const void *data, uint64_t bytes) {
    if (name.empty() || name == kMetadataKey) fail("safetensors writer: invalid tensor name '%s'", name.c_str());
    if (taken_.count(name)) fail("safetensors writer: tensor '%s' added twice", name.c_str());
    uint64_t elements = 0, want = 0;
    if (!checked_elements(shape, &elements) || __builtin_mul_overflow(elements, st_dtype_size(dtype), &want))
        fail("safetensors writer: tensor '%s': shape %s overflows 64 bits", name.c_str(), shape_str(shape).c_str());
    if (bytes != want)
        fail("safetensors writer: tensor '%s': %llu bytes given, %s %s needs %llu", name.c_str(), ull(bytes),
             st_dtype_name(dtype), shape_str(shape).c_str(), ull(want));
    const uint64_t begin = data_.size();
    data_.append(static_cast<const char *>(data), bytes);
    entries_.push_back({name, dtype, shape, begin, data_.size()});
    taken_.insert(name);
}

void SafetensorsWriter::set_metadata(const std::string &key, const std::string &value) { metadata_[key] = value; }

std::vector<std::string> SafetensorsWriter::names() const {
    std::vector<std::string> out;
    for (const Entry &e : entries_) out.push_back(e.name);
    return out;
}

std::string SafetensorsWriter::serialize() const {
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    if (!metadata_.empty()) {
        nlohmann::ordered_json m = nlohmann::ordered_json::object();
        for (const auto &[k, v] : metadata_) m[k] = v;
        header[kMetadataKey] = m;
    }
    for (const Entry &e : entries_) {
        nlohmann::ordered_json j;
        j["dtype"] = st_dtype_name(e.dtype);
        j["shape"] = e.shape;
        j["data_offsets"] = {e.begin, e.end};
        header[e.name] = j;
    }
    std::string text = header.dump();
    // JSON allows trailing whitespace: pad so the data section starts 8-byte aligned.
    text.append((8 - (8 + text.size()) % 8) % 8, ' ');
    std::string out;
    out.reserve(8 + text.size() + data_.size());
    const uint64_t n = text.size();
    out.append(reinterpret_cast<const char *>(&n), 8);
    out += text;
    out += data_;
    return out;
}

void SafetensorsWriter::write(const std::string &path) const {
    const std::string image = serialize();
    write_file_atomic(path, image.data(), image.size());
}

}  // namespace dstar::convert
