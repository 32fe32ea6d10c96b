// Q2_K and Q4_K quantizers (layouts: shared/spec/quants.md 5.2, 5.3).
//
// Both formats reconstruct a weight as  (d * sc_j) * q - (dmin * m_j)  with an unsigned code
// q (2 or 4 bits), per sub-block integer scale sc_j and min m_j (4 or 6 bits), and f16 super-
// block factors d, dmin.  The search, per 256-weight block:
//  1. Each sub-block gets a continuous affine fit x ~ a*q - m (a >= 0, m >= 0): candidate
//     steps a = range / (nmax + r) over the sub-block's range [min(x, 0), max x], codes by
//     rounding, then the weighted least-squares (a, m) for those codes; the best candidate,
//     re-coded once and refitted, wins.
//  2. d = max a / smax and dmin = max m / smax (f16), and each sub-block's integers are the
//     floor/ceil of a/d and m/dmin whose re-coded weighted error is lowest.
//  3. (d, dmin) are re-fitted by least squares over the whole block for those integers and
//     codes, and step 2's integer choice is redone; kept while the block error drops.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "common/fp16.h"
#include "quant/quantize_detail.h"

namespace dstar::quant::detail {

namespace {

// Below this range a sub-block is treated as constant: 1/range would overflow, and such
// values are far below what an f16 scale times a small integer can represent anyway.
constexpr float kTinyRange = 1e-30f;

inline f32x4 round4(f32x4 v) { return (v + splat4(kRoundMagic)) - splat4(kRoundMagic); }

// Weighted squared error of the reconstruction dl*q - ml with the best codes
// q = clamp(round((x + ml) / dl), 0, nmax); dl <= 0 means all codes 0.
template <int N>
DSTAR_QUANT_INLINE float codes_error(const float *x, const float *w, float dl, float ml, int nmax) {
    f32x4 err = splat4(0.0f);
    const f32x4 vml = splat4(ml);
    if (!(dl > 0.0f)) {
        for (int i = 0; i < N; i += 4) {
            const f32x4 diff = -vml - load4(x + i);
            err += load4(w + i) * diff * diff;
        }
        return hsum4(err);
    }
    const f32x4 vdl = splat4(dl), vidl = splat4(1.0f / dl), fmax = splat4(static_cast<float>(nmax));
    const f32x4 zero = splat4(0.0f);
    for (int i = 0; i < N; i += 4) {
        const f32x4 xi = load4(x + i);
        const f32x4 l = round4(min4(max4((xi + vml) * vidl, zero), fmax));
        const f32x4 diff = vdl * l - vml - xi;
        err += load4(w + i) * diff * diff;
    }
    return hsum4(err);
}

// The codes of codes_error, as floats.
template <int N>
DSTAR_QUANT_INLINE void codes_store(const float *x, float dl, float ml, int nmax, float *q) {
    if (!(dl > 0.0f)) {
        std::fill(q, q + N, 0.0f);
        return;
    }
    const f32x4 vml = splat4(ml), vidl = splat4(1.0f / dl), fmax = splat4(static_cast<float>(nmax));
    const f32x4 zero = splat4(0.0f);
    for (int i = 0; i < N; i += 4) store4(q + i, round4(min4(max4((load4(x + i) + vml) * vidl, zero), fmax)));
}

// Weighted sums of a sub-block used by the affine least squares.
struct XSums {
    float w, x, xx;  // sum w, sum w x, sum w x^2
};
struct QSums {
    float q, qq, qx;  // sum w q, sum w q^2, sum w q x
};

// QSums of the codes min(round(xs * inv), nmax) where xs = x - lo >= 0, without storing them.
template <int N>
DSTAR_QUANT_INLINE QSums code_sums(const float *x, const float *xs, const float *w, float inv, int nmax) {
    f32x4 sq = splat4(0.0f), sqq = sq, sqx = sq;
    const f32x4 vinv = splat4(inv), fmax = splat4(static_cast<float>(nmax));
    for (int i = 0; i < N; i += 4) {
        const f32x4 l = round4(min4(load4(xs + i) * vinv, fmax));
        const f32x4 wl = load4(w + i) * l;
        sq += wl;
        sqq += wl * l;
        sqx += wl * load4(x + i);
    }
    return {hsum4(sq), hsum4(sqq), hsum4(sqx)};
}

struct AffineFit {
    float a;  // step (>= 0)
    float m;  // offset (>= 0): reconstruction a*q - m
};

// Weighted error of a*q - m from the sums (exact algebra; the float cancellation is far
// below the differences being compared).
inline float affine_error(const XSums &xs, const QSums &qs, float a, float m) {
    const float c = -m;
    return a * a * qs.qq + 2.0f * a * c * qs.q + c * c * xs.w - 2.0f * a * qs.qx - 2.0f * c * xs.x + xs.xx;
}

// Weighted least-squares (a, m) for fixed codes, with m >= 0 enforced.  False if the codes do
// not determine a positive step (all equal).
inline bool refit_affine(const XSums &xs, const QSums &qs, AffineFit *fit) {
    const float det = xs.w * qs.qq - qs.q * qs.q;
    if (!(det > 0.0f)) return false;
    float a = (xs.w * qs.qx - qs.q * xs.x) / det;
    float c = (qs.qq * xs.x - qs.q * qs.qx) / det;  // the constant term, -m
    if (c > 0.0f) {  // the format's offset only lowers the levels: fit through zero instead
        c = 0.0f;
        a = qs.qx / qs.qq;
    }
    if (!(a > 0.0f) || !std::isfinite(a) || !std::isfinite(c)) return false;
    fit->a = a;
    fit->m = -c;
    return true;
}

// Step 1 of the file comment for one sub-block of N weights and codes 0..nmax: candidate
// steps range / (nmax + r), a coarse sweep of r over [r_lo, r_hi] in n_coarse points, then
// four points at thirds of the coarse spacing around the best.
template <int N>
DSTAR_QUANT_INLINE AffineFit fit_sub_block(const float *x, const float *w, int nmax, float r_lo, float r_hi,
                                           int n_coarse) {
    f32x4 vlo = load4(x), vhi = vlo, sw = splat4(0.0f), sx = sw, sxx = sw;
    for (int i = 0; i < N; i += 4) {
        const f32x4 xi = load4(x + i), wi = load4(w + i);
        vlo = min4(vlo, xi);
        vhi = max4(vhi, xi);
        sw += wi;
        sx += wi * xi;
        sxx += wi * xi * xi;
    }
    // Levels start at -m <= 0, so the range always includes 0.
    const float lo = std::min(std::min(std::min(vlo[0], vlo[1]), std::min(vlo[2], vlo[3])), 0.0f);
    const float hi = std::max(std::max(vhi[0], vhi[1]), std::max(vhi[2], vhi[3]));
    const float range = hi - lo;
    if (!(range > kTinyRange)) return {0.0f, -lo};
    const XSums xs = {hsum4(sw), hsum4(sx), hsum4(sxx)};
    float xsh[N];  // x - lo >= 0
    for (int i = 0; i < N; i += 4) store4(xsh + i, load4(x + i) - splat4(lo));

    AffineFit best = {range / static_cast<float>(nmax), -lo};
    float best_err = std::numeric_limits<float>::infinity();
    float best_r = 0.0f;
    const auto try_r = [&](float r) {
        const QSums qs = code_sums<N>(x, xsh, w, (static_cast<float>(nmax) + r) / range, nmax);
        AffineFit fit;
        if (!refit_affine(xs, qs, &fit)) return;
        const float err = affine_error(xs, qs, fit.a, fit.m);
        if (err < best_err) {
            best_err = err;
            best = fit;
            best_r = r;
        }
    };
    const float dc = (r_hi - r_lo) / static_cast<float>(n_coarse - 1);
    for (int k = 0; k < n_coarse; k++) try_r(r_lo + dc * static_cast<float>(k));
    const float center = best_r;
    for (float f : {-2.0f / 3.0f, -1.0f / 3.0f, 1.0f / 3.0f, 2.0f / 3.0f}) try_r(center + f * dc);
    // One more round on the winner: re-code with its own levels and refit.
    float q[N];
    codes_store<N>(x, best.a, best.m, nmax, q);
    const float err = codes_error<N>(x, w, best.a, best.m, nmax);
    f32x4 sq = splat4(0.0f), sqq = sq, sqx = sq;
    for (int i = 0; i < N; i += 4) {
        const f32x4 l = load4(q + i), wl = load4(w + i) * l;
        sq += wl;
        sqq += wl * l;
        sqx += wl * load4(x + i);
    }
    const QSums qs = {hsum4(sq), hsum4(sqq), hsum4(sqx)};
    AffineFit fit;
    if (refit_affine(xs, qs, &fit) && affine_error(xs, qs, fit.a, fit.m) < err) best = fit;
    return best;
}

// The scales of one super-block and its weighted error (codes are recomputed from them).
template <int kNsub>
struct KState {
    float d = 0.0f, dmin = 0.0f;
    uint8_t sc[kNsub] = {}, mn[kNsub] = {};
    float err = 0.0f;
};

// Integer candidates around v / scale in [0, smax]: floor and ceil (one if equal or scale 0).
DSTAR_QUANT_INLINE int int_candidates(float v, float scale, int smax, int out[2]) {
    if (!(scale > 0.0f)) {
        out[0] = 0;
        return 1;
    }
    const float t = std::min(v / scale, static_cast<float>(smax));
    const int lo = static_cast<int>(std::floor(t));
    out[0] = std::clamp(lo, 0, smax);
    out[1] = std::clamp(lo + 1, 0, smax);
    return out[1] != out[0] ? 2 : 1;
}

// Step 2: for the given (d, dmin), each sub-block's best (sc, m) among floor/ceil candidates.
template <int kSub, int kNsub>
DSTAR_QUANT_INLINE void choose_ints(const float *x, const float *w, const AffineFit *fits, int nmax, int smax, float d,
                                    float dmin, KState<kNsub> *st) {
    st->d = d;
    st->dmin = dmin;
    st->err = 0.0f;
    for (int j = 0; j < kNsub; j++) {
        int sc_c[2], mn_c[2];
        const int nsc = int_candidates(fits[j].a, d, smax, sc_c);
        const int nmn = int_candidates(fits[j].m, dmin, smax, mn_c);
        float best = 0.0f;
        for (int a = 0; a < nsc; a++) {
            for (int b = 0; b < nmn; b++) {
                // The decoder's evaluation order: dl and ml first (quants.md 5.2 / 5.3).
                const float dl = d * static_cast<float>(sc_c[a]);
                const float ml = dmin * static_cast<float>(mn_c[b]);
                const float err = codes_error<kSub>(x + kSub * j, w + kSub * j, dl, ml, nmax);
                if ((a == 0 && b == 0) || err < best) {
                    best = err;
                    st->sc[j] = static_cast<uint8_t>(sc_c[a]);
                    st->mn[j] = static_cast<uint8_t>(mn_c[b]);
                }
            }
        }
        st->err += best;
    }
}

// The codes of a state, as floats.
template <int kSub, int kNsub>
DSTAR_QUANT_INLINE void state_codes(const float *x, const KState<kNsub> &st, int nmax, float *q) {
    for (int j = 0; j < kNsub; j++) {
        codes_store<kSub>(x + kSub * j, st.d * static_cast<float>(st.sc[j]), st.dmin * static_cast<float>(st.mn[j]),
                          nmax, q + kSub * j);
    }
}

// Step 3's least squares: x ~ d * (sc_j q) - dmin * m_j over the block.  False if singular.
template <int kSub, int kNsub>
DSTAR_QUANT_INLINE bool refit_super(const float *x, const float *w, const KState<kNsub> &st, const float *q, float *d,
                                    float *dmin) {
    f32x4 suu = splat4(0.0f), svv = suu, suv = suu, sux = suu, svx = suu;
    for (int j = 0; j < kNsub; j++) {
        const f32x4 v = splat4(static_cast<float>(st.mn[j])), sc = splat4(static_cast<float>(st.sc[j]));
        for (int i = kSub * j; i < kSub * (j + 1); i += 4) {
            const f32x4 wi = load4(w + i), xi = load4(x + i);
            const f32x4 u = sc * load4(q + i);
            const f32x4 wu = wi * u, wv = wi * v;
            suu += wu * u;
            svv += wv * v;
            suv += wu * v;
            sux += wu * xi;
            svx += wv * xi;
        }
    }
    const float uu = hsum4(suu), vv = hsum4(svv), uv = hsum4(suv), ux = hsum4(sux), vx = hsum4(svx);
    if (!(uu > 0.0f)) return false;
    float nd = ux / uu, nm = 0.0f;
    const float det = uu * vv - uv * uv;
    if (vv > 0.0f && det > 0.0f) {
        const float td = (ux * vv - uv * vx) / det;
        const float tm = (uv * ux - uu * vx) / det;
        if (tm >= 0.0f) {
            nd = td;
            nm = tm;
        }
    }
    if (!(nd > 0.0f) || !std::isfinite(nd) || !std::isfinite(nm)) return false;
    *d = f16_round(std::min(nd, kMaxHalf));
    *dmin = f16_round(std::min(nm, kMaxHalf));
    return true;
}

// Steps 1-3 for a super-block of kQK_K / kSub sub-blocks; the final codes go to q.
template <int kSub, int kNmax, int kSmax>
DSTAR_QUANT_INLINE KState<kQK_K / kSub> search_k(const float *x, const float *w_in, float r_lo, float r_hi,
                                                 int n_coarse, float *q) {
    constexpr int kNsub = kQK_K / kSub;
    KState<kNsub> st;
    std::fill(q, q + kQK_K, 0.0f);
    float amax = 0.0f;
    for (int i = 0; i < kQK_K; i++) amax = std::max(amax, std::fabs(x[i]));
    if (!(amax > 0.0f)) return st;  // all zero: every field 0 decodes to exact zeros

    // Uniform importance as explicit ones: one branch-free code path.
    float ones[kQK_K];
    if (!w_in) std::fill(ones, ones + kQK_K, 1.0f);
    const float *w = w_in ? w_in : ones;

    AffineFit fits[kNsub];
    float max_a = 0.0f, max_m = 0.0f;
    for (int j = 0; j < kNsub; j++) {
        fits[j] = fit_sub_block<kSub>(x + kSub * j, w + kSub * j, kNmax, r_lo, r_hi, n_coarse);
        max_a = std::max(max_a, fits[j].a);
        max_m = std::max(max_m, fits[j].m);
    }
    const float d = f16_round(std::min(max_a / static_cast<float>(kSmax), kMaxHalf));
    const float dmin = f16_round(std::min(max_m / static_cast<float>(kSmax), kMaxHalf));
    choose_ints<kSub, kNsub>(x, w, fits, kNmax, kSmax, d, dmin, &st);
    state_codes<kSub, kNsub>(x, st, kNmax, q);
    for (int iter = 0; iter < 3; iter++) {
        float nd, nm;
        if (!refit_super<kSub, kNsub>(x, w, st, q, &nd, &nm)) break;
        if (nd == st.d && nm == st.dmin) break;
        KState<kNsub> next;
        choose_ints<kSub, kNsub>(x, w, fits, kNmax, kSmax, nd, nm, &next);
        if (!(next.err < st.err)) break;
        st = next;
        state_codes<kSub, kNsub>(x, st, kNmax, q);
    }
    return st;
}

}  // namespace

DSTAR_QUANT_CLONES
void quantize_block_q2_k(const float *x, const float *w, BlockQ2_K *y) {
    float q[kQK_K];
    const auto st = search_k<16, 3, 15>(x, w, -1.0f, 1.0f, 7, q);
    std::memset(y, 0, sizeof *y);
    y->d = f32_to_f16(st.d);
    y->dmin = f32_to_f16(st.dmin);
    for (int j = 0; j < 16; j++) y->scales[j] = static_cast<uint8_t>(st.sc[j] | (st.mn[j] << 4));
    // Element i = 128h + 32j + l sits in bits 2j of qs[32h + l] (quants.md 5.2).
    for (int i = 0; i < kQK_K; i++) {
        const int h = i / 128, j = (i % 128) / 32, l = i % 32;
        y->qs[32 * h + l] = static_cast<uint8_t>(y->qs[32 * h + l] | (static_cast<int>(q[i]) << (2 * j)));
    }
}

DSTAR_QUANT_CLONES
void quantize_block_q4_k(const float *x, const float *w, BlockQ4_K *y) {
    float q[kQK_K];
    const auto st = search_k<32, 15, 63>(x, w, -3.0f, 1.0f, 9, q);
    y->d = f32_to_f16(st.d);
    y->dmin = f32_to_f16(st.dmin);
    // Inverse of detail::unpack_q4_k_scales (quants.md 5.3).
    for (int k = 0; k < 4; k++) {
        y->scales[k] = static_cast<uint8_t>(st.sc[k] | ((st.sc[k + 4] >> 4) << 6));
        y->scales[k + 4] = static_cast<uint8_t>(st.mn[k] | ((st.mn[k + 4] >> 4) << 6));
        y->scales[k + 8] = static_cast<uint8_t>((st.sc[k + 4] & 15) | ((st.mn[k + 4] & 15) << 4));
    }
    // Group g: low nibbles of qs[32g..32g+31] are weights 64g.., high nibbles 64g+32..
    for (int g = 0; g < 4; g++) {
        for (int l = 0; l < 32; l++) {
            const int lo = static_cast<int>(q[64 * g + l]), hi = static_cast<int>(q[64 * g + 32 + l]);
            y->qs[32 * g + l] = static_cast<uint8_t>(lo | (hi << 4));
        }
    }
}

}  // namespace dstar::quant::detail
