// Matrix products on the device: prepares the activations the weight type needs (int8
// codes for quantized weights, as the CPU reference quantizes them) and picks the kernel:
// decode matvec for up to 8 tokens, batched products above (int8 tensor cores for quantized
// weights, f16/bf16 tensor cores with split activations for half weights, FP64-summed tiles
// for F32 weights; float products with few tiles split K).
#pragma once

#include <cuda_runtime_api.h>

#include "backend/cuda/kernels.h"
#include "backend/cuda/scratch.h"

namespace dstar::backend::cuda {

// Activations quantized for one weight type, in scratch memory owned by this object.
class ActivationBuffer {
public:
    // n rows of `cols` floats (row stride x_stride) prepared for weights of type t: for
    // quantized types the codes of the whole rows (cols a multiple of the type's block).
    DevAct prepare(WType t, const float *x, uint64_t x_stride, uint32_t cols, uint32_t n, cudaStream_t stream);

private:
    DeviceScratch q_, d_, bsums_;
};

// The activation view of columns [col0, ...) of prepared activations (grouped products).
DevAct offset_act(const DevAct &a, uint64_t col0);
// Rows [row0, row0 + rows) of a weight as a weight of its own.
DevWeight slice_rows(const DevWeight &w, uint64_t row0, uint64_t rows);

class MatmulRunner {
public:
    // `sm_count`: multiprocessors of the GPU.  Batched tensor-core products are used when
    // their tile grid fills at least half of them, and for quantized weights also when the
    // batch fills a whole token tile (kGemmTileTokens): a matvec pass re-reads the whole
    // weight for every 8 tokens, so from 64 tokens on even a few int8 tiles (256-element K
    // steps) are faster (a 512-row Q8_0 projection of 256 tokens took 32 matvec launches of
    // ~18 us).  Smaller quantized problems run as matvec passes over groups of 8 tokens.
    // Float weights (the router: 256 rows of 4096) take the batched kernels from 9 tokens
    // on, with K split over several blocks when the tiles alone would not fill the GPU.
    MatmulRunner(cudaStream_t stream, int sm_count) : stream_(stream), sm_count_(sm_count > 0 ? sm_count : 1) {}

    // out[t * out_stride + r] = row r of w . x[t] for t < n (x: n rows of w.k floats, stride
    // x_stride).
    void matmul(const DevWeight &w, const float *x, uint64_t x_stride, uint32_t n, float *out, uint64_t out_stride);
    // Grouped low-rank projection (model.md §3.3 step 13): group g of x (columns
    // [g*w.k, (g+1)*w.k)) times rows [g*rank, (g+1)*rank) of w; out row length groups*rank.
    void matmul_grouped(const DevWeight &w, const float *x, uint32_t n, uint32_t groups, uint32_t rank, float *out);
    // Decode products (n <= kMatvecTokens) whose rows go through the HC post epilogue
    // (kernels.h, HcPostArgs); x: n rows of w.k floats.
    static constexpr uint32_t kMatvecTokens = 8;
    void matmul_hc_post(const DevWeight &w, const float *x, uint32_t n, const HcPostArgs &hc);
    // Decode products of one input with several weights in one launch (kernels.h,
    // MatvecSeg): out[i][t * ws[i].rows + r] = row r of ws[i] . x[t] for t < n <=
    // kMatvecTokens, x: n rows of ws[0].k floats.  The weights must be alike
    // (segments_alike), count <= kMatvecMaxSegs.
    static bool segments_alike(const DevWeight &a, const DevWeight &b);
    void matmul_segments(const DevWeight *ws, float *const *outs, uint32_t count, const float *x, uint32_t n);
    // The activations of n rows of `cols` floats (stride cols) as products with weights of
    // type t read them: prepared for the previous product when that had the same input and
    // forget() was not called since, else prepared now.
    DevAct activation(WType t, const float *x, uint64_t x_stride, uint32_t cols, uint32_t n);
    // Producer-side quantization (decode norms): buffers for the Q8_0 codes (n x cols) and
    // scales (n x cols / 32) of n rows of `cols` floats at x (stride cols) that the caller's
    // next kernel writes together with x; from then on Q8_0 products of x read them instead
    // of quantizing x again, until forget() or a write over x (forget_overlap).  Call it
    // after the op's forget(): the producer rewrites x.  These buffers are separate from the
    // ones products prepare, so the codes outlive other products' inputs (a norm read by
    // the router's float product, then by the shared expert's Q8_0 one).
    struct Q8Out {
        int8_t *q = nullptr;
        float *d = nullptr;
    };
    Q8Out produce_q8_0(const float *x, uint32_t cols, uint32_t n);
    // Drops the prepared activations: called before any op that may write device memory
    // other than a product's output.
    void forget() {
        prepared_.valid = false;
        produced_.valid = false;
    }
    // Drops them if [p, p + bytes) overlaps the prepared input (a product's output).
    void forget_overlap(const void *p, uint64_t bytes);

private:
    void run_prepared(const DevWeight &w, const DevAct &act, uint32_t n, float *out, uint64_t out_stride,
                      uint64_t rows_per_group, uint64_t group_offset);
    bool batched(uint64_t tiles) const { return 2 * tiles >= static_cast<uint64_t>(sm_count_); }
    // K splits of a batched float product of `tiles` (row x token) tiles: enough blocks for
    // ~4 per multiprocessor, each split at least kMinSplitSteps K steps (fixed for a shape and
    // GPU, so results are reproducible).
    static constexpr uint32_t kMinSplitSteps = 8, kMaxSplits = 64;
    uint32_t float_splits(uint64_t tiles, uint32_t k, WType t) const;
    cudaStream_t stream_;
    int sm_count_;
    ActivationBuffer act_;
    DeviceScratch partial_;  // split-K slices of batched float products
    // The input act_ holds codes of (quantized kinds only).
    struct Prepared {
        bool valid = false;
        const float *x = nullptr;
        uint64_t x_stride = 0;
        uint32_t cols = 0, n = 0;
        ActKind kind = ActKind::Float;
        DevAct act;
        bool matches(const float *x2, uint64_t stride2, uint32_t cols2, uint32_t n2, ActKind kind2) const {
            return valid && x == x2 && x_stride == stride2 && cols == cols2 && n == n2 && kind == kind2;
        }
        bool overlaps(const void *p, uint64_t bytes) const;
    } prepared_, produced_;
    DeviceScratch produced_q_, produced_d_;
};

}  // namespace dstar::backend::cuda
