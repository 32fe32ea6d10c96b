#include "gguf/reader.h"

#include <algorithm>
#include <cstdarg>
#include <cstring>

#include "common/error.h"

namespace dstar::gguf {

namespace {

constexpr uint64_t kHeaderBytes = 24;  // magic, version, tensor count, kv count
// Smallest possible records, used to reject counts that the remaining bytes cannot hold
// before anything is allocated for them.
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;                // empty key, type, 1-byte value
constexpr uint64_t kMinTensorBytes = 8 + 4 + 8 + 4 + 8;    // empty name, n_dims, 1 dim, type, offset
constexpr uint32_t kMaxArrayDepth = 8;                      // as ds4
// Hard caps independent of the file size.  A decoded Value is ~100 bytes, so without them a
// hostile multi-GB file of 1-byte array items could make the reader allocate 100x its size.
// Real files are far below: DS4 has ~1300 tensors, ~60 keys and 129280 vocabulary entries.
constexpr uint64_t kMaxKeys = uint64_t{1} << 20;
constexpr uint64_t kMaxTensors = uint64_t{1} << 20;
constexpr uint64_t kMaxArrayItems = uint64_t{1} << 24;  // summed over all arrays of a file

unsigned long long ull(uint64_t v) { return static_cast<unsigned long long>(v); }

// Names from a corrupt file may hold any bytes; keep messages printable and short.
std::string printable(const std::string &s) {
    std::string out;
    for (size_t k = 0; k < s.size(); k++) {
        if (k == 96) {
            out += "...";
            break;
        }
        const unsigned char c = static_cast<unsigned char>(s[k]);
        if (c < 0x20 || c == 0x7f || c == '\\') {
            out += strformat("\\x%02x", c);
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

// Encoded size of a fixed-size value type, 0 for STRING/ARRAY and unknown ids.
uint64_t scalar_bytes(uint32_t type) {
    switch (static_cast<ValueType>(type)) {
    case ValueType::U8: case ValueType::I8: case ValueType::BOOL: return 1;
    case ValueType::U16: case ValueType::I16: return 2;
    case ValueType::U32: case ValueType::I32: case ValueType::F32: return 4;
    case ValueType::U64: case ValueType::I64: case ValueType::F64: return 8;
    default: return 0;
    }
}

bool known_value_type(uint32_t type) { return type <= static_cast<uint32_t>(ValueType::F64); }

// Fewest bytes one encoded value of `type` can take (a string is at least its length,
// an array at least its element type and count).
uint64_t min_value_bytes(uint32_t type) {
    if (type == static_cast<uint32_t>(ValueType::STRING)) return 8;
    if (type == static_cast<uint32_t>(ValueType::ARRAY)) return 12;
    return scalar_bytes(type);
}

class Parser {
public:
    Parser(const uint8_t *data, uint64_t size, const std::string &what)
        : data_(data), size_(size), what_(what) {}

    Parsed run();

private:
    [[noreturn]] void error(const char *fmt, ...) const __attribute__((format(printf, 2, 3)));

    uint64_t left() const { return size_ - pos_; }
    // Checks that `n` more bytes exist; `ctx` says what was being read.
    void need(uint64_t n, const std::string &ctx) const;
    uint64_t read_le(unsigned n, const std::string &ctx);
    uint32_t u32(const std::string &ctx) { return static_cast<uint32_t>(read_le(4, ctx)); }
    uint64_t u64(const std::string &ctx) { return read_le(8, ctx); }
    std::string read_string(const std::string &ctx);
    Value value(uint32_t type, uint32_t depth, const std::string &ctx);
    void read_metadata(uint64_t n_kv, Parsed &p);
    void check_alignment(Parsed &p);
    void read_tensor(uint64_t index, Parsed &p);
    void place_tensors(Parsed &p);

    const uint8_t *data_;
    uint64_t size_;
    uint64_t pos_ = 0;
    const std::string &what_;
    uint64_t array_items_ = 0;
};

void Parser::error(const char *fmt, ...) const {
    va_list ap;
    va_start(ap, fmt);
    std::string msg = vstrformat(fmt, ap);
    va_end(ap);
    throw Error(what_ + ": " + msg);
}

void Parser::need(uint64_t n, const std::string &ctx) const {
    if (n > left())
        error("truncated: %s at byte %llu needs %llu bytes, only %llu remain (file size %llu)",
              ctx.c_str(), ull(pos_), ull(n), ull(left()), ull(size_));
}

uint64_t Parser::read_le(unsigned n, const std::string &ctx) {
    need(n, ctx);
    // Assembled byte by byte: the format is little-endian whatever the host is, and the
    // image has no alignment guarantee.
    uint64_t v = 0;
    for (unsigned k = 0; k < n; k++) v |= static_cast<uint64_t>(data_[pos_ + k]) << (8 * k);
    pos_ += n;
    return v;
}

std::string Parser::read_string(const std::string &ctx) {
    const uint64_t at = pos_;
    const uint64_t len = u64(ctx + " (string length)");
    if (len > left())
        error("%s: string length %llu at byte %llu runs past the end of the file (%llu bytes left)",
              ctx.c_str(), ull(len), ull(at), ull(left()));
    std::string s(reinterpret_cast<const char *>(data_ + pos_), static_cast<size_t>(len));
    pos_ += len;
    return s;
}

// `depth` = number of arrays enclosing this value.
Value Parser::value(uint32_t type, uint32_t depth, const std::string &ctx) {
    Value v;
    v.type = static_cast<ValueType>(type);
    switch (v.type) {
    case ValueType::U8: case ValueType::U16: case ValueType::U32: case ValueType::U64:
        v.u = read_le(static_cast<unsigned>(scalar_bytes(type)), ctx);
        return v;
    case ValueType::I8:
        v.i = static_cast<int8_t>(read_le(1, ctx));
        return v;
    case ValueType::I16:
        v.i = static_cast<int16_t>(read_le(2, ctx));
        return v;
    case ValueType::I32:
        v.i = static_cast<int32_t>(read_le(4, ctx));
        return v;
    case ValueType::I64:
        v.i = static_cast<int64_t>(read_le(8, ctx));
        return v;
    case ValueType::F32: {
        const uint32_t bits = u32(ctx);
        float f;
        static_assert(sizeof f == sizeof bits);
        std::memcpy(&f, &bits, sizeof f);
        v.f = f;
        return v;
    }
    case ValueType::F64: {
        const uint64_t bits = u64(ctx);
        double d;
        static_assert(sizeof d == sizeof bits);
        std::memcpy(&d, &bits, sizeof d);
        v.f = d;
        return v;
    }
    case ValueType::BOOL: {
        // The spec defines only 0 and 1.  ds4 reads any nonzero byte as true; we reject
        // other values, since a byte like 0x5a in a bool is a sign of a corrupt or
        // misaligned file rather than a deliberate "true".
        const uint64_t at = pos_;
        v.u = read_le(1, ctx);
        if (v.u > 1) error("%s: bool value %llu at byte %llu is not 0 or 1", ctx.c_str(), ull(v.u), ull(at));
        return v;
    }
    case ValueType::STRING:
        v.str = read_string(ctx);
        return v;
    case ValueType::ARRAY: {
        if (depth + 1 > kMaxArrayDepth)
            error("%s: array nesting depth exceeds %u at byte %llu", ctx.c_str(), kMaxArrayDepth, ull(pos_));
        const uint64_t at = pos_;
        const uint32_t elem = u32(ctx + " (array element type)");
        if (!known_value_type(elem))
            error("%s: array at byte %llu has unknown element value type %u", ctx.c_str(), ull(at), elem);
        v.elem_type = static_cast<ValueType>(elem);
        const uint64_t count = u64(ctx + " (array count)");
        // Even the smallest encoding of `count` elements must fit in what is left, which
        // also bounds the allocation below by the file size.
        const uint64_t min_bytes = min_value_bytes(elem);
        if (count > left() / min_bytes)
            error("%s: array count %llu of %s at byte %llu needs at least %llu bytes per element, "
                  "more than the %llu bytes left in the file",
                  ctx.c_str(), ull(count), value_type_name(v.elem_type), ull(at), ull(min_bytes), ull(left()));
        if (count > kMaxArrayItems - array_items_)
            error("%s: array count %llu at byte %llu exceeds the limit of %llu array items per file",
                  ctx.c_str(), ull(count), ull(at), ull(kMaxArrayItems));
        array_items_ += count;
        v.items.reserve(static_cast<size_t>(count));
        for (uint64_t k = 0; k < count; k++) {
            v.items.push_back(value(elem, depth + 1, ctx));
        }
        return v;
    }
    }
    error("%s: unknown value type %u at byte %llu", ctx.c_str(), type, ull(pos_));
}

void Parser::read_metadata(uint64_t n_kv, Parsed &p) {
    for (uint64_t k = 0; k < n_kv; k++) {
        const uint64_t at = pos_;
        std::string key = read_string(strformat("metadata key #%llu", ull(k)));
        const std::string ctx = "key '" + printable(key) + "'";
        if (p.key_index.count(key))
            error("duplicate metadata key '%s' at byte %llu", printable(key).c_str(), ull(at));
        const uint64_t type_at = pos_;
        const uint32_t type = u32(ctx + " (value type)");
        if (!known_value_type(type))
            error("%s: unknown value type %u at byte %llu", ctx.c_str(), type, ull(type_at));
        Value v = value(type, 0, ctx);
        p.key_index.emplace(key, p.metadata.size());
        p.metadata.emplace_back(std::move(key), std::move(v));
    }
}

void Parser::check_alignment(Parsed &p) {
    auto it = p.key_index.find("general.alignment");
    if (it == p.key_index.end()) return;
    const Value &v = p.metadata[it->second].second;
    if (v.type != ValueType::U32)
        error("key 'general.alignment' has type %s, expected u32", value_type_name(v.type));
    if (v.u == 0 || (v.u & (v.u - 1)) != 0)
        error("key 'general.alignment' = %llu is not a nonzero power of two", ull(v.u));
    p.alignment = static_cast<uint32_t>(v.u);
}

void Parser::read_tensor(uint64_t index, Parsed &p) {
    const uint64_t at = pos_;
    TensorInfo t;
    t.name = read_string(strformat("tensor #%llu name", ull(index)));
    const std::string ctx = "tensor '" + printable(t.name) + "'";
    if (p.tensor_index.count(t.name))
        error("duplicate tensor name '%s' at byte %llu", printable(t.name).c_str(), ull(at));

    const uint32_t n_dims = u32(ctx + " (n_dims)");
    if (n_dims < 1 || n_dims > kMaxDims)
        error("%s: n_dims %u is not in 1..%u (at byte %llu)", ctx.c_str(), n_dims, kMaxDims, ull(pos_ - 4));
    t.dims.resize(n_dims);
    for (uint32_t d = 0; d < n_dims; d++) t.dims[d] = u64(ctx + " (dims)");
    for (uint32_t d = 0; d < n_dims; d++)
        if (t.dims[d] == 0) error("%s: dimension %u of %s is zero", ctx.c_str(), d, t.shape_string().c_str());
    // ggml counts elements in int64, so the product must stay below 2^63.
    uint64_t n = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (t.dims[d] > static_cast<uint64_t>(INT64_MAX) / n)
            error("%s: dimensions %s overflow (element count exceeds 2^63)", ctx.c_str(), t.shape_string().c_str());
        n *= t.dims[d];
    }
    t.n_elements = n;

    const uint64_t type_at = pos_;
    const uint32_t type_id = u32(ctx + " (type)");
    const TypeInfo *info = type_info(type_id);
    if (!info) error("%s: unknown tensor type id %u at byte %llu", ctx.c_str(), type_id, ull(type_at));
    t.type = info->type;
    uint64_t row = 0;
    if (!row_bytes(t.type, t.dims[0], &row))
        error("%s: ne0 = %llu is not a multiple of the %s block size %u (partial block row)",
              ctx.c_str(), ull(t.dims[0]), info->name, info->block_elems);
    const uint64_t rows = n / t.dims[0];
    if (rows > UINT64_MAX / row)
        error("%s: byte size of %s %s overflows", ctx.c_str(), info->name, t.shape_string().c_str());
    t.n_bytes = row * rows;
    t.offset = u64(ctx + " (offset)");

    p.tensor_index.emplace(t.name, p.tensors.size());
    p.tensors.push_back(std::move(t));
}

void Parser::place_tensors(Parsed &p) {
    for (TensorInfo &t : p.tensors) {
        const std::string name = printable(t.name);
        if (t.offset % p.alignment != 0)
            error("tensor '%s': offset %llu is not a multiple of the alignment %u", name.c_str(),
                  ull(t.offset), p.alignment);
        // Overflow-safe form of data_offset + offset + n_bytes <= size.
        if (p.data_offset > size_ || t.offset > size_ - p.data_offset ||
            t.n_bytes > size_ - p.data_offset - t.offset) {
            const uint64_t begin = p.data_offset + t.offset;  // wraps only for absurd offsets,
            const uint64_t end = begin + t.n_bytes;           // which the message still shows
            if (begin < p.data_offset || end < begin)
                error("tensor '%s': data offset %llu + %llu bytes lies outside the file (size %llu)",
                      name.c_str(), ull(t.offset), ull(t.n_bytes), ull(size_));
            error("tensor '%s' data [%llu, %llu) lies outside the file (size %llu)", name.c_str(),
                  ull(begin), ull(end), ull(size_));
        }
        t.file_offset = p.data_offset + t.offset;
    }
    // Directory order is not data order; check neighbours in data order.
    std::vector<const TensorInfo *> order;
    order.reserve(p.tensors.size());
    for (const TensorInfo &t : p.tensors) order.push_back(&t);
    std::sort(order.begin(), order.end(),
              [](const TensorInfo *a, const TensorInfo *b) { return a->file_offset < b->file_offset; });
    for (size_t k = 1; k < order.size(); k++) {
        const TensorInfo &a = *order[k - 1];
        const TensorInfo &b = *order[k];
        if (a.file_offset + a.n_bytes > b.file_offset)
            error("tensors '%s' [%llu, %llu) and '%s' [%llu, %llu) overlap", printable(a.name).c_str(),
                  ull(a.file_offset), ull(a.file_offset + a.n_bytes), printable(b.name).c_str(),
                  ull(b.file_offset), ull(b.file_offset + b.n_bytes));
    }
}

Parsed Parser::run() {
    Parsed p;
    if (size_ < kHeaderBytes)
        error("file too small for a GGUF header (%llu bytes, need %llu)", ull(size_), ull(kHeaderBytes));
    const uint32_t magic = u32("magic");
    if (magic != kMagic)
        error("bad magic 0x%08x (expected 0x%08x, \"GGUF\"): not a GGUF file", magic, kMagic);
    p.version = u32("version");
    if (p.version != kVersion) error("unsupported GGUF version %u (only version %u is supported)", p.version, kVersion);
    const uint64_t n_tensors = u64("tensor count");
    const uint64_t n_kv = u64("metadata key count");
    if (n_kv > kMaxKeys || n_kv > left() / kMinKvBytes)
        error("absurd metadata key count %llu: the remaining %llu bytes hold at most %llu keys (limit %llu)",
              ull(n_kv), ull(left()), ull(left() / kMinKvBytes), ull(kMaxKeys));
    if (n_tensors > kMaxTensors || n_tensors > left() / kMinTensorBytes)
        error("absurd tensor count %llu: the remaining %llu bytes hold at most %llu tensor records (limit %llu)",
              ull(n_tensors), ull(left()), ull(left() / kMinTensorBytes), ull(kMaxTensors));

    read_metadata(n_kv, p);
    check_alignment(p);

    // Now the tensor records must fit in what follows the metadata.
    if (n_tensors > left() / kMinTensorBytes)
        error("absurd tensor count %llu: the %llu bytes after the metadata (byte %llu) hold at most %llu "
              "tensor records", ull(n_tensors), ull(left()), ull(pos_), ull(left() / kMinTensorBytes));
    for (uint64_t k = 0; k < n_tensors; k++) read_tensor(k, p);

    if (pos_ > UINT64_MAX - p.alignment) error("directory end %llu cannot be aligned", ull(pos_));
    p.data_offset = (pos_ + p.alignment - 1) / p.alignment * p.alignment;
    place_tensors(p);
    return p;
}

}  // namespace

std::string TensorInfo::shape_string() const {
    std::string s = "[";
    for (size_t k = 0; k < dims.size(); k++) {
        if (k) s += ", ";
        s += std::to_string(dims[k]);
    }
    return s + "]";
}

Parsed parse(const uint8_t *data, uint64_t size, const std::string &what) {
    return Parser(data, size, what).run();
}

Reader::Reader(const std::string &path) : file_(path), parsed_(parse(file_.data(), file_.size(), path)) {}

const Value *Reader::find(const std::string &key) const {
    auto it = parsed_.key_index.find(key);
    return it == parsed_.key_index.end() ? nullptr : &parsed_.metadata[it->second].second;
}

const TensorInfo *Reader::find_tensor(const std::string &name) const {
    auto it = parsed_.tensor_index.find(name);
    return it == parsed_.tensor_index.end() ? nullptr : &parsed_.tensors[it->second];
}

}  // namespace dstar::gguf
