// Activation quantization used inside matrix-vector products (ds4's CPU numerics).
//
// ds4 does not multiply float activations with quantized weights: before every Q8_0
// matvec it quantizes the activation to int8 per 32 values, and before every K-quant /
// IQ2 expert matvec to Q8_K per 256 values.  Reproducing this is part of matching ds4's
// logits; the rules below are exact (round half to even via lrintf, default rounding mode).
#pragma once

#include <cstdint>

#include "quant/blocks.h"

namespace dstar::quant {

// Q8_0 activation: for each block of 32 (the last block may be partial and is zero-padded
// to 32 in `q`): d = max|x| / 127, id = (d != 0 ? 1/d : 0), q = clamp(lrint(x*id), -128, 127).
// `q` must hold round_up(n, 32) bytes, `scale` ceil(n/32) floats.
void quantize_q8_0_act(const float *x, int8_t *q, float *scale, uint64_t n);

// Q8_K activation: n a multiple of 256.  Per block: M = the element of largest magnitude
// (first one on ties); M == 0 -> all zero, d = 0; else iscale = -127/M,
// q = clamp(lrint(iscale*x), -128, 127), d = 1/iscale, bsums = sums of 16.
void quantize_q8_k_act(const float *x, BlockQ8_K *y, uint64_t n);

}  // namespace dstar::quant
