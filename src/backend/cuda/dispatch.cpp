#include "backend/cuda/dispatch.h"

#include <algorithm>
#include <cstdint>

#include "common/error.h"

namespace dstar::backend::cuda {

namespace {

constexpr uint32_t kMatvecTokens = MatmulRunner::kMatvecTokens;  // above this, batched tensor-core products

bool aligned16(const void *p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

ActKind act_kind(WType t) {
    if (!is_quantized(t)) return ActKind::Float;
    return t == WType::Q8_0 ? ActKind::Q8_0 : ActKind::Q8_K;
}

}  // namespace

DevAct ActivationBuffer::prepare(WType t, const float *x, uint64_t x_stride, uint32_t cols, uint32_t n,
                                 cudaStream_t stream) {
    DevAct a;
    if (!is_quantized(t)) {
        a.kind = ActKind::Float;
        a.x = x;
        a.stride = x_stride;
        return a;
    }
    const uint64_t codes = uint64_t{n} * cols;
    a.stride = cols;
    if (t == WType::Q8_0) {
        if (cols % 32 != 0) fail("Q8_0 product: activation rows of %u values are not whole 32-blocks", cols);
        a.kind = ActKind::Q8_0;
        int8_t *q = q_.get<int8_t>(codes);
        float *d = d_.get<float>(codes / 32);
        launch_quantize_q8_0(x, x_stride, n, cols, q, d, stream);
        a.q = q;
        a.d = d;
    } else {
        if (cols % 256 != 0) fail("K-quant product: activation rows of %u values are not whole 256-blocks", cols);
        a.kind = ActKind::Q8_K;
        int8_t *q = q_.get<int8_t>(codes);
        float *d = d_.get<float>(codes / 256);
        int32_t *bs = bsums_.get<int32_t>(codes / 16);
        launch_quantize_q8_k(x, x_stride, n, cols, q, d, bs, stream);
        a.q = q;
        a.d = d;
        a.bsums = bs;
    }
    return a;
}

DevAct offset_act(const DevAct &a, uint64_t col0) {
    DevAct o = a;
    switch (a.kind) {
    case ActKind::Float: o.x = a.x + col0; break;
    case ActKind::Q8_0:
        o.q = a.q + col0;
        o.d = a.d + col0 / 32;
        break;
    case ActKind::Q8_K:
        o.q = a.q + col0;
        o.d = a.d + col0 / 256;
        o.bsums = a.bsums + col0 / 16;
        break;
    }
    return o;
}

DevWeight slice_rows(const DevWeight &w, uint64_t row0, uint64_t rows) {
    DevWeight s = w;
    s.main = w.main + row0 * w.main_row;
    s.side = w.side ? w.side + row0 * w.side_row : nullptr;
    s.rows = rows;
    s.rows_per_expert = rows;
    return s;
}

void MatmulRunner::run_prepared(const DevWeight &w, const DevAct &act, uint32_t n, float *out, uint64_t out_stride,
                                uint64_t rows_per_group, uint64_t group_offset) {
    MatvecArgs m;
    m.w = w;
    m.act = act;
    m.out = out;
    m.out_stride = out_stride;
    m.rows_per_group = rows_per_group;
    m.group_offset = group_offset;
    for (uint32_t t0 = 0; t0 < n; t0 += kMatvecTokens) {
        m.n = std::min(kMatvecTokens, n - t0);
        m.out = out + t0 * out_stride;
        if (is_quantized(w.type)) {
            DevAct a = act;
            a.q = act.q + t0 * act.stride;
            a.d = act.d + t0 * act.stride / (act.kind == ActKind::Q8_0 ? 32 : 256);
            if (act.bsums) a.bsums = act.bsums + t0 * act.stride / 16;
            m.act = a;
            launch_matvec_quant(m, stream_);
        } else {
            m.act.x = act.x + t0 * act.stride;
            launch_matvec_float(m, stream_);
        }
    }
}

DevAct MatmulRunner::activation(WType t, const float *x, uint64_t x_stride, uint32_t cols, uint32_t n) {
    const ActKind kind = act_kind(t);
    if (kind == ActKind::Float) return act_.prepare(t, x, x_stride, cols, n, stream_);
    if (produced_.matches(x, x_stride, cols, n, kind)) return produced_.act;
    if (prepared_.matches(x, x_stride, cols, n, kind)) return prepared_.act;
    const DevAct act = act_.prepare(t, x, x_stride, cols, n, stream_);
    prepared_ = {true, x, x_stride, cols, n, kind, act};
    return act;
}

MatmulRunner::Q8Out MatmulRunner::produce_q8_0(const float *x, uint32_t cols, uint32_t n) {
    if (cols % 32 != 0) fail("Q8_0 codes of rows of %u values (not whole 32-blocks)", cols);
    const uint64_t codes = uint64_t{n} * cols;
    Q8Out o;
    o.q = produced_q_.get<int8_t>(codes);
    o.d = produced_d_.get<float>(codes / 32);
    DevAct a;
    a.kind = ActKind::Q8_0;
    a.stride = cols;
    a.q = o.q;
    a.d = o.d;
    produced_ = {true, x, cols, cols, n, ActKind::Q8_0, a};
    return o;
}

bool MatmulRunner::Prepared::overlaps(const void *p, uint64_t bytes) const {
    if (!valid) return false;
    const auto *a = static_cast<const uint8_t *>(p);
    const auto *xb = reinterpret_cast<const uint8_t *>(x);
    const uint64_t x_bytes = (uint64_t{n - 1} * x_stride + cols) * sizeof(float);
    return a < xb + x_bytes && xb < a + bytes;
}

void MatmulRunner::forget_overlap(const void *p, uint64_t bytes) {
    if (prepared_.overlaps(p, bytes)) prepared_.valid = false;
    if (produced_.overlaps(p, bytes)) produced_.valid = false;
}

void MatmulRunner::matmul_hc_post(const DevWeight &w, const float *x, uint32_t n, const HcPostArgs &hc) {
    if (n == 0 || w.rows == 0) return;
    if (n > kMatvecTokens) fail("fused HC post products take at most %u tokens (got %u)", kMatvecTokens, n);
    forget_overlap(hc.out_hc, uint64_t{n} * hc.n_hc * w.rows * sizeof(float));
    MatvecArgs m;
    m.w = w;
    m.act = activation(w.type, x, w.k, w.k, n);
    m.n = n;
    m.rows_per_group = w.rows;
    m.hc = hc;
    if (is_quantized(w.type)) launch_matvec_quant(m, stream_);
    else launch_matvec_float(m, stream_);
}

bool MatmulRunner::segments_alike(const DevWeight &a, const DevWeight &b) {
    // Single matrices (no expert stacks) of one type, row length and row layout.
    return a.type == b.type && a.k == b.k && a.main_row == b.main_row && a.side_row == b.side_row &&
           a.rows == a.rows_per_expert && b.rows == b.rows_per_expert && a.iq2_grid == b.iq2_grid;
}

void MatmulRunner::matmul_segments(const DevWeight *ws, float *const *outs, uint32_t count, const float *x,
                                   uint32_t n) {
    if (n == 0 || count == 0) return;
    if (n > kMatvecTokens || count > kMatvecMaxSegs)
        fail("segmented products take at most %u tokens and %u weights (got %u, %u)", kMatvecTokens, kMatvecMaxSegs,
             n, count);
    for (uint32_t i = 0; i < count; i++) {
        if (!segments_alike(ws[0], ws[i])) fail("segmented products: weight %u differs in type or layout", i);
        forget_overlap(outs[i], uint64_t{n} * ws[i].rows * sizeof(float));
    }
    MatvecArgs m;
    m.w = ws[0];
    m.act = activation(ws[0].type, x, ws[0].k, ws[0].k, n);
    m.n = n;
    m.rows_per_group = UINT64_MAX;  // no groups: every row reads columns from 0
    m.group_offset = 0;
    m.n_seg = count;
    for (uint32_t i = 0; i < count; i++) {
        m.seg[i].main = ws[i].main;
        m.seg[i].side = ws[i].side;
        m.seg[i].rows = ws[i].rows;
        m.seg[i].out = outs[i];
        m.seg[i].out_stride = ws[i].rows;
    }
    if (is_quantized(ws[0].type)) launch_matvec_quant(m, stream_);
    else launch_matvec_float(m, stream_);
}

void MatmulRunner::matmul(const DevWeight &w, const float *x, uint64_t x_stride, uint32_t n, float *out,
                          uint64_t out_stride) {
    if (n == 0 || w.rows == 0) return;
    forget_overlap(out, (uint64_t{n - 1} * out_stride + w.rows) * sizeof(float));
    const DevAct act = activation(w.type, x, x_stride, w.k, n);
    const uint64_t tiles =
        ((w.rows + kGemmTileRows - 1) / kGemmTileRows) * ((n + kGemmTileTokens - 1) / kGemmTileTokens);
    if (n > kMatvecTokens && is_quantized(w.type) && (batched(tiles) || n >= kGemmTileTokens)) {
        GemmTokens tok;
        tok.n = n;
        launch_mmq(w, act, tok, out, out_stride, stream_);
    } else if (n > kMatvecTokens && !is_quantized(w.type) && gemm_float_supported(w, act)) {
        // Float weights: one batched pass reads the weight once (a matvec pass per 8 tokens
        // re-reads it n / 8 times); too few tiles are made up for by splitting K.
        const uint32_t splits = float_splits(tiles, w.k, w.type);
        void *partial = splits > 1 ? partial_.get<uint8_t>(gemm_float_partial_bytes(w.type, n, w.rows, splits))
                                   : nullptr;
        launch_gemm_float(w, act, n, out, out_stride, splits, partial, stream_);
    } else {
        run_prepared(w, act, n, out, out_stride, w.rows, 0);
    }
}

uint32_t MatmulRunner::float_splits(uint64_t tiles, uint32_t k, WType t) const {
    const uint64_t step = gemm_float_step(t), steps = (k + step - 1) / step;
    const uint64_t want = (4 * static_cast<uint64_t>(sm_count_) + tiles - 1) / std::max<uint64_t>(1, tiles);
    const uint64_t most = std::max<uint64_t>(1, steps / kMinSplitSteps);
    return static_cast<uint32_t>(std::min({want, most, uint64_t{kMaxSplits}}));
}

void MatmulRunner::matmul_grouped(const DevWeight &w, const float *x, uint32_t n, uint32_t groups, uint32_t rank,
                                  float *out) {
    if (n == 0) return;
    const uint64_t gdim = w.k, row_len = gdim * groups, out_len = uint64_t{groups} * rank;
    if (w.rows != out_len)
        fail("grouped projection: weight has %llu rows, expected %u groups x %u", static_cast<unsigned long long>(w.rows),
             groups, rank);
    forget_overlap(out, uint64_t{n} * out_len * sizeof(float));
    const DevAct act = activation(w.type, x, row_len, static_cast<uint32_t>(row_len), n);
    const bool batched_half = (w.type == WType::F16 || w.type == WType::BF16) && w.k % 32 == 0 && aligned16(x) &&
                              row_len % 4 == 0 && gdim % 4 == 0 && w.main_row % 16 == 0;
    const uint64_t tiles = uint64_t{groups} * ((rank + kGemmTileRows - 1) / kGemmTileRows) *
                           ((n + kGemmTileTokens - 1) / kGemmTileTokens);
    const bool int8_tiles = is_quantized(w.type) && n >= kGemmTileTokens;  // whole token tiles (dispatch.h)
    if (n > kMatvecTokens && (batched(tiles) || int8_tiles) && (is_quantized(w.type) || batched_half)) {
        for (uint32_t g = 0; g < groups; g++) {
            const DevWeight wg = slice_rows(w, uint64_t{g} * rank, rank);
            const DevAct ag = offset_act(act, uint64_t{g} * gdim);
            float *og = out + uint64_t{g} * rank;
            if (is_quantized(w.type)) {
                GemmTokens tok;
                tok.n = n;
                launch_mmq(wg, ag, tok, og, out_len, stream_);
            } else {
                launch_gemm_float(wg, ag, n, og, out_len, 1, nullptr, stream_);
            }
        }
    } else {
        run_prepared(w, act, n, out, out_len, rank, gdim);
    }
}

}  // namespace dstar::backend::cuda
