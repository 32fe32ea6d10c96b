// The CUDA backend's fused ops and step hooks (cuda_backend.h).  A fused op runs as fewer
// kernels where its shape has them (decode: a few tokens), else as the base class's
// sequence of plain ops.
#include <cstdlib>
#include <cstring>
#include <utility>

#include "backend/cuda/check.h"
#include "backend/cuda/cuda_backend.h"
#include "common/error.h"

namespace dstar::backend::cuda {

bool cuda_switch(const char *name) {
    const char *v = std::getenv(name);
    return !(v && std::strcmp(v, "0") == 0);
}

void CudaBackend::hc_pre_norm(const HcWeights &hc, const Weight &norm, const float *x_hc, uint32_t n, uint32_t n_hc,
                              uint32_t embd, uint32_t iters, float rms_eps, float hc_eps, float *out, float *norm_out,
                              float *post, float *comb) {
    const DevWeight fn = dev(hc.fn);
    if (!norm.present() || !hc_pre_fused_supported(fn, n, n_hc, embd, x_hc, f32(norm), out, norm_out)) {
        Backend::hc_pre_norm(hc, norm, x_hc, n, n_hc, embd, iters, rms_eps, hc_eps, out, norm_out, post, comb);
        return;
    }
    OpScope scope(*prof_, "hc_pre_norm");
    main_lane("hc_pre_norm");
    mm_->forget();
    // The norm's Q8_0 codes too: the attention input projections and the shared expert read them.
    MatmulRunner::Q8Out q8;
    if (producer_q8_enabled() && embd % 32 == 0) q8 = mm_->produce_q8_0(norm_out, embd, n);
    launch_hc_pre_norm_fused(fn, f32(hc.scale), f32(hc.base), f32(norm), x_hc, n, n_hc, embd, iters, rms_eps, hc_eps, out,
                             norm_out, post, comb, hc_partial_, hc_counters_, stream_, q8.q, q8.d);
}

void CudaBackend::head_norm_rope(float *x, const Weight *w, uint32_t n, uint32_t n_head, uint32_t head_dim, float eps,
                                 const model::RopeParams &rope, uint32_t pos0, bool fp8) {
    OpScope scope(*prof_, "head_norm_rope");
    mm_->forget();
    if (rope.n_rot > head_dim) fail("RoPE: %u rotated dims exceed the head size %u", rope.n_rot, head_dim);
    launch_head_norm_rope(x, w ? f32(*w) : nullptr, n, n_head, head_dim, eps, rope_table(rope), step_->pos(pos0), fp8,
                          stream_);
}

void CudaBackend::gate_up_swiglu(float *out, float *g, float *u, const Weight &gate, const Weight &up, const float *x,
                                 uint32_t n, float clamp) {
    const DevWeight gw = dev(gate), uw = dev(up);
    const bool one_matrix = gw.rows == gw.rows_per_expert && uw.rows == uw.rows_per_expert;
    if (n > MatmulRunner::kMatvecTokens || !one_matrix || gw.type != uw.type || gw.k != uw.k || gw.rows != uw.rows) {
        Backend::gate_up_swiglu(out, g, u, gate, up, x, n, clamp);
        return;
    }
    OpScope scope(*prof_, "gate_up_swiglu");
    mm_->forget_overlap(out, uint64_t{n} * gw.rows * sizeof(float));
    // The routed-expert kernel with one expert of weight 1 for every token.
    const DevAct xa = mm_->activation(gw.type, x, gw.k, gw.k, n);
    launch_moe_gate_up(gw, uw, xa, unit_sel_, unit_weight_, n, 1, clamp, out, stream_);
}

void CudaBackend::matmul_multi(float *const *outs, const Weight *const *ws, uint32_t count, const float *x,
                               uint32_t n) {
    if (n > MatmulRunner::kMatvecTokens) {
        Backend::matmul_multi(outs, ws, count, x, n);
        return;
    }
    OpScope scope(*prof_, "matmul_multi");
    // Each run of consecutive alike weights (type, row length and layout) is one launch:
    // fewer dependent launches per layer, and one wave of blocks instead of several short
    // ones (the attention input's Q8_0 q_a and kv, its F16 compressor and indexer products).
    for (uint32_t i = 0; i < count;) {
        DevWeight dw[kMatvecMaxSegs];
        float *o[kMatvecMaxSegs];
        dw[0] = dev(*ws[i]);
        o[0] = outs[i];
        uint32_t m = 1;
        if (MatmulRunner::segments_alike(dw[0], dw[0])) {
            while (i + m < count && m < kMatvecMaxSegs) {
                const DevWeight d = dev(*ws[i + m]);
                if (!MatmulRunner::segments_alike(dw[0], d)) break;
                dw[m] = d;
                o[m] = outs[i + m];
                m++;
            }
        }
        if (m == 1) mm_->matmul(dw[0], x, dw[0].k, n, o[0], dw[0].rows);
        else mm_->matmul_segments(dw, o, m, x, n);
        i += m;
    }
}

void CudaBackend::matmul_hc_post(float *out_hc, float *y, const Weight &w, const float *x, const float *plus,
                                 const float *res_hc, const float *post, const float *comb, uint32_t n,
                                 uint32_t n_hc) {
    if (n > MatmulRunner::kMatvecTokens) {
        Backend::matmul_hc_post(out_hc, y, w, x, plus, res_hc, post, comb, n, n_hc);
        return;
    }
    OpScope scope(*prof_, "matmul_hc_post");
    HcPostArgs hc;
    hc.out_hc = out_hc;
    hc.plus = plus;
    hc.res_hc = res_hc;
    hc.post = post;
    hc.comb = comb;
    hc.n_hc = n_hc;
    mm_->matmul_hc_post(dev(w), x, n, hc);
}

// ---- side sections ----

void CudaBackend::main_lane(const char *op) const {
    if (in_side_) fail("CUDA backend: op %s keeps buffers of its own and cannot run in a side section", op);
}

void CudaBackend::side_begin() {
    if (in_side_ || side_open_) fail("CUDA backend: side sections do not nest");
    if (!lanes_) return;
    // The section starts after everything queued so far, on the side stream.
    check(cudaEventRecord(side_fork_, stream_), "cudaEventRecord (side fork)");
    check(cudaStreamWaitEvent(side_stream_, side_fork_, 0), "cudaStreamWaitEvent (side fork)");
    std::swap(stream_, side_stream_);
    std::swap(mm_, mm_side_);
    mm_->forget();  // the side runner's activations are from an earlier section
    in_side_ = true;
}

void CudaBackend::side_end() {
    if (!in_side_) return;
    check(cudaEventRecord(side_done_, stream_), "cudaEventRecord (side done)");
    std::swap(stream_, side_stream_);
    std::swap(mm_, mm_side_);
    in_side_ = false;
    side_open_ = true;
}

void CudaBackend::side_join() {
    if (in_side_) fail("CUDA backend: side_join inside a side section");
    if (!side_open_) return;
    check(cudaStreamWaitEvent(stream_, side_done_, 0), "cudaStreamWaitEvent (side join)");
    side_open_ = false;
    mm_->forget();  // the section wrote memory that prepared activations may have read
}

// ---- steps ----

Backend::StepStart CudaBackend::begin_step(const StepInfo &info) {
    // Single-token steps only: their host-side choices depend on the key alone (a batch's
    // indexer start and compressor emits would also depend on the position).
    if (info.n != 1 || !info.recordable) return StepStart::RunOps;
    step_->begin(info.pos0, info.tokens[0]);
    mm_->forget();
    switch (graphs_->plan(info.key)) {
    case StepGraphs::Plan::Replayed: step_->end(); return StepStart::Replayed;
    case StepGraphs::Plan::Record: recording_ = true; return StepStart::RunOps;
    case StepGraphs::Plan::Direct: return StepStart::RunOps;
    }
    return StepStart::RunOps;
}

bool CudaBackend::end_step() {
    if (!step_->active()) return true;
    if (recording_) {
        recording_ = false;
        mm_->forget();
        // A failed recording ran nothing: the ops are called again and run directly.
        if (!graphs_->finish_recording()) return false;
    }
    step_->end();
    return true;
}

bool CudaBackend::abort_step() {
    // An op that threw inside a side section: back to the main lane, joined.
    side_end();
    side_join();
    if (!step_->active()) return false;
    mm_->forget();
    if (recording_) {
        recording_ = false;
        graphs_->abandon_recording();
        return true;  // nothing ran: the ops may be called again (directly)
    }
    step_->end();
    return false;
}

}  // namespace dstar::backend::cuda
