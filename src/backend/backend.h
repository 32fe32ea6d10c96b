// The narrow interface between the model's forward pass (model/forward.h) and a compute
// backend (backend/cpu: the readable reference; backend/cuda: production).
//
// The forward pass is written once, as a sequence of the ops below; each backend
// implements every op once.  Pointers passed to ops (`float *`, `Weight::data`) live in
// the backend's memory (host memory for the CPU, device memory for CUDA) and are never
// dereferenced by the caller.  Activations are row-major, one row per token.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gguf/types.h"
#include "model/rope.h"

namespace dstar::model { struct WeightTensor; }

namespace dstar::backend {

// A weight usable by ops: matrices keep their file encoding; small vectors (norms, biases,
// sinks, HC scale/base, APE) are converted to f32 at bind time.
struct Weight {
    gguf::TensorType type = gguf::TensorType::F32;
    uint64_t ne0 = 0, ne1 = 1, ne2 = 1;  // ne0 = input width of a matrix (row length)
    uint64_t row_bytes = 0;
    const void *data = nullptr;         // backend memory
    std::string name;
    bool present() const { return data != nullptr; }
};

// Per-layer decode state of one session, in backend memory (model.md §4.1).
struct LayerState {
    uint32_t ratio = 0;            // compression ratio of the layer (0: raw window only)
    bool indexer = false;          // ratio-4 layer with indexer
    uint32_t raw_cap = 0;          // rows of the raw ring (row of position p at p % raw_cap)
    uint32_t comp_cap = 0;         // capacity of the compressed caches (rows)
    float *raw = nullptr;          // [raw_cap][head_dim], f16-rounded values
    float *comp = nullptr;         // [comp_cap][head_dim] compressed attention rows
    float *idx_comp = nullptr;     // [comp_cap][idx_head_dim] indexer rows
    float *comp_kv = nullptr;      // compressor frontier values [coff*ratio][coff*head_dim]
    float *comp_score = nullptr;   // compressor frontier scores (same shape; -inf = empty)
    float *idx_kv = nullptr;       // indexer compressor frontier [coff*ratio][coff*idx_head_dim]
    float *idx_score = nullptr;
};

// Numerical switches of the forward pass.
struct Numerics {
    // Quantization-aware-training simulations that are part of the model: FP8 (E4M3) round
    // trip of KV rows, Hadamard + FP4 (E2M1) indexer rows and queries, f16 storage of rows.
    bool qat = true;
    // How the indexer's top-k breaks exact score ties (docs/NUMERICS.md).  Lowest: the
    // lower row index wins (ds4; causal, so prefill and decode agree).  Torch: reproduce
    // PyTorch's CPU torch.topk as transformers calls it on a whole batch, whose choice
    // among equal scores depends on the batch's future (masked) rows too; for exact
    // comparisons with transformers only.
    enum class IndexerTies { Lowest, Torch } indexer_ties = IndexerTies::Lowest;
};

// Inputs of the cache-dependent part of one attention sublayer for a batch of n tokens at
// positions pos0 .. pos0+n-1 (model.md §3.3 steps 7-11, §3.4, §3.5).
struct AttentionBatch {
    uint32_t layer = 0;
    uint32_t n = 0;
    uint32_t pos0 = 0;
    const float *q = nullptr;        // [n][n_head*head_dim], roped, per-head normalised
    const float *kv = nullptr;       // [n][head_dim], roped, FP8-simulated
    const float *comp_kv = nullptr;  // [n][coff*head_dim] attention compressor values (ratio != 0)
    const float *comp_sc = nullptr;  // [n][coff*head_dim] attention compressor scores, APE not yet added
    const float *idx_kv = nullptr;   // [n][coff*idx_head_dim] indexer compressor values (ratio 4)
    const float *idx_sc = nullptr;   // [n][coff*idx_head_dim] indexer compressor scores
    const float *idx_q = nullptr;    // [n][idx_head*idx_head_dim] indexer queries, roped + QAT (or null)
    const float *idx_w = nullptr;    // [n][idx_head] indexer head weights, scaled (or null)
    float *heads = nullptr;          // out: [n][n_head*head_dim] attention output per head
};

// Weights of one layer's attention cache part.
struct AttentionWeights {
    Weight sinks;                               // [n_head] f32
    Weight comp_ape, comp_norm;                 // f32 (ratio != 0)
    Weight idx_ape, idx_norm;                   // f32 (ratio 4)
    model::RopeParams rope;
    uint32_t n_head = 0, head_dim = 0, n_rot = 0, window = 0;
    uint32_t idx_head = 0, idx_head_dim = 0, idx_top_k = 0;
    float eps = 1e-6f;
};

// Weights of one hyper-connection mixer (attention or FFN side).
struct HcWeights {
    Weight fn;     // [hc_dim, hc_mix] matrix
    Weight scale;  // [3] f32
    Weight base;   // [hc_mix] f32
};

class Backend {
public:
    virtual ~Backend() = default;
    virtual std::string name() const = 0;

    // ---- memory ----
    virtual float *alloc(size_t n_floats) = 0;  // zero-filled
    virtual int32_t *alloc_i32(size_t n) = 0;   // zero-filled
    virtual void release(void *p) = 0;
    virtual void upload(float *dst, const float *src, size_t n_floats) = 0;
    virtual void download(float *dst, const float *src, size_t n_floats) = 0;
    virtual void fill(float *dst, float value, size_t n_floats) = 0;
    virtual void copy(float *dst, const float *src, size_t n_floats) = 0;

    // Makes a file tensor usable by ops (zero-copy on the CPU).
    virtual Weight bind(const model::WeightTensor &t, bool as_f32_vector) = 0;

    // ---- ops (one token per row; n rows) ----
    // Token ids (`tokens`) are host memory in every op.
    // x_hc[t] = n_hc copies of embedding row tokens[t] (model.md §3.1).
    virtual void embed(const Weight &tok_embd, const int32_t *tokens, uint32_t n, uint32_t n_hc, float *x_hc) = 0;
    // out = x / sqrt(mean(x^2) + eps) (* w if given), per row of `dim` (RMS sum in double).
    virtual void rms_norm(float *out, const float *x, const Weight *w, uint32_t rows, uint32_t dim, float eps) = 0;
    // out[t] = W x[t] for t < n; W is [ne0 = in, ne1 = out].
    virtual void matmul(float *out, const Weight &w, const float *x, uint32_t n) = 0;
    // Grouped low-rank projection: group g of row t (x[t][g*group_dim ...]) times rows
    // [g*rank, (g+1)*rank) of W (model.md §3.3 step 13).  out: [n][groups*rank].
    virtual void matmul_grouped(float *out, const Weight &w, const float *x, uint32_t n, uint32_t groups,
                                uint32_t rank) = 0;
    // HC pre (model.md §3.2): out[t] = sublayer input, post[t][n_hc], comb[t][n_hc*n_hc].
    virtual void hc_pre(const HcWeights &hc, const float *x_hc, uint32_t n, uint32_t n_hc, uint32_t embd,
                        uint32_t sinkhorn_iters, float rms_eps, float hc_eps, float *out, float *post,
                        float *comb) = 0;
    // HC post: out_hc[t][a] = post[a]*y[t] + sum_b comb[b][a]*res_hc[t][b].
    virtual void hc_post(float *out_hc, const float *y, const float *res_hc, const float *post, const float *comb,
                         uint32_t n, uint32_t n_hc, uint32_t embd) = 0;
    // Output-head HC collapse (model.md §3.7): out[t] = sum_i w_i X_i, w = sigma(.)+eps.
    virtual void hc_head(const Weight &fn, const Weight &scale, const Weight &base, const float *x_hc, uint32_t n,
                         uint32_t n_hc, uint32_t embd, float rms_eps, float hc_eps, float *out) = 0;
    // RoPE on the tail of `n_head` heads per row (row stride `stride` floats) at positions
    // pos0 + t.
    virtual void rope(float *x, uint32_t n, uint32_t stride, uint32_t n_head, uint32_t head_dim,
                      const model::RopeParams &p, uint32_t pos0, bool inverse) = 0;
    // FP8 (E4M3) round trip of the first head_dim - n_rot values of each row (64-blocks).
    virtual void fp8_kv_round(float *x, uint32_t rows, uint32_t head_dim, uint32_t n_rot) = 0;
    // Hadamard-128 + FP4 (E2M1) round trip of each 128-value row.
    virtual void indexer_qat(float *x, uint32_t rows, uint32_t dim) = 0;
    // out = x * s (elementwise by a scalar).
    virtual void scale(float *x, float s, size_t n_floats) = 0;
    // out = a + b.
    virtual void add(float *out, const float *a, const float *b, size_t n_floats) = 0;
    // out = silu(min(g, c)) * clamp(u, -c, c) (clamp skipped when c <= 1e-6).
    virtual void swiglu(float *out, const float *g, const float *u, size_t n_floats, float clamp) = 0;

    // The cache-dependent part of an attention sublayer: for each token in order, store its
    // raw row, run the compressors (emitting compressed rows), select indexer rows, and
    // attend over the visible rows with the sink (model.md §3.3 steps 7-11).
    virtual void attention(LayerState &st, const AttentionWeights &w, const AttentionBatch &b, const Numerics &num) = 0;

    // Router (model.md §3.6 steps 2-4): logits [n][n_expert] -> selected experts and weights.
    // tid2eid (hash layers) selects by token id; otherwise top-k of score + bias.
    virtual void route(const float *logits, const Weight *bias, const Weight *tid2eid, const int32_t *tokens,
                       uint32_t n, uint32_t n_expert, uint32_t k, float weights_scale, int32_t *sel,
                       float *weights) = 0;
    // Routed experts (model.md §3.6 step 5): out[t] = sum_i down[e_i] (w_i * swiglu(gate[e_i] x, up[e_i] x)).
    virtual void moe(float *out, const Weight &gate, const Weight &up, const Weight &down, const float *x,
                     const int32_t *sel, const float *weights, uint32_t n, uint32_t k, float clamp) = 0;

    // ---- fused ops ----
    // Each is defined as the sequence of the ops above given in its comment.  The base class
    // runs exactly that sequence (so the CPU reference's results are the sequence's, bit for
    // bit); a backend may compute it in fewer passes over memory.  Buffers described as
    // scratch hold unspecified values afterwards.

    // Products of one input with several weights: matmul(outs[i], *ws[i], x, n) for each
    // i < count, in order (the projections of a sublayer's normed input).
    virtual void matmul_multi(float *const *outs, const Weight *const *ws, uint32_t count, const float *x,
                              uint32_t n);
    // hc_pre(hc, x_hc, n, n_hc, embd, iters, rms_eps, hc_eps, out, post, comb), then
    // rms_norm(norm_out, out, &norm, n, embd, rms_eps): a sublayer's input and its norm.
    virtual void hc_pre_norm(const HcWeights &hc, const Weight &norm, const float *x_hc, uint32_t n, uint32_t n_hc,
                             uint32_t embd, uint32_t iters, float rms_eps, float hc_eps, float *out, float *norm_out,
                             float *post, float *comb);
    // Per-head RMS norm and RoPE of n rows of n_head heads in place (model.md §3.3 steps 3-6):
    // rms_norm(x, x, w, n * n_head, head_dim, eps); rope(x, n, n_head * head_dim, n_head,
    // head_dim, rope, pos0, false); with fp8 also fp8_kv_round(x, n * n_head, head_dim,
    // rope.n_rot).  `w` may be null.
    virtual void head_norm_rope(float *x, const Weight *w, uint32_t n, uint32_t n_head, uint32_t head_dim, float eps,
                                const model::RopeParams &rope, uint32_t pos0, bool fp8);
    // The first half of a SwiGLU feed-forward: matmul(g, gate, x, n); matmul(u, up, x, n);
    // swiglu(out, g, u, n * rows, clamp).  g, u: scratch of n * rows floats (rows = the
    // weights' output rows).
    virtual void gate_up_swiglu(float *out, float *g, float *u, const Weight &gate, const Weight &up, const float *x,
                                uint32_t n, float clamp);
    // A sublayer's last projection and HC post: matmul(y, w, x, n); when `plus` is given,
    // add(y, plus, y, n * embd); hc_post(out_hc, y, res_hc, post, comb, n, n_hc, embd), with
    // embd = the weight's output rows.  y: scratch of n * embd floats.
    virtual void matmul_hc_post(float *out_hc, float *y, const Weight &w, const float *x, const float *plus,
                                const float *res_hc, const float *post, const float *comb, uint32_t n, uint32_t n_hc);

    // ---- side sections (concurrency hints) ----
    // Ops called between side_begin() and side_end() form a side section: a backend may run
    // them concurrently with the ops called after side_end(), up to side_join(); ops after
    // side_join() see everything the section wrote.  The model keeps the two apart: neither
    // writes what the other reads or writes (the shared expert next to the router and routed
    // experts; the KV head's norm and RoPE next to the query path).  A backend may restrict
    // which ops a section may hold and fail on others; sections do not nest.  The base class
    // runs everything in call order, so results never depend on the hints.
    virtual void side_begin() {}
    virtual void side_end() {}
    virtual void side_join() {}

    // ---- evaluation steps (graph replay) ----
    // model::Forward brackets the ops of each evaluation with begin_step and end_step.  A
    // backend that can record queued work (CUDA graphs) may, for a step whose `key` it has
    // recorded before, replay the recording instead of having the ops called.  The key names
    // everything the ops' host-side choices depend on (shapes, buffers, which optional ops
    // run); the position and the token ids are not part of it: the backend copies them to its
    // own memory at begin_step, and recorded work reads them from there when replayed.  Ops
    // inside a step must be given the step's pos0 and tokens.  The base class (the CPU
    // backend) has every step's ops called and records nothing.
    struct StepInfo {
        std::string key;
        uint32_t pos0 = 0, n = 0;
        const int32_t *tokens = nullptr;  // host memory, n ids
        bool recordable = true;           // false: an op needs the host mid-step (never record)
    };
    enum class StepStart {
        RunOps,    // call the step's ops, then end_step()
        Replayed,  // the step's work is queued already: call neither the ops nor end_step()
    };
    virtual StepStart begin_step(const StepInfo &info);
    // After the step's ops.  True: their work is queued (run directly, or recorded and then
    // replayed).  False: the recording failed and nothing ran; call the ops once more (they
    // run directly), then end_step() again.
    virtual bool end_step();
    // After an op of the step threw.  True: the step was being recorded, so nothing ran and
    // the caller may call the ops once more (they run directly), then end_step(); false: the
    // step is over and the error stands.
    virtual bool abort_step();

    // Waits until all queued work is done (no-op on the CPU).
    virtual void sync() = 0;
};

// The shape and type fields of a bound weight for file tensor t (data left null).
Weight describe_weight(const model::WeightTensor &t);

// The CPU reference backend using `threads` worker threads (<= 0: all cores).
std::unique_ptr<Backend> make_cpu_backend(int threads);

// The CUDA backend on GPU `device` (backend/cuda).  Defined only in builds configured with
// -DDSTAR_CUDA=ON (engine::Engine reports "this build has no CUDA backend" otherwise).
// Throws Error when no usable GPU is present.
std::unique_ptr<Backend> make_cuda_backend(int device = 0);
// GPUs this process can use (0 without an NVIDIA driver or device); CUDA builds only.
int cuda_device_count();

}  // namespace dstar::backend
