// Host-callable launchers of the CUDA backend's kernels and the plain structs they take.
//
// Everything here is ordinary C++ (no device code), so the backend class (cuda_backend.cpp)
// is compiled by the host compiler with the project's warning flags.  Every launcher
// enqueues work on `stream` and returns at once; pointers are device memory unless a
// comment says otherwise.  Launchers check their launch (check.h) and throw Error on a
// CUDA failure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cuda_runtime_api.h>

namespace dstar::backend::cuda {

// Weight encodings the kernels read.
enum class WType : uint8_t { F32, F16, BF16, Q8_0, Q2_K, Q4_K, IQ2_XXS, I32 };

// Geometry of one block of a weight type: in the file, and in the device layout, where a
// block's payload (codes, 16-byte multiple) lives in the "main" region and its f16
// scale(s) in the "side" region, so that kernels can read the codes with 16-byte loads
// (ggml's 34-, 66- and 84-byte blocks are not 16-byte aligned).
struct BlockGeom {
    uint32_t elems;       // elements per block
    uint32_t file_bytes;  // bytes per block in the GGUF file
    uint32_t main_bytes;  // bytes per block in the main region
    uint32_t side_bytes;  // bytes per block in the side region
};

constexpr BlockGeom block_geom(WType t) {
    switch (t) {
    case WType::F32: return {1, 4, 4, 0};
    case WType::F16: return {1, 2, 2, 0};
    case WType::BF16: return {1, 2, 2, 0};
    case WType::Q8_0: return {32, 34, 32, 2};      // main: qs[32]; side: d
    case WType::Q2_K: return {256, 84, 80, 4};     // main: qs[64], scales[16]; side: d, dmin
    case WType::Q4_K: return {256, 144, 144, 0};   // kept as in the file (16-byte multiple)
    case WType::IQ2_XXS: return {256, 66, 64, 2};  // main: qs[64]; side: d
    case WType::I32: return {1, 4, 4, 0};
    }
    return {1, 1, 1, 0};
}

constexpr bool is_quantized(WType t) {
    return t == WType::Q8_0 || t == WType::Q2_K || t == WType::Q4_K || t == WType::IQ2_XXS;
}
// K-quant / IQ2 types: activations are quantized to Q8_K (per 256) for them, to Q8_0 (per
// 32) for Q8_0 weights (ds4's CPU numerics, quants.md §7).
constexpr bool uses_q8k(WType t) { return t == WType::Q2_K || t == WType::Q4_K || t == WType::IQ2_XXS; }

// A weight matrix (or a stack of expert matrices) in device memory.
struct DevWeight {
    WType type = WType::F32;
    const uint8_t *main = nullptr;  // row r at main + r * main_row
    const uint8_t *side = nullptr;  // row r at side + r * side_row (null for types without one)
    uint64_t main_row = 0, side_row = 0;
    uint32_t k = 0;                 // elements per row (ne0)
    uint64_t rows = 0;              // ne1 * ne2
    uint64_t rows_per_expert = 0;   // ne1
    const uint64_t *iq2_grid = nullptr;  // the IQ2_XXS codebook in device memory
};

// Activations of n tokens as a matmul reads them.
enum class ActKind : uint8_t { Float, Q8_0, Q8_K };
struct DevAct {
    ActKind kind = ActKind::Float;
    const float *x = nullptr;      // Float: row t at x + t * stride
    const int8_t *q = nullptr;     // Q8_0/Q8_K: codes, row t at q + t * stride (stride % 16 == 0)
    const float *d = nullptr;      // Q8_0: one scale per 32 codes; Q8_K: one per 256
    const int32_t *bsums = nullptr;  // Q8_K: sum of each 16 codes
    uint64_t stride = 0;           // elements (= code bytes) per token row
};

// A token position as kernels read it: the value, or (in recorded decode steps) the device
// word the backend writes each step's position to, so that a replayed graph uses the
// position of the step being replayed (device.cuh: load_pos).
struct DevPos {
    uint32_t value = 0;
    const uint32_t *dev = nullptr;
};

// ---- memory, weights (memory.cu) ----
void launch_fill(float *dst, float value, size_t n, cudaStream_t stream);
// Rewrites `blocks` consecutive file blocks of type t (staged in device memory) into the
// device layout: main + i * main_bytes, side + i * side_bytes.
void launch_repack(WType t, const uint8_t *file_blocks, uint64_t blocks, uint8_t *main, uint8_t *side,
                   cudaStream_t stream);

// ---- activation quantization (act_quant.cu) ----
// x: n rows of k floats (row stride x_stride); k % 32 == 0 (Q8_0) or % 256 == 0 (Q8_K).
// Codes are written with row stride `k`; scales with k/32 (Q8_0) or k/256 (Q8_K) per row,
// bsums with k/16 per row.
void launch_quantize_q8_0(const float *x, uint64_t x_stride, uint32_t n, uint32_t k, int8_t *q, float *d,
                          cudaStream_t stream);
void launch_quantize_q8_k(const float *x, uint64_t x_stride, uint32_t n, uint32_t k, int8_t *q, float *d,
                          int32_t *bsums, cudaStream_t stream);

// ---- decode matrix-vector products (matvec_quant.cu, matvec_float.cu) ----
// out[t * out_stride + r] = row r of W . activation of token t, for t < n (n <= 8) and every
// row r.  Row r reads the activation columns starting at (r / rows_per_group) * group_offset
// (grouped projections; rows_per_group = rows and group_offset = 0 otherwise).
//
// With hc.out_hc set, the product y of row r (plus hc.plus[t * rows + r] when given) is not
// written to `out` but mixed into the token's hyper-connection streams as HC post does
// (model.md §3.2): out_hc[t][a][r] = post[t][a] * y + sum_s comb[t][s][a] * res_hc[t][s][r].
struct HcPostArgs {
    float *out_hc = nullptr;
    const float *plus = nullptr;
    const float *res_hc = nullptr, *post = nullptr, *comb = nullptr;
    uint32_t n_hc = 0;
};
// Several weights of one type and row length times the same activation in one launch
// (n_seg > 0; no groups, no HC post): segment s is the weight whose rows start at main/side
// (w's main_row/side_row), with `rows` rows written to out (row stride out_stride per
// token, not MatvecArgs::out_stride).  The launcher fills block0 (first block of each
// segment); w.rows, out and out_stride of MatvecArgs are unused.
constexpr uint32_t kMatvecMaxSegs = 6;
struct MatvecSeg {
    const uint8_t *main = nullptr, *side = nullptr;
    uint64_t rows = 0;
    float *out = nullptr;
    uint64_t out_stride = 0;
    uint32_t block0 = 0;
};
struct MatvecArgs {
    DevWeight w;
    DevAct act;
    uint32_t n = 0;
    float *out = nullptr;
    uint64_t out_stride = 0;
    uint64_t rows_per_group = 0;
    uint64_t group_offset = 0;
    HcPostArgs hc;
    uint32_t n_seg = 0;
    MatvecSeg seg[kMatvecMaxSegs];
};
void launch_matvec_quant(const MatvecArgs &a, cudaStream_t stream);
void launch_matvec_float(const MatvecArgs &a, cudaStream_t stream);

// ---- batched products (mmq.cu: quantized weights, int8 tensor cores; mma_half.cu: float weights) ----
// Tokens of a batched product: either tokens 0..n-1 in order, or (MoE) groups of (token,
// expert) pairs: tile i covers pairs[tile_begin[i] .. + tile_count[i]) of expert
// tile_expert[i], activation row pair / act_div, output row pair.
struct GemmTokens {
    uint32_t n = 0;                      // plain: tokens; grouped: upper bound of tiles
    const int32_t *tile_expert = nullptr;  // grouped only (device arrays)
    const int32_t *tile_begin = nullptr;
    const int32_t *tile_count = nullptr;
    const int32_t *n_tiles = nullptr;
    const int32_t *pairs = nullptr;
    uint32_t act_div = 1;
};
constexpr uint32_t kGemmTileTokens = 64;  // tokens per tile of the batched products
constexpr uint32_t kGemmTileRows = 64;    // weight rows per tile of the batched products
// out[token * out_stride + r] = row r (of expert e when grouped) . activation row.
// mmq: act is Q8_0 (Q8_0 weights) or Q8_K (Q2_K/Q4_K/IQ2_XXS) quantized; results equal the
// CPU reference's per-block arithmetic in the same order.
void launch_mmq(const DevWeight &w, const DevAct &act, const GemmTokens &tok, float *out, uint64_t out_stride,
                cudaStream_t stream);
// The same products with 128-row tiles (mmq_v2.cu; bit-identical results), which launch_mmq
// takes for the types mmq_v2_handles accepts: Q8_0, Q2_K and IQ2_XXS, unless
// DSTAR_CUDA_MMQ_V2=0 is in the environment (read at every launch, for A/B comparisons).
bool mmq_v2_handles(WType t);
void launch_mmq_v2(const DevWeight &w, const DevAct &act, const GemmTokens &tok, float *out, uint64_t out_stride,
                   cudaStream_t stream);
// Float weights, act Float: F16/BF16 on tensor cores with the activation split into two parts
// of the weight's half type (near-f32 products, f32 sums), F32 with exact products summed in
// double.  `splits` > 1 cuts K into up to that many ranges computed by separate blocks into
// `partial` (gemm_float_partial_bytes), then added in range order (deterministic).
bool gemm_float_supported(const DevWeight &w, const DevAct &act);  // type, alignment, w.k
uint32_t gemm_float_step(WType t);  // K elements per step (splits are whole steps)
size_t gemm_float_partial_bytes(WType t, uint32_t n, uint64_t rows, uint32_t splits);
void launch_gemm_float(const DevWeight &w, const DevAct &act, uint32_t n, float *out, uint64_t out_stride,
                       uint32_t splits, void *partial, cudaStream_t stream);

// ---- norms and elementwise (norm.cu, elementwise.cu) ----
// With q8 (rms_norm_q8_supported), also the Q8_0 codes (rows x dim) and scales (rows x dim
// / 32) of the output, as launch_quantize_q8_0 would write them (a producer-side
// quantization: MatmulRunner::produce_q8_0).
bool rms_norm_q8_supported(const float *x, const float *out, const float *w, uint32_t dim);
void launch_rms_norm(float *out, const float *x, const float *w, uint32_t rows, uint32_t dim, float eps,
                     cudaStream_t stream, int8_t *q8 = nullptr, float *d8 = nullptr);
void launch_embed(const DevWeight &table, const int32_t *tokens, uint32_t n, uint32_t n_hc, float *x_hc,
                  cudaStream_t stream);
void launch_scale(float *x, float s, size_t n, cudaStream_t stream);
void launch_add(float *out, const float *a, const float *b, size_t n, cudaStream_t stream);
void launch_swiglu(float *out, const float *g, const float *u, size_t n, float clamp, cudaStream_t stream);

// A kernel choice that the environment can turn off for comparisons: false when `name` is
// set to 0 (read at each call, so tests can run both paths; cuda_fused_ops.cpp).
bool cuda_switch(const char *name);

// ---- RoPE (rope.cu) ----
// The per-layer constants of RoPE (model::RopeParams), with ds4's per-pair YaRN blend and
// magnitude factor evaluated on the host so that the device reproduces the CPU's floats.
constexpr uint32_t kMaxRopePairs = 64;
struct RopeTable {
    float theta_scale = 1.0f, freq_scale = 1.0f, mscale = 1.0f;
    uint32_t n_rot = 0;
    uint32_t ext = 0;                 // YaRN blend on
    float ramp_mix[kMaxRopePairs] = {};
};
void launch_rope(float *x, uint32_t n, uint32_t stride, uint32_t n_head, uint32_t head_dim, const RopeTable &rope,
                 DevPos pos0, bool inverse, cudaStream_t stream);
// RoPE of n rows of n_head heads (row stride n_head * head_dim) that also writes the rows'
// Q8_0 codes (n x n_head * head_dim) and scales (per 32), as launch_quantize_q8_0 would
// (a producer-side quantization: MatmulRunner::produce_q8_0).  Whole heads of a multiple of
// 32 values, at most 4096, x 16-byte aligned: rope_q8_supported.
bool rope_q8_supported(const float *x, uint32_t stride, uint32_t n_head, uint32_t head_dim, const RopeTable &rope);
void launch_rope_q8(float *x, uint32_t n, uint32_t n_head, uint32_t head_dim, const RopeTable &rope, DevPos pos0,
                    bool inverse, int8_t *q8, float *d8, cudaStream_t stream);
// Per-head RMS norm (optional weight w), RoPE at pos0 + t, and with fp8 the FP8 round trip
// of the first head_dim - n_rot values, in place on n rows of n_head heads (norm.cu).
void launch_head_norm_rope(float *x, const float *w, uint32_t n, uint32_t n_head, uint32_t head_dim, float eps,
                           const RopeTable &rope, DevPos pos0, bool fp8, cudaStream_t stream);

// ---- QAT simulations (qat.cu) ----
void launch_fp8_kv_round(float *x, uint32_t rows, uint32_t head_dim, uint32_t n_nope, cudaStream_t stream);
void launch_indexer_qat(float *x, uint32_t rows, cudaStream_t stream);  // 128-value rows

// ---- hyper-connections (hc.cu) ----
// From mix [n][2*n_hc + n_hc^2]: post, comb and out[t] = sum_h pre_h x_hc[t][h].
void launch_hc_split_sum(const float *mix, const float *scale, const float *base, const float *x_hc, uint32_t n,
                         uint32_t n_hc, uint32_t embd, uint32_t iters, float hc_eps, float *out, float *post,
                         float *comb, cudaStream_t stream);
void launch_hc_post(float *out_hc, const float *y, const float *res_hc, const float *post, const float *comb,
                    uint32_t n, uint32_t n_hc, uint32_t embd, cudaStream_t stream);
// HC pre and the sublayer norm of up to kHcFusedTokens tokens of 4 streams in one launch:
// the mix product of the unnormalised streams and their sum of squares by many blocks, then
// (in the last block of each token) the RMS scale, the Sinkhorn split, out = sum_h pre_h X_h
// and norm_out = rms_norm(out) * norm.  `fn` is the F16/BF16/F32 [n_hc * embd, 24] mix
// matrix; embd a multiple of 4 up to 4096, x_hc, norm, out and norm_out 16-byte aligned.
// partial: kHcFusedPartials floats per token; counters: kHcFusedTokens words, zero before
// the launch and left zero after it.  With q8 (embd a multiple of 32), also norm_out's Q8_0
// codes (n x embd) and scales (n x embd / 32), as launch_quantize_q8_0 would write them.
constexpr uint32_t kHcFusedTokens = 8;
constexpr uint32_t kHcFusedBlocks = 64;  // most blocks per token (one per 256 columns)
constexpr uint32_t kHcFusedPartials = kHcFusedBlocks * 32;
bool hc_pre_fused_supported(const DevWeight &fn, uint32_t n, uint32_t n_hc, uint32_t embd, const float *x_hc,
                            const float *norm, const float *out, const float *norm_out);
void launch_hc_pre_norm_fused(const DevWeight &fn, const float *scale, const float *base, const float *norm,
                              const float *x_hc, uint32_t n, uint32_t n_hc, uint32_t embd, uint32_t iters,
                              float rms_eps, float hc_eps, float *out, float *norm_out, float *post, float *comb,
                              float *partial, uint32_t *counters, cudaStream_t stream, int8_t *q8 = nullptr,
                              float *d8 = nullptr);
// The mix product of a batch with the RMS norm folded in (hc_mix.cu): mix[t][r] = (row r of
// fn . x[t]) * rsqrt(mean(x[t]^2) + rms_eps) for t < n, x: n rows of fn.k floats.  fn: the
// F16/BF16/F32 [k, 4 or 24] HC matrix (hc_head's or hc_pre's with 4 streams); `partial`:
// hc_mix_partial_floats(fn, n) floats of scratch.  Deterministic (fixed summation order).
bool hc_mix_supported(const DevWeight &fn, const float *x);
size_t hc_mix_partial_floats(const DevWeight &fn, uint32_t n);
void launch_hc_mix(const DevWeight &fn, const float *x, uint32_t n, float rms_eps, float *partial, float *mix,
                   cudaStream_t stream);
// From mix [n][n_hc]: out[t] = sum_h (sigma(mix*scale + base) + eps) x_hc[t][h].
void launch_hc_head_sum(const float *mix, const float *scale, const float *base, const float *x_hc, uint32_t n,
                        uint32_t n_hc, uint32_t embd, float hc_eps, float *out, cudaStream_t stream);

// ---- attention (compressor.cu, indexer.cu, attention.cu, attention_mma.cu) ----
// One streaming compressor (model.md §3.4) over a batch of n tokens at pos0..
struct CompressorArgs {
    float *state_kv = nullptr, *state_score = nullptr;  // frontier [coff*ratio][width]
    const float *kv = nullptr, *score = nullptr;        // batch [n][width]
    const float *ape = nullptr;                         // [ratio][width]
    const float *norm = nullptr;                        // [head_dim]
    float *rows = nullptr;                              // compressed cache [cap][head_dim]
    uint32_t head_dim = 0, ratio = 0, n = 0;
    DevPos pos0;
    RopeTable rope;
    bool indexer = false;  // Hadamard + FP4 instead of FP8
    bool qat = true;
    float eps = 1e-6f;
};
// Emits every compressed row whose window closes inside the batch (reads the frontier as it
// was before the batch).  The grid covers the most rows n tokens can close, whatever the
// position; blocks past the batch's rows do nothing.
void launch_compressor_emit(const CompressorArgs &a, cudaStream_t stream);
// Advances the frontier to the state after the batch (run after the emits).
void launch_compressor_advance(const CompressorArgs &a, cudaStream_t stream);
// Stores the batch's raw rows (f16-rounded when qat) into the ring: rows of the last
// min(n, raw_cap) tokens.
void launch_raw_store(float *raw, uint32_t raw_cap, const float *kv, uint32_t n, DevPos pos0, uint32_t head_dim,
                      bool qat, cudaStream_t stream);

// Indexer scores of tokens t in [t0, t0 + nt): score[(t - t0) * score_stride + c] for
// c < (pos0 + t + 1) / 4.
// The grid covers rows_bound rows (>= the rows any token of the launch sees).
struct IndexerArgs {
    const float *idx_rows = nullptr;  // [cap][idx_head_dim]
    const float *q = nullptr;         // [n][idx_head * idx_head_dim]
    const float *w = nullptr;         // [n][idx_head]
    uint32_t idx_head = 0, idx_head_dim = 0, ratio = 4;
    DevPos pos0;
};
void launch_indexer_scores(const IndexerArgs &a, uint32_t t0, uint32_t nt, uint32_t rows_bound, float *scores,
                           uint64_t score_stride, cudaStream_t stream);
// Top-k of each token's scores (ties: the lower row index), as ascending row lists:
// sel[(t - t0) * top_k + i], i < top_k.  Needs count > top_k rows for every token.
void launch_indexer_topk(const float *scores, uint64_t score_stride, uint32_t t0, uint32_t nt, DevPos pos0,
                         uint32_t ratio, uint32_t top_k, int32_t *sel, cudaStream_t stream);

struct AttentionArgs {
    const float *q = nullptr;      // [n][n_head * head_dim]
    const float *kv = nullptr;     // [n][head_dim] (this batch's raw rows, not yet f16-rounded)
    const float *raw = nullptr;    // ring [raw_cap][head_dim] holding positions < pos0
    const float *comp = nullptr;   // compressed rows [cap][head_dim] (ratio != 0)
    const float *sinks = nullptr;  // [n_head]
    const int32_t *sel = nullptr;  // indexer row lists for tokens >= sel_t0 ([.][sel_stride])
    const int32_t *sel_count = nullptr;  // per token (from sel_t0), or null: sel_stride rows each
    uint32_t sel_t0 = 0, sel_stride = 0;
    float *out = nullptr;          // [n][n_head * head_dim]
    float *partial = nullptr;      // split scratch: [splits][n][n_head][head_dim + 2]
    uint32_t n = 0, n_head = 0, head_dim = 0, window = 0, raw_cap = 0, ratio = 0;
    DevPos pos0;
    uint32_t splits = 1;
    bool qat = true;
};
// Batches that the tensor-core kernel (attention_mma.cu) takes whole (splits must be 1):
// qat (f16 rows), at least 64 tokens, up to 64 heads of a multiple of 32 up to 512 values,
// a GPU with enough shared memory, and DSTAR_CUDA_ATTN_MMA not 0.
bool attention_mma_eligible(uint32_t n, uint32_t n_head, uint32_t head_dim, bool qat);
void launch_attention_mma(const AttentionArgs &a, cudaStream_t stream);
// Runs the tensor-core kernel when eligible and a.splits == 1, else the CUDA-core one.
void launch_attention(const AttentionArgs &a, cudaStream_t stream);

// ---- router and routed experts (moe_route.cu, moe_experts.cu) ----
void launch_route(const float *logits, const float *bias, const int32_t *tid2eid, const int32_t *tokens, uint32_t n,
                  uint32_t n_expert, uint32_t k, float weights_scale, int32_t *sel, float *weights,
                  cudaStream_t stream);
// Decode path (any n; each (token, expert) pair reads its expert's rows; one warp computes a
// gate row and the matching up row with all their loads in flight; IQ2_XXS experts of rows
// up to 4096 wide: a persistent-style kernel, a warp taking rows with a stride and loading
// the next row while it computes the current):
// mid[p][i] = silu(min(gate_e . x_t, c)) * clamp(up_e . x_t) * weights[p], p = t*k + j.
// A plain SwiGLU feed-forward is the case k = 1 with sel = {0} and weights = {1}.
void launch_moe_gate_up(const DevWeight &gate, const DevWeight &up, const DevAct &x, const int32_t *sel,
                        const float *weights, uint32_t n, uint32_t k, float clamp, float *mid, cudaStream_t stream);
// out[t] = sum over j in order of down_{e_j} . mid[t*k + j] (one warp per output row, the k
// experts' loads in flight together).
void launch_moe_down(const DevWeight &down, const DevAct &mid, const int32_t *sel, uint32_t n, uint32_t k,
                     float *out, uint64_t out_stride, cudaStream_t stream);
// The same from the f32 rows mid [n*k][down.k] (16-byte aligned), quantized to Q8_K inside
// the kernel exactly as launch_quantize_q8_k does (no separate quantization launch), for
// Q2_K experts with rows up to 2048 wide and k <= 6 (moe_down_f32_supported): the token's k
// activation rows in shared memory, a warp taking output rows with a stride and loading the
// next row's k expert rows while it computes the current.
bool moe_down_f32_supported(const DevWeight &down, uint32_t k, const float *mid);
void launch_moe_down_f32(const DevWeight &down, const float *mid, const int32_t *sel, uint32_t n, uint32_t k,
                         float *out, uint64_t out_stride, cudaStream_t stream);
// Prefill path: pairs grouped by expert (stable), tiles of kGemmTileTokens pairs.
// Arrays: pairs [n*k], tile_* [max_tiles], n_tiles [1]; max_tiles = n*k/64 + 1 + n_expert.
void launch_moe_group(const int32_t *sel, uint32_t n, uint32_t k, uint32_t n_expert, int32_t *pairs,
                      int32_t *tile_expert, int32_t *tile_begin, int32_t *tile_count, int32_t *n_tiles,
                      cudaStream_t stream);
// mid[p][i] = silu(min(g[p][i], c)) * clamp(u[p][i]) * weights[p] (zero for a pair whose
// expert is out of range).
void launch_moe_swiglu(const float *g, const float *u, const int32_t *sel, const float *weights, uint32_t pairs,
                       uint32_t ff, uint32_t n_expert, float clamp, float *mid, cudaStream_t stream);
// out[t][o] = sum over j in order of part[t*k + j][o] (pairs with an invalid expert skipped).
void launch_moe_reduce(const float *part, const int32_t *sel, uint32_t n, uint32_t k, uint32_t d_out,
                       uint32_t n_expert, float *out, cudaStream_t stream);

}  // namespace dstar::backend::cuda
