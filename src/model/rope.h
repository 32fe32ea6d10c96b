// Rotary position embedding parameters per layer (model.md §3.0 "RoPE").
//
// Only the last n_rot dims of a head rotate, as adjacent pairs.  Raw-window layers use the
// plain base; compressed layers use compress_rope_freq_base with the YaRN frequency blend
// and no net magnitude change.  The parameters keep ds4's exact float recipe (angles built
// by repeated multiplication, the YaRN helper's cancelling magnitude factor) so that the CPU
// reference reproduces ds4's bits.
#pragma once

#include <cstdint>

#include "model/config.h"

namespace dstar::model {

struct RopeParams {
    float freq_base = 10000.0f;
    float freq_scale = 1.0f;    // 1/scale_factor on YaRN layers, else 1
    float ext_factor = 0.0f;    // 1 on YaRN layers
    float attn_factor = 1.0f;   // cancels the YaRN helper's magnitude factor
    float corr_lo = 0.0f, corr_hi = 0.0f;
    float theta_scale = 1.0f;   // freq_base^(-2/n_rot)
    uint32_t n_rot = 64;

    // cos/sin of pair j at position pos, written to cs[2*j], cs[2*j+1] (n_rot/2 pairs),
    // including the magnitude factor; `inverse` negates the sine.
    void angles(uint32_t pos, bool inverse, float *cs) const;
    // Frequency of pair j (radians per position) for documentation/tests and GPU tables.
    float frequency(uint32_t j) const;
};

// Parameters of layer `layer`; `mtp` selects the MTP block (plain base, no YaRN).
RopeParams rope_params(const ModelConfig &c, uint32_t layer, bool mtp = false);

// Rotates the tail (last n_rot dims) of `n_head` heads of `head_dim` floats at `x`.
void rope_tail(float *x, uint32_t n_head, uint32_t head_dim, const RopeParams &p, uint32_t pos, bool inverse);

}  // namespace dstar::model
