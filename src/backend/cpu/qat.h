// The model's quantization-aware-training simulations (model.md §3.0), CPU reference.
// These are part of the model's math, not an implementation shortcut: the checkpoint was
// trained with them.  Exact recipes follow ds4 (ties, scale floors, evaluation order); the
// per-value arithmetic is shared with the CUDA kernels (backend/shared/qat_math.h).
#pragma once

#include <cstdint>

namespace dstar::backend::cpu {

// FP8SIM64 on the first n_nope values of a row: per 64-block, power-of-two scale rounded up.
void fp8_round_row(float *x, uint32_t n_nope);
// FP4SIM32 on n values (n a multiple of 32).
void fp4_round_row(float *x, uint32_t n);
// In-place Hadamard transform of 128 values (Sylvester order, scaled by 1/sqrt(128)).
void hadamard128(float *x);
// Indexer QAT of one 128-value row: Hadamard then FP4.
void indexer_qat_row(float *x);

}  // namespace dstar::backend::cpu
