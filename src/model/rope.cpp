#include "model/rope.h"

#include <cmath>
#include <vector>

namespace dstar::model {

namespace {

// YaRN correction dimension for rotation count `beta` (llama.cpp / ds4 formula).
float corr_dim(uint32_t n_rot, uint64_t n_ctx_orig, float beta, float base) {
    return static_cast<float>(n_rot) *
           logf(static_cast<float>(n_ctx_orig) / (beta * 2.0f * static_cast<float>(M_PI))) / (2.0f * logf(base));
}

float ramp(float lo, float hi, uint32_t pair) {
    const float y = (static_cast<float>(pair) - lo) / fmaxf(0.001f, hi - lo);
    return 1.0f - fminf(1.0f, fmaxf(0.0f, y));
}

}  // namespace

RopeParams rope_params(const ModelConfig &c, uint32_t layer, bool mtp) {
    RopeParams p;
    p.n_rot = c.n_rot;
    const bool compressed = !mtp && c.ratio(layer) != 0;
    p.freq_base = compressed ? c.compress_rope_base : c.rope_base;
    p.freq_scale = compressed ? 1.0f / c.rope_scale : 1.0f;
    p.ext_factor = compressed && c.rope_scale > 1.0f ? 1.0f : 0.0f;
    p.attn_factor = 1.0f;
    if (p.ext_factor != 0.0f) {
        // The YaRN helper multiplies by (1 + 0.1 ln(1/freq_scale)); DeepSeek V4 has no
        // magnitude scaling, so pass the inverse and let it cancel (as ds4 does).
        p.attn_factor /= 1.0f + 0.1f * logf(1.0f / p.freq_scale);
        const float start = floorf(corr_dim(c.n_rot, c.rope_orig_ctx, c.yarn_beta_fast, p.freq_base));
        const float end = ceilf(corr_dim(c.n_rot, c.rope_orig_ctx, c.yarn_beta_slow, p.freq_base));
        p.corr_lo = fmaxf(0.0f, start);
        p.corr_hi = fminf(static_cast<float>(c.n_rot - 1), end);
    }
    p.theta_scale = powf(p.freq_base, -2.0f / static_cast<float>(c.n_rot));
    return p;
}

void RopeParams::angles(uint32_t pos, bool inverse, float *cs) const {
    const float sin_sign = inverse ? -1.0f : 1.0f;
    float theta_extrap = static_cast<float>(pos);
    for (uint32_t j = 0; j < n_rot / 2; j++) {
        const float theta_interp = freq_scale * theta_extrap;
        float theta = theta_interp;
        float mscale = attn_factor;
        if (ext_factor != 0.0f) {
            const float ramp_mix = ramp(corr_lo, corr_hi, j) * ext_factor;
            theta = theta_interp * (1.0f - ramp_mix) + theta_extrap * ramp_mix;
            mscale *= 1.0f + 0.1f * logf(1.0f / freq_scale);
        }
        cs[2 * j] = cosf(theta) * mscale;
        cs[2 * j + 1] = sin_sign * sinf(theta) * mscale;
        theta_extrap *= theta_scale;
    }
}

float RopeParams::frequency(uint32_t j) const {
    const float f0 = powf(freq_base, -2.0f * static_cast<float>(j) / static_cast<float>(n_rot));
    if (ext_factor == 0.0f) return f0 * freq_scale;
    const float g = ramp(corr_lo, corr_hi, j);
    return f0 * (g + (1.0f - g) * freq_scale);
}

void rope_tail(float *x, uint32_t n_head, uint32_t head_dim, const RopeParams &p, uint32_t pos, bool inverse) {
    float cs[2 * 128];
    std::vector<float> big;
    float *t = cs;
    if (p.n_rot > 2 * 128) {
        big.resize(p.n_rot);
        t = big.data();
    }
    p.angles(pos, inverse, t);
    const uint32_t n_nope = head_dim - p.n_rot;
    for (uint32_t h = 0; h < n_head; h++) {
        float *tail = x + static_cast<uint64_t>(h) * head_dim + n_nope;
        for (uint32_t j = 0; j < p.n_rot / 2; j++) {
            const float c = t[2 * j], s = t[2 * j + 1];
            const float x0 = tail[2 * j], x1 = tail[2 * j + 1];
            tail[2 * j] = x0 * c - x1 * s;
            tail[2 * j + 1] = x0 * s + x1 * c;
        }
    }
}

}  // namespace dstar::model
