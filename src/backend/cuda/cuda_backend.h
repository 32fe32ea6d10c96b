// The CUDA backend class (internal to backend/cuda): every Backend op enqueues its kernels
// on one stream and returns; the host waits only where the interface hands data back
// (download, sync) or, in the PyTorch-tie comparison mode of the indexer, for the scores.
// Weights are uploaded once at bind time; all session state (Backend::alloc) lives in device
// memory.  Single-token steps (decode) are recorded as CUDA graphs and replayed
// (graphs.h); their kernels read the step's position and token from device memory
// (step_params.h).  cuda_backend.cpp: memory, weights and the plain ops;
// cuda_fused_ops.cpp: the fused ops and the step hooks.
#pragma once

#include <cuda_runtime_api.h>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/dispatch.h"
#include "backend/cuda/graphs.h"
#include "backend/cuda/kernels.h"
#include "backend/cuda/ops.h"
#include "backend/cuda/profiler.h"
#include "backend/cuda/step_params.h"
#include "backend/cuda/weights.h"

namespace dstar::backend::cuda {

class CudaBackend final : public Backend {
public:
    explicit CudaBackend(int device);
    ~CudaBackend() override;

    std::string name() const override;

    // ---- memory ----
    float *alloc(size_t n) override { return static_cast<float *>(alloc_bytes(n * sizeof(float))); }
    int32_t *alloc_i32(size_t n) override { return static_cast<int32_t *>(alloc_bytes(n * sizeof(int32_t))); }
    void release(void *p) override;
    void upload(float *dst, const float *src, size_t n) override;
    void download(float *dst, const float *src, size_t n) override;
    void fill(float *dst, float value, size_t n) override;
    void copy(float *dst, const float *src, size_t n) override;
    Weight bind(const model::WeightTensor &t, bool as_f32_vector) override;

    // ---- ops ----
    void embed(const Weight &te, const int32_t *tokens, uint32_t n, uint32_t n_hc, float *x_hc) override;
    void rms_norm(float *out, const float *x, const Weight *w, uint32_t rows, uint32_t dim, float eps) override;
    void matmul(float *out, const Weight &w, const float *x, uint32_t n) override;
    void matmul_grouped(float *out, const Weight &w, const float *x, uint32_t n, uint32_t groups,
                        uint32_t rank) override;
    void hc_pre(const HcWeights &hc, const float *x_hc, uint32_t n, uint32_t n_hc, uint32_t embd, uint32_t iters,
                float rms_eps, float hc_eps, float *out, float *post, float *comb) override;
    void hc_post(float *out_hc, const float *y, const float *res_hc, const float *post, const float *comb, uint32_t n,
                 uint32_t n_hc, uint32_t embd) override;
    void hc_head(const Weight &fn, const Weight &scale, const Weight &base, const float *x_hc, uint32_t n,
                 uint32_t n_hc, uint32_t embd, float rms_eps, float hc_eps, float *out) override;
    void rope(float *x, uint32_t n, uint32_t stride, uint32_t n_head, uint32_t head_dim, const model::RopeParams &p,
              uint32_t pos0, bool inverse) override;
    void fp8_kv_round(float *x, uint32_t rows, uint32_t head_dim, uint32_t n_rot) override;
    void indexer_qat(float *x, uint32_t rows, uint32_t dim) override;
    void scale(float *x, float s, size_t n) override;
    void add(float *out, const float *a, const float *b, size_t n) override;
    void swiglu(float *out, const float *g, const float *u, size_t n, float clamp) override;
    void attention(LayerState &st, const AttentionWeights &w, const AttentionBatch &b, const Numerics &num) override;
    void route(const float *logits, const Weight *bias, const Weight *tid2eid, const int32_t *tokens, uint32_t n,
               uint32_t n_expert, uint32_t k, float weights_scale, int32_t *sel, float *weights) override;
    void moe(float *out, const Weight &gate, const Weight &up, const Weight &down, const float *x, const int32_t *sel,
             const float *weights, uint32_t n, uint32_t k, float clamp) override;

    // ---- fused ops (cuda_fused_ops.cpp) ----
    void matmul_multi(float *const *outs, const Weight *const *ws, uint32_t count, const float *x,
                      uint32_t n) override;
    void hc_pre_norm(const HcWeights &hc, const Weight &norm, const float *x_hc, uint32_t n, uint32_t n_hc,
                     uint32_t embd, uint32_t iters, float rms_eps, float hc_eps, float *out, float *norm_out,
                     float *post, float *comb) override;
    void head_norm_rope(float *x, const Weight *w, uint32_t n, uint32_t n_head, uint32_t head_dim, float eps,
                        const model::RopeParams &rope, uint32_t pos0, bool fp8) override;
    void gate_up_swiglu(float *out, float *g, float *u, const Weight &gate, const Weight &up, const float *x,
                        uint32_t n, float clamp) override;
    void matmul_hc_post(float *out_hc, float *y, const Weight &w, const float *x, const float *plus,
                        const float *res_hc, const float *post, const float *comb, uint32_t n, uint32_t n_hc) override;

    // ---- steps (cuda_fused_ops.cpp) ----
    StepStart begin_step(const StepInfo &info) override;
    bool end_step() override;
    bool abort_step() override;

    // ---- side sections (cuda_fused_ops.cpp) ----
    // A section's ops go to a second stream with its own product runner (its own activation
    // buffers), forked from the main stream by an event and joined back by another: inside a
    // recorded step they become a parallel branch of the graph.  Only ops whose state is the
    // runner and the stream may be in a section (main_lane() refuses the others).
    // DSTAR_CUDA_LANES=0, or the per-op profiler, runs sections in call order.
    void side_begin() override;
    void side_end() override;
    void side_join() override;

    void sync() override;

private:
    DevWeight dev(const Weight &w) const { return device_weight(w, iq2_grid_); }
    static const float *f32(const Weight &w) { return static_cast<const float *>(w.data); }
    void *alloc_bytes(size_t bytes);
    // Token ids of an op in device memory: the step's own in a step, else copied
    // (device_tokens).
    const int32_t *op_tokens(const int32_t *tokens, uint32_t n);
    const int32_t *device_tokens(const int32_t *tokens, uint32_t n);

    int sm_count_ = 0;
    std::string name_;
    cudaStream_t stream_ = nullptr;
    uint64_t *iq2_grid_ = nullptr;
    std::unique_ptr<MatmulRunner> mm_;
    std::unique_ptr<WeightUploader> uploader_;
    std::unique_ptr<OpProfiler> prof_;
    std::unique_ptr<StepParams> step_;
    std::unique_ptr<StepGraphs> graphs_;
    bool recording_ = false;
    // Side sections: the stream, runner and events of the side lane; in_side_ while a
    // section's ops are being called (stream_ and mm_ are then the side lane's), side_open_
    // from side_end() until side_join().
    cudaStream_t side_stream_ = nullptr;
    cudaEvent_t side_fork_ = nullptr, side_done_ = nullptr;
    std::unique_ptr<MatmulRunner> mm_side_;
    bool lanes_ = false, in_side_ = false, side_open_ = false;
    // Fails when called inside a side section: for ops that keep buffers of their own.
    void main_lane(const char *op) const;
    std::mutex mu_;
    std::unordered_map<void *, size_t> owned_;
    std::vector<void *> weights_;
    uint64_t weight_bytes_ = 0;
    DeviceScratch hc_flat_, hc_mix_, copy_tmp_;
    AttentionScratch attn_;
    MoeScratch moe_;
    // Fused HC pre: per-block partial sums and the per-token completion counters.
    float *hc_partial_ = nullptr;
    uint32_t *hc_counters_ = nullptr;
    // A plain SwiGLU feed-forward through the routed-expert kernel: expert 0, weight 1.
    int32_t *unit_sel_ = nullptr;
    float *unit_weight_ = nullptr;
    static constexpr size_t kTokenSlots = 4;
    int32_t *tokens_dev_ = nullptr;
    int32_t *tokens_host_[kTokenSlots] = {};
    cudaEvent_t tokens_done_[kTokenSlots] = {};
    size_t tokens_slot_ = 0;
    uint32_t tokens_cap_ = 0, tokens_n_ = 0;
    std::vector<int32_t> tokens_last_;
};

}  // namespace dstar::backend::cuda
