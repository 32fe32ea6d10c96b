// Quantization of float weights into GGUF block formats (synthetic files, converters).
#pragma once

#include <cstdint>

namespace dstar::quant {

// Round-to-nearest Q8_0: per 32 values d = max|x| / 127 (stored as f16), q = round(x / d).
// `n` must be a multiple of 32; writes n/32 blocks of 34 bytes to `out`.
void quantize_row_q8_0(const float *x, void *out, uint64_t n);

}  // namespace dstar::quant
