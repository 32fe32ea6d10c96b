#include "gguf/writer.h"

#include <cerrno>
#include <cstring>
#include <unistd.h>

#include "common/error.h"
#include "gguf/reader.h"  // kMagic, kVersion, kMaxDims, kDefaultAlignment

namespace dstar::gguf {

namespace {

static_assert(sizeof(size_t) == 8, "the writer passes 64-bit sizes to fwrite");

constexpr uint32_t kMaxArrayDepth = 8;  // what the reader accepts
constexpr const char *kAlignmentKey = "general.alignment";

unsigned long long ull(uint64_t v) { return static_cast<unsigned long long>(v); }

bool is_pow2(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

// Little-endian encoders into the directory buffer.
void enc(std::string &out, uint64_t v, unsigned bytes) {
    for (unsigned k = 0; k < bytes; k++) out += static_cast<char>((v >> (8 * k)) & 0xff);
}
void enc_string(std::string &out, const std::string &s) {
    enc(out, s.size(), 8);
    out += s;
}

void encode_value(std::string &out, const Value &v) {
    switch (v.type) {
    case ValueType::U8: enc(out, v.u, 1); return;
    case ValueType::U16: enc(out, v.u, 2); return;
    case ValueType::U32: enc(out, v.u, 4); return;
    case ValueType::U64: enc(out, v.u, 8); return;
    case ValueType::I8: enc(out, static_cast<uint64_t>(v.i), 1); return;
    case ValueType::I16: enc(out, static_cast<uint64_t>(v.i), 2); return;
    case ValueType::I32: enc(out, static_cast<uint64_t>(v.i), 4); return;
    case ValueType::I64: enc(out, static_cast<uint64_t>(v.i), 8); return;
    case ValueType::BOOL: enc(out, v.u != 0 ? 1 : 0, 1); return;
    case ValueType::F32: {
        const float f = static_cast<float>(v.f);
        uint32_t bits;
        std::memcpy(&bits, &f, sizeof bits);
        enc(out, bits, 4);
        return;
    }
    case ValueType::F64: {
        uint64_t bits;
        std::memcpy(&bits, &v.f, sizeof bits);
        enc(out, bits, 8);
        return;
    }
    case ValueType::STRING: enc_string(out, v.str); return;
    case ValueType::ARRAY:
        enc(out, static_cast<uint32_t>(v.elem_type), 4);
        enc(out, v.items.size(), 8);
        for (const Value &item : v.items) encode_value(out, item);
        return;
    }
}

}  // namespace

Writer::Writer(std::string path) : path_(std::move(path)), tmp_path_(path_ + ".partial") {
    fp_ = std::fopen(tmp_path_.c_str(), "wb");
    if (!fp_) fail("cannot create '%s': %s", tmp_path_.c_str(), std::strerror(errno));
    // Large sequential writes; a bigger stdio buffer means fewer syscalls for small chunks.
    std::setvbuf(fp_, nullptr, _IOFBF, 1 << 20);
}

Writer::~Writer() {
    if (fp_) std::fclose(fp_);
    if (!finished_) ::unlink(tmp_path_.c_str());
}

void Writer::set_alignment(uint32_t alignment) {
    if (data_started_) fail("'%s': set_alignment after begin_data", path_.c_str());
    if (!is_pow2(alignment)) fail("'%s': alignment %u is not a nonzero power of two", path_.c_str(), alignment);
    alignment_ = alignment;
    for (auto &kv : kv_)
        if (kv.first == kAlignmentKey) kv.second = Value::make_u32(alignment);
}

namespace {

// Checks that `v` can be written and read back unchanged.
void validate(const std::string &path, const std::string &key, const Value &v, uint32_t depth) {
    auto bad = [&](const char *why) {
        fail("'%s': key '%s': %s value %s %s", path.c_str(), key.c_str(), value_type_name(v.type),
             v.to_string().c_str(), why);
    };
    switch (v.type) {
    case ValueType::U8: if (v.u > UINT8_MAX) bad("does not fit u8"); return;
    case ValueType::U16: if (v.u > UINT16_MAX) bad("does not fit u16"); return;
    case ValueType::U32: if (v.u > UINT32_MAX) bad("does not fit u32"); return;
    case ValueType::I8: if (v.i < INT8_MIN || v.i > INT8_MAX) bad("does not fit i8"); return;
    case ValueType::I16: if (v.i < INT16_MIN || v.i > INT16_MAX) bad("does not fit i16"); return;
    case ValueType::I32: if (v.i < INT32_MIN || v.i > INT32_MAX) bad("does not fit i32"); return;
    case ValueType::BOOL: if (v.u > 1) bad("is not 0 or 1"); return;
    case ValueType::U64: case ValueType::I64: case ValueType::F32: case ValueType::F64:
    case ValueType::STRING:
        return;
    case ValueType::ARRAY:
        if (depth + 1 > kMaxArrayDepth)
            fail("'%s': key '%s': arrays nested deeper than %u", path.c_str(), key.c_str(), kMaxArrayDepth);
        if (static_cast<uint32_t>(v.elem_type) > static_cast<uint32_t>(ValueType::F64))
            fail("'%s': key '%s': unknown array element type %u", path.c_str(), key.c_str(),
                 static_cast<uint32_t>(v.elem_type));
        for (size_t k = 0; k < v.items.size(); k++) {
            if (v.items[k].type != v.elem_type)
                fail("'%s': key '%s': array of %s has a %s item at index %zu", path.c_str(), key.c_str(),
                     value_type_name(v.elem_type), value_type_name(v.items[k].type), k);
            validate(path, key, v.items[k], depth + 1);
        }
        return;
    }
    fail("'%s': key '%s': unknown value type %u", path.c_str(), key.c_str(), static_cast<uint32_t>(v.type));
}

}  // namespace

void Writer::add_kv(const std::string &key, Value value) {
    if (data_started_) fail("'%s': add_kv('%s') after begin_data", path_.c_str(), key.c_str());
    for (const auto &kv : kv_)
        if (kv.first == key) fail("'%s': duplicate metadata key '%s'", path_.c_str(), key.c_str());
    validate(path_, key, value, 0);
    if (key == kAlignmentKey) {
        if (value.type != ValueType::U32 || !is_pow2(value.u))
            fail("'%s': key '%s' must be a u32 power of two, got %s %s", path_.c_str(), key.c_str(),
                 value_type_name(value.type), value.to_string().c_str());
        set_alignment(static_cast<uint32_t>(value.u));
    }
    kv_.emplace_back(key, std::move(value));
}

void Writer::add_tensor(const std::string &name, TensorType type, std::vector<uint64_t> dims) {
    if (data_started_) fail("'%s': add_tensor('%s') after begin_data", path_.c_str(), name.c_str());
    for (const Pending &t : tensors_)
        if (t.name == name) fail("'%s': duplicate tensor name '%s'", path_.c_str(), name.c_str());
    const TypeInfo *info = type_info(type);
    if (!info) fail("'%s': tensor '%s': unknown type id %u", path_.c_str(), name.c_str(), static_cast<uint32_t>(type));
    if (dims.empty() || dims.size() > kMaxDims)
        fail("'%s': tensor '%s': %zu dimensions, expected 1..%u", path_.c_str(), name.c_str(), dims.size(), kMaxDims);
    uint64_t n = 1;
    for (uint64_t d : dims) {
        if (d == 0) fail("'%s': tensor '%s': zero dimension", path_.c_str(), name.c_str());
        if (d > static_cast<uint64_t>(INT64_MAX) / n)
            fail("'%s': tensor '%s': element count overflows", path_.c_str(), name.c_str());
        n *= d;
    }
    uint64_t row = 0;
    if (!row_bytes(type, dims[0], &row))
        fail("'%s': tensor '%s': ne0 = %llu is not a multiple of the %s block size %u", path_.c_str(),
             name.c_str(), ull(dims[0]), info->name, info->block_elems);
    const uint64_t rows = n / dims[0];
    if (rows > UINT64_MAX / row) fail("'%s': tensor '%s': byte size overflows", path_.c_str(), name.c_str());
    const uint64_t bytes = row * rows;
    tensors_.push_back(Pending{name, type, std::move(dims), bytes, 0});
    sizes_.emplace_back(name, bytes);
}

uint64_t Writer::total_tensor_bytes() const {
    uint64_t sum = 0;
    for (const Pending &t : tensors_) sum += t.n_bytes;
    return sum;
}

void Writer::put(const void *p, uint64_t n) {
    if (n == 0) return;
    if (!p) {
        // A hole: seek over it; the file is extended to pos_ by finish().
        if (::fseeko(fp_, static_cast<off_t>(n), SEEK_CUR) != 0) {
            failed_ = true;
            fail("cannot seek in '%s' at byte %llu: %s", tmp_path_.c_str(), ull(pos_), std::strerror(errno));
        }
        pos_ += n;
        return;
    }
    if (std::fwrite(p, 1, n, fp_) != n) {
        failed_ = true;
        fail("cannot write '%s' at byte %llu: %s", tmp_path_.c_str(), ull(pos_), std::strerror(errno));
    }
    pos_ += n;
}

void Writer::pad_to(uint64_t alignment) {
    static const char zeros[4096] = {};
    uint64_t n = align_up(pos_, alignment) - pos_;
    while (n > 0) {
        const uint64_t k = n < sizeof zeros ? n : sizeof zeros;
        put(zeros, k);
        n -= k;
    }
}

void Writer::begin_data() {
    if (data_started_) fail("'%s': begin_data called twice", path_.c_str());
    if (!fp_) fail("'%s': writer is closed", path_.c_str());
    bool has_alignment_key = false;
    for (const auto &kv : kv_) has_alignment_key |= kv.first == kAlignmentKey;
    if (alignment_ != kDefaultAlignment && !has_alignment_key)
        kv_.insert(kv_.begin(), {kAlignmentKey, Value::make_u32(alignment_)});

    // Offsets are assigned only now, so set_alignment may come after add_tensor.  Each
    // tensor is padded to the alignment; the sum cannot wrap in practice (2^63 elements
    // max per tensor) but is checked anyway.
    uint64_t next = 0;
    for (Pending &t : tensors_) {
        if (next > UINT64_MAX - alignment_ || align_up(next, alignment_) > UINT64_MAX - t.n_bytes)
            fail("'%s': total tensor size overflows", path_.c_str());
        t.offset = align_up(next, alignment_);
        next = t.offset + t.n_bytes;
    }

    // Header and directory are small (the tokenizer dominates, a few MB), so build them in
    // memory and write once.
    std::string out;
    enc(out, kMagic, 4);
    enc(out, kVersion, 4);
    enc(out, tensors_.size(), 8);
    enc(out, kv_.size(), 8);
    for (const auto &kv : kv_) {
        enc_string(out, kv.first);
        enc(out, static_cast<uint32_t>(kv.second.type), 4);
        encode_value(out, kv.second);
    }
    for (const Pending &t : tensors_) {
        enc_string(out, t.name);
        enc(out, t.dims.size(), 4);
        for (uint64_t d : t.dims) enc(out, d, 8);
        enc(out, static_cast<uint32_t>(t.type), 4);
        enc(out, t.offset, 8);
    }
    data_started_ = true;
    put(out.data(), out.size());
    pad_to(alignment_);
    data_start_ = pos_;
}

void Writer::skip_data(uint64_t size) { write_data(nullptr, size); }

void Writer::write_data(const void *bytes, uint64_t size) {
    if (!data_started_) fail("'%s': write_data before begin_data", path_.c_str());
    if (finished_ || !fp_) fail("'%s': write_data after finish", path_.c_str());
    if (failed_) fail("'%s': write_data after an earlier write error", path_.c_str());
    const auto *p = static_cast<const uint8_t *>(bytes);
    while (size > 0) {
        if (cur_ >= tensors_.size())
            fail("'%s': %llu bytes written past the end of the last tensor", path_.c_str(), ull(size));
        const Pending &t = tensors_[cur_];
        if (cur_written_ == 0 && pos_ != data_start_ + t.offset)  // internal invariant
            fail("'%s': tensor '%s' would start at byte %llu instead of %llu", path_.c_str(), t.name.c_str(),
                 ull(pos_), ull(data_start_ + t.offset));
        const uint64_t room = t.n_bytes - cur_written_;
        const uint64_t k = size < room ? size : room;
        put(p, k);
        if (p) p += k;
        size -= k;
        cur_written_ += k;
        if (cur_written_ == t.n_bytes) {
            // Zero padding after every tensor (the last too, as llama.cpp does), so the
            // next tensor starts at its aligned offset.
            pad_to(alignment_);
            cur_++;
            cur_written_ = 0;
        }
    }
}

void Writer::finish() {
    if (finished_) fail("'%s': finish called twice", path_.c_str());
    if (!fp_ || failed_) fail("'%s': cannot finish after an earlier write error", path_.c_str());
    if (!data_started_) begin_data();
    if (cur_ < tensors_.size()) {
        const Pending &t = tensors_[cur_];
        fail("'%s': tensor '%s' is short: %llu of %llu bytes written (%zu of %zu tensors complete)",
             path_.c_str(), t.name.c_str(), ull(cur_written_), ull(t.n_bytes), cur_, tensors_.size());
    }
    // Every step can report a full disk or an I/O error; the partial file is removed by the
    // destructor in that case.
    failed_ = true;  // until the rename succeeds
    if (std::fflush(fp_) != 0) fail("cannot write '%s': %s", tmp_path_.c_str(), std::strerror(errno));
    // Trailing holes (skip_data) do not extend the file by themselves.
    if (::ftruncate(::fileno(fp_), static_cast<off_t>(pos_)) != 0)
        fail("cannot size '%s' to %llu bytes: %s", tmp_path_.c_str(), ull(pos_), std::strerror(errno));
    if (::fsync(::fileno(fp_)) != 0) fail("cannot sync '%s': %s", tmp_path_.c_str(), std::strerror(errno));
    FILE *fp = fp_;
    fp_ = nullptr;
    if (std::fclose(fp) != 0) fail("cannot close '%s': %s", tmp_path_.c_str(), std::strerror(errno));
    if (std::rename(tmp_path_.c_str(), path_.c_str()) != 0)
        fail("cannot rename '%s' to '%s': %s", tmp_path_.c_str(), path_.c_str(), std::strerror(errno));
    failed_ = false;
    finished_ = true;
}

}  // namespace dstar::gguf
