#include "gguf/value.h"

#include <charconv>
#include <cstdio>
#include <limits>

namespace dstar::gguf {

const char *value_type_name(ValueType t) {
    switch (t) {
    case ValueType::U8: return "u8";
    case ValueType::I8: return "i8";
    case ValueType::U16: return "u16";
    case ValueType::I16: return "i16";
    case ValueType::U32: return "u32";
    case ValueType::I32: return "i32";
    case ValueType::F32: return "f32";
    case ValueType::BOOL: return "bool";
    case ValueType::STRING: return "string";
    case ValueType::ARRAY: return "array";
    case ValueType::U64: return "u64";
    case ValueType::I64: return "i64";
    case ValueType::F64: return "f64";
    }
    // Only reachable through a cast of a bad id; the reader never stores one.
    return "unknown";
}

Value Value::make_u32(uint32_t v) {
    Value r;
    r.type = ValueType::U32;
    r.u = v;
    return r;
}

Value Value::make_i32(int32_t v) {
    Value r;
    r.type = ValueType::I32;
    r.i = v;
    return r;
}

Value Value::make_u64(uint64_t v) {
    Value r;
    r.type = ValueType::U64;
    r.u = v;
    return r;
}

Value Value::make_f32(float v) {
    Value r;
    r.type = ValueType::F32;
    r.f = v;
    return r;
}

Value Value::make_f64(double v) {
    Value r;
    r.type = ValueType::F64;
    r.f = v;
    return r;
}

Value Value::make_bool(bool v) {
    Value r;
    r.type = ValueType::BOOL;
    r.u = v ? 1 : 0;
    return r;
}

Value Value::make_string(std::string v) {
    Value r;
    r.type = ValueType::STRING;
    r.str = std::move(v);
    return r;
}

Value Value::make_array(ValueType elem, std::vector<Value> items) {
    Value r;
    r.type = ValueType::ARRAY;
    r.elem_type = elem;
    r.items = std::move(items);
    return r;
}

Value Value::make_u32_array(const std::vector<uint32_t> &v) {
    std::vector<Value> items;
    items.reserve(v.size());
    for (uint32_t x : v) items.push_back(make_u32(x));
    return make_array(ValueType::U32, std::move(items));
}

Value Value::make_i32_array(const std::vector<int32_t> &v) {
    std::vector<Value> items;
    items.reserve(v.size());
    for (int32_t x : v) items.push_back(make_i32(x));
    return make_array(ValueType::I32, std::move(items));
}

Value Value::make_f32_array(const std::vector<float> &v) {
    std::vector<Value> items;
    items.reserve(v.size());
    for (float x : v) items.push_back(make_f32(x));
    return make_array(ValueType::F32, std::move(items));
}

Value Value::make_string_array(const std::vector<std::string> &v) {
    std::vector<Value> items;
    items.reserve(v.size());
    for (const auto &x : v) items.push_back(make_string(x));
    return make_array(ValueType::STRING, std::move(items));
}

bool Value::is_int() const {
    switch (type) {
    case ValueType::U8: case ValueType::I8: case ValueType::U16: case ValueType::I16:
    case ValueType::U32: case ValueType::I32: case ValueType::U64: case ValueType::I64:
        return true;
    default:
        return false;
    }
}

bool Value::is_float() const { return type == ValueType::F32 || type == ValueType::F64; }

std::optional<int64_t> Value::as_int() const {
    switch (type) {
    case ValueType::U8: case ValueType::U16: case ValueType::U32: case ValueType::U64:
        // Unsigned values live in `u`; only a u64 can exceed int64.
        if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
        return static_cast<int64_t>(u);
    case ValueType::I8: case ValueType::I16: case ValueType::I32: case ValueType::I64:
        return i;
    default:
        return std::nullopt;
    }
}

std::optional<double> Value::as_number() const {
    if (is_float()) return f;
    switch (type) {
    case ValueType::U8: case ValueType::U16: case ValueType::U32: case ValueType::U64:
        return static_cast<double>(u);
    case ValueType::I8: case ValueType::I16: case ValueType::I32: case ValueType::I64:
        return static_cast<double>(i);
    default:
        return std::nullopt;
    }
}

namespace {

// Strings in model files can be long (chat templates) or hold control bytes; a rendering is
// for logs and error messages, so keep it on one line and short.
constexpr size_t kMaxStringChars = 64;
// Nested arrays would multiply max_items per level (8 levels of 8 = 16M items); past this
// many characters the rendering stops listing items.
constexpr size_t kMaxRenderChars = 1024;

void append_quoted(std::string &out, const std::string &s) {
    out += '"';
    size_t n = 0;
    for (unsigned char c : s) {
        if (n == kMaxStringChars) {
            out += "...";
            break;
        }
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        } else {
            out += static_cast<char>(c);  // UTF-8 bytes pass through
        }
        n++;
    }
    out += '"';
}

// Shortest text that reads back as the same float (f32 values print as f32, so 1e-06 and
// not 9.99999997e-07).
template <typename T>
void append_float(std::string &out, T v) {
    char buf[64];
    const auto res = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, res.ptr);
}

void append_value(std::string &out, const Value &v, size_t max_items) {
    switch (v.type) {
    case ValueType::U8: case ValueType::U16: case ValueType::U32: case ValueType::U64:
        out += std::to_string(v.u);
        return;
    case ValueType::I8: case ValueType::I16: case ValueType::I32: case ValueType::I64:
        out += std::to_string(v.i);
        return;
    case ValueType::F32:
        append_float(out, static_cast<float>(v.f));
        return;
    case ValueType::F64:
        append_float(out, v.f);
        return;
    case ValueType::BOOL:
        out += v.u ? "true" : "false";
        return;
    case ValueType::STRING:
        append_quoted(out, v.str);
        return;
    case ValueType::ARRAY: {
        out += '[';
        out += value_type_name(v.elem_type);
        out += " x ";
        out += std::to_string(v.items.size());
        const size_t shown = v.items.size() < max_items ? v.items.size() : max_items;
        if (shown > 0) {
            out += ": ";
            size_t k = 0;
            for (; k < shown && out.size() < kMaxRenderChars; k++) {
                if (k) out += ", ";
                append_value(out, v.items[k], max_items);
            }
            if (k < v.items.size()) out += ", ...";
        }
        out += ']';
        return;
    }
    }
    out += "?";
}

}  // namespace

std::string Value::to_string(size_t max_items) const {
    std::string out;
    append_value(out, *this, max_items);
    return out;
}

}  // namespace dstar::gguf
