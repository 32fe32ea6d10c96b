// The CPU reference backend: each Backend op forwards to one function of backend/cpu.
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "backend/backend.h"
#include "backend/cpu/attention.h"
#include "backend/cpu/elementwise.h"
#include "backend/cpu/hc.h"
#include "backend/cpu/matmul.h"
#include "backend/cpu/moe.h"
#include "backend/cpu/qat.h"
#include "common/error.h"
#include "common/thread_pool.h"
#include "model/weights.h"

namespace dstar::backend {

namespace {

class CpuBackend final : public Backend {
public:
    explicit CpuBackend(int threads) : pool_(threads) {}
    ~CpuBackend() override {
        for (auto &kv : owned_) std::free(kv.first);
    }

    std::string name() const override { return "cpu (" + std::to_string(pool_.size()) + " threads)"; }

    float *alloc(size_t n) override { return static_cast<float *>(alloc_bytes(n * sizeof(float))); }
    int32_t *alloc_i32(size_t n) override { return static_cast<int32_t *>(alloc_bytes(n * sizeof(int32_t))); }
    void release(void *p) override {
        if (!p) return;
        std::lock_guard<std::mutex> lock(mu_);
        auto it = owned_.find(p);
        if (it == owned_.end()) return;
        std::free(p);
        owned_.erase(it);
    }
    void upload(float *dst, const float *src, size_t n) override { std::memcpy(dst, src, n * sizeof(float)); }
    void download(float *dst, const float *src, size_t n) override { std::memcpy(dst, src, n * sizeof(float)); }
    void fill(float *dst, float v, size_t n) override {
        for (size_t i = 0; i < n; i++) dst[i] = v;
    }
    void copy(float *dst, const float *src, size_t n) override { std::memmove(dst, src, n * sizeof(float)); }

    Weight bind(const model::WeightTensor &t, bool as_f32_vector) override {
        Weight w = describe_weight(t);
        w.data = t.data;
        if (as_f32_vector && t.type != gguf::TensorType::F32) {
            // Small vectors are read elementwise by ops: keep an f32 copy.
            std::vector<float> v = model::vector_values(t);
            float *p = alloc(v.size());
            std::memcpy(p, v.data(), v.size() * sizeof(float));
            w.type = gguf::TensorType::F32;
            w.row_bytes = w.ne0 * sizeof(float);
            w.data = p;
        }
        return w;
    }

    void embed(const Weight &te, const int32_t *tokens, uint32_t n, uint32_t n_hc, float *x_hc) override {
        cpu::embed(pool_, te, tokens, n, n_hc, x_hc);
    }
    void rms_norm(float *out, const float *x, const Weight *w, uint32_t rows, uint32_t dim, float eps) override {
        cpu::rms_norm(pool_, out, x, w ? static_cast<const float *>(w->data) : nullptr, rows, dim, eps);
    }
    void matmul(float *out, const Weight &w, const float *x, uint32_t n) override { cpu::matmul(pool_, w, x, n, out); }
    void matmul_grouped(float *out, const Weight &w, const float *x, uint32_t n, uint32_t groups,
                        uint32_t rank) override {
        const uint64_t gdim = w.ne0;
        for (uint32_t g = 0; g < groups; g++)
            cpu::matmul_rows(pool_, w, static_cast<uint64_t>(g) * rank, rank, x + g * gdim, gdim * groups, n,
                             out + static_cast<uint64_t>(g) * rank, static_cast<uint64_t>(groups) * rank);
    }
    void hc_pre(const HcWeights &hc, const float *x_hc, uint32_t n, uint32_t n_hc, uint32_t embd, uint32_t iters,
                float rms_eps, float hc_eps, float *out, float *post, float *comb) override {
        cpu::hc_pre(pool_, hc, x_hc, n, n_hc, embd, iters, rms_eps, hc_eps, out, post, comb);
    }
    void hc_post(float *out_hc, const float *y, const float *res_hc, const float *post, const float *comb, uint32_t n,
                 uint32_t n_hc, uint32_t embd) override {
        cpu::hc_post(pool_, out_hc, y, res_hc, post, comb, n, n_hc, embd);
    }
    void hc_head(const Weight &fn, const Weight &scale, const Weight &base, const float *x_hc, uint32_t n,
                 uint32_t n_hc, uint32_t embd, float rms_eps, float hc_eps, float *out) override {
        cpu::hc_head(pool_, fn, scale, base, x_hc, n, n_hc, embd, rms_eps, hc_eps, out);
    }
    void rope(float *x, uint32_t n, uint32_t stride, uint32_t n_head, uint32_t head_dim, const model::RopeParams &p,
              uint32_t pos0, bool inverse) override {
        pool_.parallel_for(n, [&](size_t b, size_t e) {
            for (size_t t = b; t < e; t++)
                model::rope_tail(x + t * stride, n_head, head_dim, p, pos0 + static_cast<uint32_t>(t), inverse);
        });
    }
    void fp8_kv_round(float *x, uint32_t rows, uint32_t head_dim, uint32_t n_rot) override {
        for (uint32_t r = 0; r < rows; r++) cpu::fp8_round_row(x + static_cast<uint64_t>(r) * head_dim, head_dim - n_rot);
    }
    void indexer_qat(float *x, uint32_t rows, uint32_t dim) override {
        if (dim != 128) fail("indexer QAT needs 128-value rows (got %u)", dim);
        pool_.parallel_for(rows, [&](size_t b, size_t e) {
            for (size_t r = b; r < e; r++) cpu::indexer_qat_row(x + r * dim);
        }, 16);
    }
    void scale(float *x, float s, size_t n) override {
        for (size_t i = 0; i < n; i++) x[i] *= s;
    }
    void add(float *out, const float *a, const float *b, size_t n) override {
        for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
    }
    void swiglu(float *out, const float *g, const float *u, size_t n, float clamp) override {
        cpu::swiglu(out, g, u, n, clamp);
    }
    void attention(LayerState &st, const AttentionWeights &w, const AttentionBatch &b, const Numerics &num) override {
        cpu::attention(pool_, st, w, b, num);
    }
    void route(const float *logits, const Weight *bias, const Weight *tid2eid, const int32_t *tokens, uint32_t n,
               uint32_t n_expert, uint32_t k, float weights_scale, int32_t *sel, float *weights) override {
        cpu::route(logits, bias, tid2eid, tokens, n, n_expert, k, weights_scale, sel, weights);
    }
    void moe(float *out, const Weight &gate, const Weight &up, const Weight &down, const float *x, const int32_t *sel,
             const float *weights, uint32_t n, uint32_t k, float clamp) override {
        cpu::moe(pool_, out, gate, up, down, x, sel, weights, n, k, clamp);
    }
    void sync() override {}

private:
    void *alloc_bytes(size_t bytes) {
        void *p = std::calloc(bytes ? bytes : 1, 1);
        if (!p) fail("out of memory allocating %zu bytes", bytes);
        std::lock_guard<std::mutex> lock(mu_);
        owned_[p] = bytes;
        return p;
    }

    ThreadPool pool_;
    std::mutex mu_;
    std::unordered_map<void *, size_t> owned_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int threads) { return std::make_unique<CpuBackend>(threads); }

}  // namespace dstar::backend
