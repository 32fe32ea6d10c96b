// IQ2_XXS quantizer (layout and sign/grid scheme: shared/spec/quants.md 5.4).
//
// A weight decodes as s_j * GRID[e][k] * sign, with s_j = d * (2 ls_j + 1) / 8 per 32-weight
// sub-block j, one of 256 magnitude patterns e per 8 weights and an even number of negative
// signs per 8.
//
// For one group of 8 weights with weights w_i, a scale s and a grid entry e, the best signs
// are those of x, except that an odd count of negatives forces one sign flip; flipping
// weight i costs 4 s w_i |x_i| mag_i(e), so the cheapest flip is the smallest w_i |x_i| mag_i.
// The group's weighted error is therefore exactly
//     C - 2 s P(e) + s^2 B(e),   P(e) = sum_i w_i |x_i| mag_i(e) - [odd] 2 min_i w_i |x_i| mag_i(e),
//                                B(e) = sum_i w_i mag_i(e)^2,
// with P and B independent of s.  They are computed once per group (256 entries, vector
// loops), after which the best entry for any scale is one argmax of 2P(e) - s B(e): the
// grid search is exhaustive and exact, parity included, and a scale costs ~3 flops/entry.
//
// The scales: each sub-block first gets its own best continuous scale (a sweep of candidate
// scales relative to its largest |x|, then one least-squares update s = sum P / sum B for the
// entries chosen there).  d is then chosen between max_j s_j * 8/31 (the largest sub-block
// using ls = 15) and 4 % less, each sub-block taking the better of the two odd multiples
// (2 ls + 1)/8 around its own scale; least-squares updates of d over the whole block are
// kept while they lower the error.  (Wider sweeps and more d candidates were measured to
// gain < 0.05 % relative RMS on Gaussian rows for twice the time.)
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "common/fp16.h"
#include "quant/dequant.h"
#include "quant/quantize_detail.h"

namespace dstar::quant::detail {

namespace {

constexpr int kEntries = 256;
constexpr int kGroups = kQK_K / 8;  // 32 groups of 8 weights
constexpr int kSubs = kQK_K / 32;   // 8 sub-blocks of 4 groups
constexpr float kTop = 43.0f;       // largest grid magnitude

struct Iq2Tables {
    alignas(32) float mag[8][kEntries];  // mag[k][e]: magnitude of weight k in grid entry e
    alignas(32) float mag2[8][kEntries];
    alignas(32) float sum_mag2[kEntries];  // B(e) for uniform weights
};

const Iq2Tables &tables() {
    static const Iq2Tables t = [] {
        Iq2Tables r{};
        for (int e = 0; e < kEntries; e++) {
            r.sum_mag2[e] = 0.0f;
            for (int k = 0; k < 8; k++) {
                const float m = static_cast<float>((kIq2xxsGrid[e] >> (8 * k)) & 0xff);
                r.mag[k][e] = m;
                r.mag2[k][e] = m * m;
                r.sum_mag2[e] += m * m;
            }
        }
        return r;
    }();
    return t;
}

// The hot loops use 8-lane vectors (two 4-lane operations each on baseline SSE2; one with
// the AVX2 clone, see DSTAR_QUANT_CLONES).  The vectors never cross a function boundary
// outside this file, so GCC's note that 32-byte vector arguments have an AVX-dependent ABI
// does not apply.
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wunknown-warning-option"
#endif
#pragma GCC diagnostic ignored "-Wpsabi"

typedef float f32x8 __attribute__((vector_size(32)));

inline f32x8 load8(const float *p) {
    f32x8 v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
inline void store8(float *p, f32x8 v) { std::memcpy(p, &v, sizeof v); }
inline f32x8 splat8(float s) { return f32x8{s, s, s, s, s, s, s, s}; }
inline f32x8 min8(f32x8 a, f32x8 b) { return a < b ? a : b; }
inline f32x8 max8(f32x8 a, f32x8 b) { return a > b ? a : b; }

// 2 P(e) (and B(e) when weighted) of one group, see the file comment.  (Doubling is exact.)
DSTAR_QUANT_CLONES
void group_tables(const Iq2Tables &t, const float *x, const float *w, float *P2, float *B) {
    float u[8];
    bool odd = false;
    for (int k = 0; k < 8; k++) {
        u[k] = (w ? w[k] : 1.0f) * std::fabs(x[k]);
        odd ^= x[k] < 0.0f;
    }
    for (int e = 0; e < kEntries; e += 8) {
        f32x8 sum = splat8(u[0]) * load8(&t.mag[0][e]);
        f32x8 mn = sum;
        for (int k = 1; k < 8; k++) {
            const f32x8 p = splat8(u[k]) * load8(&t.mag[k][e]);
            sum += p;
            mn = min8(p, mn);
        }
        const f32x8 p = odd ? sum - (mn + mn) : sum;
        store8(P2 + e, p + p);
    }
    if (!w) return;
    for (int e = 0; e < kEntries; e += 8) {
        f32x8 b = splat8(w[0]) * load8(&t.mag2[0][e]);
        for (int k = 1; k < 8; k++) b += splat8(w[k]) * load8(&t.mag2[k][e]);
        store8(B + e, b);
    }
}

// max over e of 2P(e) - s B(e) for one group: its error at scale s is C - s * (this).  The
// two accumulators m[a] hold, lane l, the maximum over the entries 16k + 8a + l.
inline float max_lanes(const float *P2, const float *B, float s, f32x8 m[2]) {
    const f32x8 vs = splat8(s);
    m[0] = load8(P2) - vs * load8(B);
    m[1] = load8(P2 + 8) - vs * load8(B + 8);
    for (int e = 16; e < kEntries; e += 16) {
        m[0] = max8(m[0], load8(P2 + e) - vs * load8(B + e));
        m[1] = max8(m[1], load8(P2 + e + 8) - vs * load8(B + e + 8));
    }
    const f32x8 mm = max8(m[0], m[1]);
    float r = mm[0];
    for (int l = 1; l < 8; l++) r = std::max(r, mm[l]);
    return r;
}

// sum over the 4 groups of a sub-block (P2 and B[g] point at each group's tables) of
// max_e 2P(e) - s B(e).
DSTAR_QUANT_CLONES
float sub_value(const float *P2, const float *const *B, float s) {
    float v = 0.0f;
    for (int g = 0; g < 4; g++) {
        f32x8 m[2];
        v += max_lanes(P2 + kEntries * g, B[g], s, m);
    }
    return v;
}

// The entry achieving the maximum (the lowest index on ties): only the accumulator lanes
// that reached it are rescanned, with the same float expression.
DSTAR_QUANT_CLONES
int best_entry(const float *P2, const float *B, float s) {
    f32x8 m[2];
    const float target = max_lanes(P2, B, s, m);
    int best = kEntries;
    for (int a = 0; a < 2; a++) {
        for (int l = 0; l < 8; l++) {
            if (m[a][l] != target) continue;
            for (int e = 8 * a + l; e < best; e += 16) {
                if (P2[e] - s * B[e] == target) {
                    best = e;
                    break;
                }
            }
        }
    }
    return best < kEntries ? best : 0;  // always found for finite tables
}

struct Block {
    const Iq2Tables &t;
    const float *P2;          // [kGroups][kEntries]: 2 P(e)
    const float *B[kGroups];  // per group: its own table or t.sum_mag2

    // Error (less the constant sum w x^2) of sub-block j at scale s > 0.
    float sub_error(int j, float s) const { return -s * sub_value(P2 + 4 * kEntries * j, B + 4 * j, s); }
    // The best entries of sub-block j's groups at scale s.
    void sub_entries(int j, float s, uint8_t e[4]) const {
        for (int g = 0; g < 4; g++) {
            const int gi = 4 * j + g;
            e[g] = static_cast<uint8_t>(best_entry(P2 + kEntries * gi, B[gi], s));
        }
    }
    // sum P and sum B of sub-block j's given entries (its least-squares scale is P/B).
    void sub_sums(int j, const uint8_t e[4], float *sp, float *sb) const {
        float p2 = 0.0f, b = 0.0f;
        for (int g = 0; g < 4; g++) {
            const int gi = 4 * j + g;
            p2 += P2[kEntries * gi + e[g]];
            b += B[gi][e[g]];
        }
        *sp = 0.5f * p2;
        *sb = b;
    }
};

// The scale the decoder applies: (d * (0.5 + ls)) * 0.25.
inline float sub_scale(float d, int ls) { return d * (0.5f + static_cast<float>(ls)) * 0.25f; }

// Candidate factors of max|x| / 43 for a sub-block's own scale sweep: around the largest |x|
// on the largest magnitude, plus it on the middle (25) and smallest (8) magnitude, which
// wins for flat sub-blocks (a constant is exactly 8 s with the all-8 entry).
constexpr float kScaleSweep[] = {0.62f, 0.72f, 0.82f, 0.92f, 1.02f, 1.14f, 43.0f / 25.0f, 43.0f / 8.0f};
// Candidate factors of d around max_j s_j * 8 / 31.
constexpr float kDSweep[] = {1.0f, 0.96f};

struct Choice {
    float d = 0.0f;
    int ls[kSubs] = {};
    uint8_t e[kGroups] = {};
    float err = 0.0f;
};

// For a fixed d: each sub-block's better ls of the two around its own scale s_own[j] (entries
// are not filled in: only the winning d needs them).
void choose_ls(const Block &blk, float d, const float *s_own, Choice *c) {
    c->d = d;
    c->err = 0.0f;
    for (int j = 0; j < kSubs; j++) {
        const float t = (s_own[j] * 8.0f / d - 1.0f) * 0.5f;  // ls with s_j == s_own
        const int lo = std::clamp(static_cast<int>(std::floor(std::min(t, 15.0f))), 0, 15);
        const int hi = std::min(lo + 1, 15);
        float best = blk.sub_error(j, sub_scale(d, lo));
        c->ls[j] = lo;
        if (hi != lo) {
            const float err = blk.sub_error(j, sub_scale(d, hi));
            if (err < best) {
                best = err;
                c->ls[j] = hi;
            }
        }
        c->err += best;
    }
}

void fill_entries(const Block &blk, Choice *c) {
    for (int j = 0; j < kSubs; j++) blk.sub_entries(j, sub_scale(c->d, c->ls[j]), c->e + 4 * j);
}

}  // namespace

void quantize_block_iq2_xxs(const float *x, const float *w, BlockIQ2_XXS *y, float *scratch) {
    const Iq2Tables &t = tables();
    std::memset(y, 0, sizeof *y);
    float amax = 0.0f;
    for (int i = 0; i < kQK_K; i++) amax = std::max(amax, std::fabs(x[i]));
    if (!(amax > 0.0f)) return;  // d = 0: decodes to exact zeros

    Block blk{t, scratch, {}};
    for (int g = 0; g < kGroups; g++) {
        float *B = scratch + kEntries * (kGroups + g);
        group_tables(t, x + 8 * g, w ? w + 8 * g : nullptr, scratch + kEntries * g, B);
        blk.B[g] = w ? B : t.sum_mag2;
    }

    // Each sub-block's own best continuous scale.
    float s_own[kSubs];
    float s_max = 0.0f;
    for (int j = 0; j < kSubs; j++) {
        float xmax = 0.0f;
        for (int i = 32 * j; i < 32 * j + 32; i++) xmax = std::max(xmax, std::fabs(x[i]));
        s_own[j] = 0.0f;
        if (!(xmax > 0.0f)) continue;
        const float s0 = xmax / kTop;
        float best = std::numeric_limits<float>::infinity();
        for (float f : kScaleSweep) {
            const float s = s0 * f;
            const float err = blk.sub_error(j, s);
            if (err < best) {
                best = err;
                s_own[j] = s;
            }
        }
        // One least-squares update for the entries chosen at the best sweep scale.
        uint8_t e[4];
        blk.sub_entries(j, s_own[j], e);
        float sp, sb;
        blk.sub_sums(j, e, &sp, &sb);
        if (sp > 0.0f && sb > 0.0f && blk.sub_error(j, sp / sb) < best) s_own[j] = sp / sb;
        s_max = std::max(s_max, s_own[j]);
    }

    // The block scale d.
    Choice best;
    bool have = false;
    const float d0 = s_max * 8.0f / 31.0f;
    for (float f : kDSweep) {
        const float d = f16_round(std::min(d0 * f, kMaxHalf));
        if (!(d > 0.0f)) continue;
        Choice c;
        choose_ls(blk, d, s_own, &c);
        if (!have || c.err < best.err) {
            best = c;
            have = true;
        }
    }
    if (!have) return;  // scales below the f16 range: zeros are the closest representable
    fill_entries(blk, &best);
    for (int iter = 0; iter < 2; iter++) {
        float num = 0.0f, den = 0.0f;
        for (int j = 0; j < kSubs; j++) {
            float sp, sb;
            blk.sub_sums(j, best.e + 4 * j, &sp, &sb);
            const float c = (0.5f + static_cast<float>(best.ls[j])) * 0.25f;
            num += c * sp;
            den += c * c * sb;
        }
        if (!(num > 0.0f && den > 0.0f)) break;
        const float d = f16_round(std::min(num / den, kMaxHalf));
        if (!(d > 0.0f) || d == best.d) break;
        Choice c = best;
        c.d = d;
        c.err = 0.0f;
        for (int j = 0; j < kSubs; j++) c.err += blk.sub_error(j, sub_scale(d, c.ls[j]));
        if (!(c.err < best.err)) break;
        best = c;
        fill_entries(blk, &best);
    }

    // Encode.  Signs: those of x, plus the cheapest flip where the count of negatives is odd.
    y->d = f32_to_f16(best.d);
    auto *bytes = reinterpret_cast<uint8_t *>(y->qs);
    for (int j = 0; j < kSubs; j++) {
        uint32_t word = static_cast<uint32_t>(best.ls[j]) << 28;
        for (int g = 0; g < 4; g++) {
            const int gi = 4 * j + g;
            const int e = best.e[gi];
            const float *xg = x + 8 * gi;
            const float *wg = w ? w + 8 * gi : nullptr;
            uint32_t neg = 0;
            int flip = 0;
            float flip_cost = std::numeric_limits<float>::infinity();
            for (int k = 0; k < 8; k++) {
                if (xg[k] < 0.0f) neg |= 1u << k;
                const float cost = (wg ? wg[k] : 1.0f) * std::fabs(xg[k]) * t.mag[k][e];
                if (cost < flip_cost) {
                    flip_cost = cost;
                    flip = k;
                }
            }
            if (__builtin_popcount(neg) & 1) neg ^= 1u << flip;
            bytes[8 * j + g] = static_cast<uint8_t>(e);
            word |= (neg & 127u) << (7 * g);  // bit 7 is implied by the (now even) parity
        }
        std::memcpy(bytes + 8 * j + 4, &word, 4);
    }
}

}  // namespace dstar::quant::detail
