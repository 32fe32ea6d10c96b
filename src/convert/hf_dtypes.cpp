#include "convert/hf_dtypes.h"

#include <array>
#include <cmath>
#include <cstring>
#include <limits>

#include "common/error.h"
#include "common/fp16.h"

namespace dstar::convert {

namespace {

unsigned long long ull(uint64_t v) { return static_cast<unsigned long long>(v); }

uint64_t ceil_div(uint64_t a, uint64_t b) { return a / b + (a % b != 0); }

// Element i of a little-endian array of T (the data may be unaligned).
template <typename T>
T load(const uint8_t *p, uint64_t i) {
    T v;
    std::memcpy(&v, p + i * sizeof(T), sizeof(T));
    return v;
}

// Per-code tables: the conversions are pure functions of one byte / nibble.
const std::array<float, 256> &e4m3_table() {
    static const std::array<float, 256> table = [] {
        std::array<float, 256> t{};
        for (int c = 0; c < 256; c++) t[static_cast<size_t>(c)] = e4m3fn_to_f32(static_cast<uint8_t>(c));
        return t;
    }();
    return table;
}

constexpr float kE2m1[16] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f,
                             -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};

void check_bytes(const StTensor &t) {
    const uint64_t want = t.n_elements() * st_dtype_size(t.dtype);
    if (t.n_bytes != want)
        fail("tensor '%s' in '%s': %llu data bytes, but %s %s needs %llu", t.name.c_str(), t.file.c_str(),
             ull(t.n_bytes), st_dtype_name(t.dtype), shape_str(t.shape).c_str(), ull(want));
}

// A scale tensor's values as f32, each finite (an E8M0 255 is NaN in the OCP spec; a NaN or
// infinite scale would silently wreck a whole block).
std::vector<float> scale_values(const StTensor &scale) {
    check_bytes(scale);
    const uint64_t n = scale.n_elements();
    std::vector<float> out(n);
    for (uint64_t i = 0; i < n; i++) {
        float v = 0;
        switch (scale.dtype) {
        case StDtype::F8_E8M0:
            if (scale.data[i] == 0xff)
                fail("scale tensor '%s': element %llu is the E8M0 NaN code 255", scale.name.c_str(), ull(i));
            v = e8m0_to_f32(scale.data[i]);
            break;
        case StDtype::F32: v = load<float>(scale.data, i); break;
        case StDtype::BF16: v = bf16_to_f32(load<uint16_t>(scale.data, i)); break;
        case StDtype::F16: v = f16_to_f32(load<uint16_t>(scale.data, i)); break;
        default:
            fail("scale tensor '%s': dtype %s is not a scale type (F8_E8M0, F32, BF16, F16)", scale.name.c_str(),
                 st_dtype_name(scale.dtype));
        }
        if (!std::isfinite(v)) fail("scale tensor '%s': element %llu is not finite", scale.name.c_str(), ull(i));
        out[i] = v;
    }
    return out;
}

// Validates an FP8 weight / scale pair; returns nothing, fails naming both tensors.
void check_fp8(const StTensor &w, const StTensor &scale) {
    const char *n = w.name.c_str();
    if (w.dtype != StDtype::F8_E4M3)
        fail("%s: FP8 block dequantization needs an F8_E4M3 weight, found %s", n, st_dtype_name(w.dtype));
    if (scale.dtype != StDtype::F8_E8M0 && scale.dtype != StDtype::F32 && scale.dtype != StDtype::BF16 &&
        scale.dtype != StDtype::F16)
        fail("%s: scale tensor '%s' has dtype %s; FP8 block scales are F8_E8M0, F32, BF16 or F16", n,
             scale.name.c_str(), st_dtype_name(scale.dtype));
    if (w.shape.size() != 2) fail("%s: FP8 block-scaled weight must be 2-D, shape is %s", n, shape_str(w.shape).c_str());
    const std::vector<uint64_t> want = {ceil_div(w.shape[0], kFp8Block), ceil_div(w.shape[1], kFp8Block)};
    if (scale.shape != want)
        fail("%s: scale tensor '%s' has shape %s; a weight of shape %s with 128x128 blocks needs %s", n,
             scale.name.c_str(), shape_str(scale.shape).c_str(), shape_str(w.shape).c_str(), shape_str(want).c_str());
    check_bytes(w);
}

// Validates a packed FP4 weight / scale pair; returns the logical [out, in] shape.
std::vector<uint64_t> check_fp4(const StTensor &w, const StTensor &scale) {
    const char *n = w.name.c_str();
    if (w.dtype != StDtype::I8)
        fail("%s: packed FP4 dequantization needs an I8 weight, found %s", n, st_dtype_name(w.dtype));
    if (scale.dtype != StDtype::F8_E8M0)
        fail("%s: scale tensor '%s' has dtype %s; packed FP4 scales are F8_E8M0", n, scale.name.c_str(),
             st_dtype_name(scale.dtype));
    if (w.shape.size() != 2) fail("%s: packed FP4 weight must be 2-D, shape is %s", n, shape_str(w.shape).c_str());
    uint64_t in = 0;
    if (__builtin_mul_overflow(w.shape[1], uint64_t{2}, &in)) fail("%s: packed FP4 shape overflows", n);
    const std::vector<uint64_t> want = {w.shape[0], ceil_div(in, kFp4Block)};
    if (scale.shape != want)
        fail("%s: scale tensor '%s' has shape %s; a packed FP4 weight of shape %s (%llu x %llu values) with "
             "32-value blocks needs %s",
             n, scale.name.c_str(), shape_str(scale.shape).c_str(), shape_str(w.shape).c_str(), ull(w.shape[0]),
             ull(in), shape_str(want).c_str());
    check_bytes(w);
    return {w.shape[0], in};
}

bool ends_with(const std::string &s, const std::string &suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

// ---- scalar codes ----

float e4m3fn_to_f32(uint8_t code) {
    const bool neg = (code & 0x80) != 0;
    const int exp = (code >> 3) & 0x0f;
    const int man = code & 0x07;
    if ((code & 0x7f) == 0x7f) return 0.0f;  // NaN code: see the header
    // Subnormal: man * 2^-9 (= 0.man * 2^(1-7)); normal: 1.man * 2^(exp-7).  Both exact in f32.
    const float v = exp == 0 ? std::ldexp(static_cast<float>(man), -9)
                             : std::ldexp(1.0f + static_cast<float>(man) / 8.0f, exp - 7);
    return neg ? -v : v;
}

float e8m0_to_f32(uint8_t code) {
    if (code == 0xff) return std::numeric_limits<float>::quiet_NaN();
    // 2^(code-127) as f32 bits: code >= 1 is the biased exponent itself; code 0 (2^-127) is the
    // subnormal with only mantissa bit 22 set.
    return f32_from_bits(code == 0 ? 0x00400000u : static_cast<uint32_t>(code) << 23);
}

float e2m1_to_f32(uint8_t code) { return kE2m1[code & 0x0f]; }

// ---- whole tensors ----

std::vector<float> to_f32(const StTensor &t) {
    check_bytes(t);
    const uint64_t n = t.n_elements();
    std::vector<float> out(n);
    const uint8_t *p = t.data;
    switch (t.dtype) {
    case StDtype::F32:
        if (n) std::memcpy(out.data(), p, n * sizeof(float));
        break;
    case StDtype::F64:
        for (uint64_t i = 0; i < n; i++) out[i] = static_cast<float>(load<double>(p, i));
        break;
    case StDtype::F16:
        for (uint64_t i = 0; i < n; i++) out[i] = f16_to_f32(load<uint16_t>(p, i));
        break;
    case StDtype::BF16:
        for (uint64_t i = 0; i < n; i++) out[i] = bf16_to_f32(load<uint16_t>(p, i));
        break;
    case StDtype::F8_E4M3: {
        const auto &lut = e4m3_table();
        for (uint64_t i = 0; i < n; i++) out[i] = lut[p[i]];
        break;
    }
    case StDtype::F8_E8M0:
        for (uint64_t i = 0; i < n; i++) {
            if (p[i] == 0xff) fail("tensor '%s': element %llu is the E8M0 NaN code 255", t.name.c_str(), ull(i));
            out[i] = e8m0_to_f32(p[i]);
        }
        break;
    case StDtype::I64:
        for (uint64_t i = 0; i < n; i++) out[i] = static_cast<float>(load<int64_t>(p, i));
        break;
    case StDtype::I32:
        for (uint64_t i = 0; i < n; i++) out[i] = static_cast<float>(load<int32_t>(p, i));
        break;
    case StDtype::I16:
        for (uint64_t i = 0; i < n; i++) out[i] = static_cast<float>(load<int16_t>(p, i));
        break;
    case StDtype::I8:
        for (uint64_t i = 0; i < n; i++) out[i] = static_cast<float>(static_cast<int8_t>(p[i]));
        break;
    case StDtype::U8:
        for (uint64_t i = 0; i < n; i++) out[i] = static_cast<float>(p[i]);
        break;
    case StDtype::BOOL:
        for (uint64_t i = 0; i < n; i++) out[i] = p[i] != 0 ? 1.0f : 0.0f;
        break;
    }
    return out;
}

std::vector<int32_t> to_i32(const StTensor &t) {
    check_bytes(t);
    const uint64_t n = t.n_elements();
    std::vector<int32_t> out(n);
    const uint8_t *p = t.data;
    switch (t.dtype) {
    case StDtype::I64:
        for (uint64_t i = 0; i < n; i++) {
            const int64_t v = load<int64_t>(p, i);
            if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max())
                fail("tensor '%s': element %llu = %lld is outside the int32 range", t.name.c_str(), ull(i),
                     static_cast<long long>(v));
            out[i] = static_cast<int32_t>(v);
        }
        break;
    case StDtype::I32:
        if (n) std::memcpy(out.data(), p, n * sizeof(int32_t));
        break;
    case StDtype::I16:
        for (uint64_t i = 0; i < n; i++) out[i] = load<int16_t>(p, i);
        break;
    case StDtype::I8:
        for (uint64_t i = 0; i < n; i++) out[i] = static_cast<int8_t>(p[i]);
        break;
    case StDtype::U8:
        for (uint64_t i = 0; i < n; i++) out[i] = p[i];
        break;
    default:
        fail("tensor '%s': dtype %s is not an integer type", t.name.c_str(), st_dtype_name(t.dtype));
    }
    return out;
}

// ---- block-scaled weights ----

std::vector<float> dequantize_fp8_blocks(const StTensor &w, const StTensor &scale) {
    check_fp8(w, scale);
    const std::vector<float> s = scale_values(scale);
    const uint64_t rows = w.shape[0], cols = w.shape[1];
    const uint64_t scols = scale.shape[1];
    const auto &lut = e4m3_table();
    std::vector<float> out(rows * cols);
    for (uint64_t r = 0; r < rows; r++) {
        const float *srow = s.data() + (r / kFp8Block) * scols;
        const uint8_t *q = w.data + r * cols;
        float *dst = out.data() + r * cols;
        for (uint64_t c0 = 0; c0 < cols; c0 += kFp8Block) {
            const float sc = srow[c0 / kFp8Block];
            const uint64_t c1 = std::min(cols, c0 + kFp8Block);  // the last block may be partial
            for (uint64_t c = c0; c < c1; c++) dst[c] = lut[q[c]] * sc;
        }
    }
    return out;
}

std::vector<float> dequantize_fp4_packed(const StTensor &w, const StTensor &scale) {
    const std::vector<uint64_t> shape = check_fp4(w, scale);
    const std::vector<float> s = scale_values(scale);
    const uint64_t rows = shape[0], cols = shape[1], packed = w.shape[1];
    const uint64_t scols = scale.shape[1];
    std::vector<float> out(rows * cols);
    for (uint64_t r = 0; r < rows; r++) {
        const float *srow = s.data() + r * scols;
        const uint8_t *q = w.data + r * packed;
        float *dst = out.data() + r * cols;
        for (uint64_t j = 0; j < packed; j++) {
            // Columns 2j and 2j+1 lie in the same 32-wide block (32 is even).
            const float sc = srow[(2 * j) / kFp4Block];
            dst[2 * j] = kE2m1[q[j] & 0x0f] * sc;
            dst[2 * j + 1] = kE2m1[q[j] >> 4] * sc;
        }
    }
    return out;
}

// ---- checkpoint weights ----

std::vector<std::string> scale_names_for(const std::string &weight_name) {
    const std::string prefix =
        ends_with(weight_name, ".weight") ? weight_name.substr(0, weight_name.size() - 7) : weight_name;
    return {prefix + ".scale", prefix + ".weight_scale_inv"};
}

WeightInfo describe_weight(const Checkpoint &ck, const std::string &weight_name) {
    const char *n = weight_name.c_str();
    WeightInfo info;
    info.weight = ck.find(weight_name);
    if (!info.weight) fail("%s: tensor not found in checkpoint '%s'", n, ck.dir().c_str());
    const StTensor &w = *info.weight;

    const std::vector<std::string> names = scale_names_for(weight_name);
    const StTensor *s0 = ck.find(names[0]);
    const StTensor *s1 = ck.find(names[1]);
    if (s0 && s1) fail("%s: both '%s' and '%s' exist; which scale applies is ambiguous", n, names[0].c_str(), names[1].c_str());
    info.scale = s0 ? s0 : s1;

    switch (w.dtype) {
    case StDtype::F8_E4M3:
        if (!info.scale) fail("%s: F8_E4M3 weight without a scale tensor ('%s' not found)", n, names[0].c_str());
        check_fp8(w, *info.scale);
        info.encoding = WeightEncoding::Fp8Block;
        info.shape = w.shape;
        break;
    case StDtype::I8:
        // Only packed FP4 stores weights as I8; decoding the codes as integers would be garbage.
        if (!info.scale)
            fail("%s: I8 (packed FP4) weight without a scale tensor ('%s' not found)", n, names[0].c_str());
        info.encoding = WeightEncoding::Fp4Packed;
        info.shape = check_fp4(w, *info.scale);
        break;
    default:
        if (info.scale)
            fail("%s: %s weight has a scale tensor '%s'; only F8_E4M3 (FP8) and I8 (packed FP4) weights are "
                 "block-scaled",
                 n, st_dtype_name(w.dtype), info.scale->name.c_str());
        info.encoding = WeightEncoding::Plain;
        info.shape = w.shape;
        break;
    }
    return info;
}

bool is_companion_scale(const Checkpoint &ck, const std::string &name) {
    std::string prefix;
    if (ends_with(name, ".weight_scale_inv"))
        prefix = name.substr(0, name.size() - 17);
    else if (ends_with(name, ".scale"))
        prefix = name.substr(0, name.size() - 6);
    else
        return false;
    for (const std::string &candidate : {prefix + ".weight", prefix}) {
        const StTensor *w = ck.find(candidate);
        if (w && (w->dtype == StDtype::F8_E4M3 || w->dtype == StDtype::I8)) return true;
    }
    return false;
}

std::vector<float> load_weight_f32(const Checkpoint &ck, const std::string &weight_name,
                                   std::vector<uint64_t> *shape_out) {
    const WeightInfo info = describe_weight(ck, weight_name);
    if (shape_out) *shape_out = info.shape;
    switch (info.encoding) {
    case WeightEncoding::Fp8Block: return dequantize_fp8_blocks(*info.weight, *info.scale);
    case WeightEncoding::Fp4Packed: return dequantize_fp4_packed(*info.weight, *info.scale);
    case WeightEncoding::Plain: break;
    }
    return to_f32(*info.weight);
}

}  // namespace dstar::convert
