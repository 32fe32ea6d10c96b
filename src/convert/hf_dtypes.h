// Hugging Face checkpoint element types to f32 / i32, including the block-scaled FP8 and
// packed FP4 weights of the official DeepSeek V4 checkpoint.  Every conversion is exact
// (F64 and large integers round to the nearest f32); each returns one tensor's values, never
// more, so a converter can stream a checkpoint tensor by tensor.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "convert/safetensors.h"

namespace dstar::convert {

// OCP E4M3FN: sign, 4 exponent bits (bias 7), 3 mantissa bits, no infinities, max 448,
// subnormals m * 2^-9.  The NaN codes 0x7f / 0xff both decode to +0.0f, as DeepSeek's own
// converters do: a quantizer never emits them (it saturates at +-448), and should one appear,
// a zero weight is harmless where a NaN would poison every activation it touches.
float e4m3fn_to_f32(uint8_t code);

// OCP UE8M0 (unsigned power of two): 2^(code - 127).  Code 0 is 2^-127 (an f32 subnormal,
// exact); code 255 is NaN in the spec and is returned as NaN here -- the scale readers below
// reject it instead of using it.
float e8m0_to_f32(uint8_t code);

// OCP E2M1 (FP4) 4-bit code: bit 3 = sign, magnitudes {0, 0.5, 1, 1.5, 2, 3, 4, 6}.
// Only the low 4 bits of `code` are used.
float e2m1_to_f32(uint8_t code);

// Element values as f32: F32, F16, BF16, F64 (rounded to nearest), F8_E4M3 (unscaled codes),
// F8_E8M0 (powers of two; 255 rejected), I8/I16/I32/I64/U8 as numbers (|v| > 2^24 rounds to
// nearest), BOOL as 0/1.  Throws Error naming the tensor if its byte size does not match.
std::vector<float> to_f32(const StTensor &t);

// Integer values for I64/I32/I16/I8/U8 tensors (e.g. the hash-routing table `tid2eid`);
// Error naming the tensor and the element if one is outside the int32 range, or for a
// non-integer dtype.
std::vector<int32_t> to_i32(const StTensor &t);

// FP8 block-scaled weight: `w` F8_E4M3 [out, in], `scale` [ceil(out/128), ceil(in/128)] of
// F8_E8M0 (V4 `.scale`) or F32/BF16/F16 (V3 `.weight_scale_inv`):
//   w[o][i] = e4m3(q[o][i]) * scale[o/128][i/128].
// Dimensions need not be multiples of 128: the last block row/column is partial, which is how
// DeepSeek's own dequantization kernels index it.  Returns [out, in] row-major.
inline constexpr uint64_t kFp8Block = 128;
std::vector<float> dequantize_fp8_blocks(const StTensor &w, const StTensor &scale);

// Packed FP4 weight: `w` I8 [out, in/2], two E2M1 codes a byte (low nibble = even column,
// high nibble = odd column); `scale` F8_E8M0 [out, ceil(in/32)]:
//   w[o][i] = e2m1(code[o][i]) * scale[o][i/32].
// Returns [out, in] row-major (in = 2 x the stored column count).
inline constexpr uint64_t kFp4Block = 32;
std::vector<float> dequantize_fp4_packed(const StTensor &w, const StTensor &scale);

// How a checkpoint weight is stored.
enum class WeightEncoding { Plain, Fp8Block, Fp4Packed };

struct WeightInfo {
    WeightEncoding encoding = WeightEncoding::Plain;
    const StTensor *weight = nullptr;
    const StTensor *scale = nullptr;  // the companion scale; nullptr for Plain
    std::vector<uint64_t> shape;      // logical shape after dequantization ([out, in] for FP4)
};

// The companion scale names tried for a weight: `<prefix>.scale` and
// `<prefix>.weight_scale_inv`, where prefix is the name without its ".weight" suffix.
std::vector<std::string> scale_names_for(const std::string &weight_name);

// Classifies `weight_name` without reading its data (a converter needs every shape before it
// writes the GGUF header):
//   F8_E4M3 + scale -> Fp8Block; I8 + F8_E8M0 scale -> Fp4Packed; float/int types without a
//   scale -> Plain.
// Error naming the tensor for: a missing tensor, F8_E4M3 or I8 without a scale, both scale
// names present, a scale on any other dtype, a scale of the wrong dtype or shape.
WeightInfo describe_weight(const Checkpoint &ck, const std::string &weight_name);

// True if `name` is the companion scale of a block-scaled weight in `ck` (so a converter can
// skip it when it walks the tensor list).
bool is_companion_scale(const Checkpoint &ck, const std::string &name);

// One weight as f32 values (dequantized if block-scaled), shape as describe_weight gives it.
// `shape_out`, if given, receives the logical shape.
std::vector<float> load_weight_f32(const Checkpoint &ck, const std::string &weight_name,
                                   std::vector<uint64_t> *shape_out = nullptr);

}  // namespace dstar::convert
