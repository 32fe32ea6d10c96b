// Small per-element CPU ops and the scalar functions they share.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "backend/backend.h"
#include "backend/shared/activation.h"
#include "common/thread_pool.h"

namespace dstar::backend::cpu {

// The scalar activations shared with the CUDA kernels.
using shared::clamped_swiglu;
using shared::sigmoid_stable;
using shared::silu;
using shared::softplus_stable;

// RMS normalisation of `rows` rows of `dim` values; sum of squares in double.
// out = x * (1/sqrt(mean + eps)) [* w].  `w` may be null.
void rms_norm(ThreadPool &pool, float *out, const float *x, const float *w, uint32_t rows, uint32_t dim, float eps);
void rms_norm_row(float *out, const float *x, const float *w, uint64_t dim, float eps);

void embed(ThreadPool &pool, const Weight &tok_embd, const int32_t *tokens, uint32_t n, uint32_t n_hc, float *x_hc);
void swiglu(float *out, const float *g, const float *u, size_t n, float clamp);

}  // namespace dstar::backend::cpu
