// The parts of backend.h every backend shares: the fused ops as the sequences of plain ops
// that define them, and the step hooks of a backend that records nothing.
#include "backend/backend.h"

#include "model/weights.h"

namespace dstar::backend {

Weight describe_weight(const model::WeightTensor &t) {
    Weight w;
    w.name = t.name;
    w.type = t.type;
    w.ne0 = t.ne(0);
    w.ne1 = t.ne(1);
    w.ne2 = t.ne(2);
    w.row_bytes = t.row_bytes;
    return w;
}

void Backend::hc_pre_norm(const HcWeights &hc, const Weight &norm, const float *x_hc, uint32_t n, uint32_t n_hc,
                          uint32_t embd, uint32_t iters, float rms_eps, float hc_eps, float *out, float *norm_out,
                          float *post, float *comb) {
    hc_pre(hc, x_hc, n, n_hc, embd, iters, rms_eps, hc_eps, out, post, comb);
    rms_norm(norm_out, out, &norm, n, embd, rms_eps);
}

void Backend::head_norm_rope(float *x, const Weight *w, uint32_t n, uint32_t n_head, uint32_t head_dim, float eps,
                             const model::RopeParams &rope_params, uint32_t pos0, bool fp8) {
    rms_norm(x, x, w, n * n_head, head_dim, eps);
    rope(x, n, n_head * head_dim, n_head, head_dim, rope_params, pos0, false);
    if (fp8) fp8_kv_round(x, n * n_head, head_dim, rope_params.n_rot);
}

void Backend::matmul_multi(float *const *outs, const Weight *const *ws, uint32_t count, const float *x, uint32_t n) {
    for (uint32_t i = 0; i < count; i++) matmul(outs[i], *ws[i], x, n);
}

void Backend::gate_up_swiglu(float *out, float *g, float *u, const Weight &gate, const Weight &up, const float *x,
                             uint32_t n, float clamp) {
    matmul(g, gate, x, n);
    matmul(u, up, x, n);
    swiglu(out, g, u, static_cast<size_t>(n) * gate.ne1 * gate.ne2, clamp);
}

void Backend::matmul_hc_post(float *out_hc, float *y, const Weight &w, const float *x, const float *plus,
                             const float *res_hc, const float *post, const float *comb, uint32_t n, uint32_t n_hc) {
    const uint64_t embd = w.ne1 * w.ne2;
    matmul(y, w, x, n);
    if (plus) add(y, plus, y, n * embd);
    hc_post(out_hc, y, res_hc, post, comb, n, n_hc, static_cast<uint32_t>(embd));
}

Backend::StepStart Backend::begin_step(const StepInfo &) { return StepStart::RunOps; }
bool Backend::end_step() { return true; }
bool Backend::abort_step() { return false; }

}  // namespace dstar::backend
