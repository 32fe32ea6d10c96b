// Internal to the quantizers (quantize*.cpp): the per-block functions behind quantize_rows
// and the small vector toolkit their inner loops share.
#pragma once

#include <cstdint>
#include <cstring>

#include "quant/blocks.h"

namespace dstar::quant {

namespace detail {

// Per-block quantizers behind quantize_rows (quantize_*.cpp).  `x` is one block of finite
// floats, `w` its effective weights (positive, see block_weights) or nullptr for uniform.
void quantize_block_q8_0(const float *x, const float *w, BlockQ8_0 *y);
void quantize_block_q2_k(const float *x, const float *w, BlockQ2_K *y);
void quantize_block_q4_k(const float *x, const float *w, BlockQ4_K *y);

// IQ2_XXS needs 64 KiB of scratch per call (per-group candidate tables); the caller
// allocates it once per row batch so the block function stays allocation-free.
constexpr uint64_t kIq2xxsScratchFloats = 2 * 32 * 256;
void quantize_block_iq2_xxs(const float *x, const float *w, BlockIQ2_XXS *y, float *scratch);

// Turns `n` importance values into strictly positive weights in `w` and returns w, or
// returns nullptr (uniform) when `imp` is nullptr or sums to zero.  A small floor (1e-6 of
// the block's mean) keeps zero-importance columns from leaving a sub-block's scale
// undetermined; it changes the optimum negligibly.
const float *block_weights(const float *imp, int n, float *w);

// The quantizers' hot functions are compiled twice on x86-64 with GCC (baseline SSE2 and
// AVX2; the CPU picks at load time).  Every operation in them is element-wise IEEE
// arithmetic, an exact min/max or a fixed-order sum, so both versions give the same bits
// (QuantizeGolden in tests/quant/quantize_test.cpp pins them; building with
// -DDSTAR_NO_TARGET_CLONES gives the baseline-only version to compare).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__) && \
    !defined(DSTAR_NO_TARGET_CLONES)
#define DSTAR_QUANT_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define DSTAR_QUANT_CLONES
#endif
// Helpers of cloned functions must be inlined into them to get compiled for each target.
#define DSTAR_QUANT_INLINE [[gnu::always_inline]] inline

// Largest finite f16: stored scales are clamped to it so they never become infinite.
constexpr float kMaxHalf = 65504.0f;

// Round to nearest, ties to even, for |v| < 2^22 (adding 1.5 * 2^23 leaves no fraction
// bits).  Unlike nearbyintf it vectorises on every x86-64 and never calls libm.
constexpr float kRoundMagic = 12582912.0f;
inline float round_even(float v) { return (v + kRoundMagic) - kRoundMagic; }

// Four-lane GCC/Clang vector extensions for the quantizers' inner loops: exact element-wise
// IEEE arithmetic in the target's SIMD registers (SSE on baseline x86-64, NEON on arm64).
// Reductions keep per-lane partial sums and add the lanes in a fixed order, so results do
// not depend on the compiler's choices.  Four lanes is the width every 64-bit target has,
// so no function's ABI depends on optional extensions.
typedef float f32x4 __attribute__((vector_size(16)));
typedef int32_t i32x4 __attribute__((vector_size(16)));

inline f32x4 load4(const float *p) {
    f32x4 v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
inline void store4(float *p, f32x4 v) { std::memcpy(p, &v, sizeof v); }
inline f32x4 splat4(float s) { return f32x4{s, s, s, s}; }
// mask ? a : b lane by lane (mask lanes all ones or all zeros, as comparisons give); min4 /
// max4 compile to single minps / maxps.
inline f32x4 select4(i32x4 mask, f32x4 a, f32x4 b) { return mask ? a : b; }
inline i32x4 select4(i32x4 mask, i32x4 a, i32x4 b) { return mask ? a : b; }
inline f32x4 min4(f32x4 a, f32x4 b) { return a < b ? a : b; }
inline f32x4 max4(f32x4 a, f32x4 b) { return a > b ? a : b; }
inline float hsum4(f32x4 v) { return (v[0] + v[1]) + (v[2] + v[3]); }

}  // namespace detail

}  // namespace dstar::quant
